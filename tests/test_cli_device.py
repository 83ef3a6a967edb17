"""``--device``: one declaration (``cli.options.DEVICE_OPTION``) on generate, evaluate and every analysis command.

The commands are read off the typer app, so a new analysis command without ``--device`` fails here;
the commands that run no network of their own are named below.
"""

from __future__ import annotations

import pytest
import torch
import typer.main
from typer.testing import CliRunner

from ganatomy.cli import app
from ganatomy.cli.options import DEVICE_HELP
from ganatomy.errors import OptionsError

pytestmark = pytest.mark.usefixtures("one_thread")

# Top-level commands (and groups) outside issue 16's "generate, evaluate and every analysis command".
WITHOUT_DEVICE = {"world", "dataset", "train", "bench", "demo", "convert", "report", "oracle", "zoo"}


def _commands(group=None, path: tuple[str, ...] = ()):
    """(words, command) of every command that runs: the leaves, and groups that run by themselves (invert)."""
    group = group or typer.main.get_command(app)
    for name, command in group.commands.items():
        if not path and name in WITHOUT_DEVICE:
            continue
        words = (*path, name)
        if hasattr(command, "commands"):
            if any(p.name != "help" for p in command.params):
                yield words, command
            yield from _commands(command, words)
        else:
            yield words, command


COMMANDS = list(_commands())
IDS = [" ".join(words) for words, _ in COMMANDS]


def test_the_command_list_reaches_every_group():
    found = {words[0] for words, _ in COMMANDS}
    assert found >= {"generate", "evaluate", "explore", "directions", "invert", "regress", "segment", "genes"}
    assert ("segment", "m2i", "generate") in {words for words, _ in COMMANDS} and ("invert",) in dict(COMMANDS)


@pytest.mark.parametrize("words, command", COMMANDS, ids=IDS)
def test_every_command_has_the_one_device_option(words, command):
    (param,) = [p for p in command.params if "--device" in p.opts]
    assert param.default == "auto" and param.help == DEVICE_HELP
    result = CliRunner().invoke(app, [*words, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0 and "--device" in result.output, result.output


def _required_args(command, value: str) -> list[str]:
    """Stand-ins for the required parameters (all of them text or paths); two for a variadic argument."""
    args: list[str] = []
    for p in command.params:
        if not p.required:
            continue
        values = [value] * (2 if p.nargs == -1 else 1)
        args += values if p.param_type_name == "argument" else [p.opts[0], values[0]]
    return args


@pytest.mark.skipif(torch.cuda.is_available(), reason="there is a GPU here: --device cuda would run")
@pytest.mark.parametrize("words, command", COMMANDS, ids=IDS)
def test_device_cuda_without_a_gpu_is_one_line_and_writes_nothing(words, command, tmp_path, monkeypatch):
    from ganatomy.bench.faults import run_cli

    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)  # default output folders (runs/...) are relative
    outcome = run_cli([*words, *_required_args(command, str(work / "x=1")), "--device", "cuda"])
    lines = outcome.stderr.strip().splitlines()
    assert outcome.code == 2 and outcome.escaped is None, (outcome.stderr, outcome.escaped)
    assert len(lines) == 1 and lines[0].startswith("error: --device cuda: torch sees no GPU"), outcome.stderr
    assert list(work.iterdir()) == []  # resolved before any output folder is made


def test_device_cpu_runs_directions_fit_and_show_end_to_end(tmp_path):
    from ganatomy.zoo import ZOO

    if not ZOO["digiface-dcgan64"].installed():
        pytest.skip("digiface-dcgan64 is not installed")
    runner = CliRunner()
    fit = ["directions", "fit", "--network", "digiface-dcgan64", "--method", "sefa", "--k", "2"]
    result = runner.invoke(app, [*fit, "--outdir", str(tmp_path), "--no-progress", "--device", "cpu"])
    assert result.exit_code == 0, (result.output, result.exception)
    (run,) = tmp_path.glob("00000-directions-sefa-*")
    show = ["directions", "show", str(run), "--seeds", "0", "--shifts", "2", "--indices", "0", "--device", "cpu"]
    result = runner.invoke(app, show)
    assert result.exit_code == 0, (result.output, result.exception)
    assert (run / "show" / "direction-000.png").is_file() and (run / "show" / "direction-000.gif").is_file()


def test_the_inversion_options_before_a_subcommand_are_refused_not_ignored(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["invert", "--device", "cpu", "train", "--network", "x", "--outdir", "out"])
    assert isinstance(result.exception, OptionsError)
    assert str(result.exception) == "--device: put the options of 'train' after it"
    assert not (tmp_path / "out").exists()
