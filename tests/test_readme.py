"""The README's promises: its Python example runs, its commands exist."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


@pytest.mark.skipif(
    importlib.util.find_spec("gan_face_generate") is None,
    reason="the example uses digiface-dcgan64 (pip install --no-deps gan-face-generate==1.1.1)",
)
def test_the_python_example_runs(capsys):
    blocks = _python_blocks()
    assert blocks, "README.md has no Python example"
    for code in blocks:
        exec(compile(code, str(README), "exec"), {})
    assert "dcgan" in capsys.readouterr().out


def test_every_command_in_the_commands_table_exists():
    from typer.testing import CliRunner

    from ganatomy.cli import app

    table = README.read_text().split("## Commands", 1)[1].split("\n## ", 1)[0]
    commands = set(re.findall(r"`ganatomy ([a-z-]+)", table))
    assert {"world", "train", "generate", "evaluate", "bench", "zoo", "convert", "directions"} <= commands
    for command in sorted(commands):
        result = CliRunner().invoke(app, [command, "--help"])
        assert result.exit_code == 0, f"ganatomy {command} --help failed: {result.output}"
