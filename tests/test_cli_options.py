"""CLI flags are tied to the options dataclasses: one default, and a clear order of precedence."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from ganatomy.cli import app
from ganatomy.cli.options import check_flag_keys, default_of
from ganatomy.train.options import TrainOptions


def _train_params() -> dict:
    import typer.main

    command = typer.main.get_command(app).commands["train"]
    return {p.name: p for p in command.params}


def test_every_train_flag_is_an_option_with_the_dataclass_default():
    from ganatomy.cli.train import _FLAG_KEYS

    check_flag_keys(TrainOptions, _FLAG_KEYS)
    params = _train_params()
    for flag, dotted in _FLAG_KEYS.items():
        shown = params[flag].default
        declared = default_of(TrainOptions, dotted)
        if flag == "outdir":
            shown = str(shown)
        if flag == "metrics":
            continue  # a comma-separated string on the command line, a list in the tree
        assert shown == declared, f"--{flag} shows {shown!r} but TrainOptions.{dotted} is {declared!r}"


def test_check_flag_keys_catches_a_stale_flag():
    with pytest.raises(AssertionError, match="loss.no_such_option"):
        check_flag_keys(TrainOptions, {"gamma": "loss.no_such_option"})


def _dry_run(*args: str) -> dict:
    result = CliRunner().invoke(app, ["train", "--dry-run", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_flags_override_the_options_file_and_set_overrides_both(tmp_path):
    base = _dry_run("--kimg", "7", "--batch", "16")
    path = tmp_path / "options.json"
    path.write_text(json.dumps(base))
    from_file = _dry_run("--options", str(path))
    assert from_file["kimg"] == 7 and from_file["batch"] == 16
    flags_win = _dry_run("--options", str(path), "--kimg", "9")
    assert flags_win["kimg"] == 9 and flags_win["batch"] == 16  # the file's other values stay
    set_wins = _dry_run("--options", str(path), "--kimg", "9", "--set", "kimg=11", "--set", "loss.mixing_prob=0")
    assert set_wins["kimg"] == 11 and set_wins["loss"]["mixing_prob"] == 0.0


@pytest.mark.parametrize(
    "assignment, message",
    [
        ("loss.no_such=1", "unknown option loss.no_such"),
        ("kimg", "expected KEY=VALUE"),
        ("batch=many", "batch"),
    ],
)
def test_bad_set_assignments_are_one_line_errors(assignment, message):
    result = CliRunner().invoke(app, ["train", "--dry-run", "--set", assignment])
    assert result.exit_code != 0
    text = str(result.exception) if result.exception else result.output
    assert message in text and "\n" not in text.strip()
