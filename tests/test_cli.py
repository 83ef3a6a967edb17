"""The command line: generate, bench --json, errors as one line, --help everywhere."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganatomy.nets.presets import get_preset
from ganatomy.train.state import save_network_snapshot

BIN = Path(sys.executable).parent


def _ganatomy(*args: str, check: bool = False, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "ganatomy"), *args],
        capture_output=True,
        text=True,
        check=check,
        env={"OMP_NUM_THREADS": "1", "PATH": str(BIN), **(env_extra or {})},
    )


@pytest.fixture(scope="module")
def tiny_snapshot(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    preset = get_preset("cpu32")
    G = preset.build_generator(channel_base=256, channel_max=32)
    D = preset.build_discriminator(channel_base=256, channel_max=32)
    path = tmp_path_factory.mktemp("net") / "network-snapshot-000000.safetensors"
    save_network_snapshot(path, G, D, {"options": {"data": "world:32"}})
    return path


def test_generate_is_deterministic_per_seed(tiny_snapshot, tmp_path):
    _ganatomy(
        "generate",
        "--network",
        str(tiny_snapshot),
        "--seeds",
        "0-3",
        "--trunc",
        "0.7",
        "--outdir",
        str(tmp_path / "a"),
        check=True,
    )
    _ganatomy(
        "generate",
        "--network",
        str(tiny_snapshot),
        "--seeds",
        "2,3",
        "--trunc",
        "0.7",
        "--outdir",
        str(tmp_path / "b"),
        check=True,
    )
    a = np.asarray(Image.open(tmp_path / "a" / "seed0002.png"))
    b = np.asarray(Image.open(tmp_path / "b" / "seed0002.png"))
    assert a.shape == (32, 32, 3) and np.array_equal(a, b)  # a seed's image does not depend on its batch
    assert not np.array_equal(a, np.asarray(Image.open(tmp_path / "a" / "seed0003.png")))
    assert (tmp_path / "a" / "grid.png").exists()


def test_truncation_zero_gives_the_average_image(tiny_snapshot, tmp_path):
    _ganatomy(
        "generate",
        "--network",
        str(tiny_snapshot),
        "--seeds",
        "0-1",
        "--trunc",
        "0",
        "--outdir",
        str(tmp_path),
        check=True,
    )
    assert np.array_equal(
        np.asarray(Image.open(tmp_path / "seed0000.png")), np.asarray(Image.open(tmp_path / "seed0001.png"))
    )


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["generate", "--network", "nope.safetensors", "--outdir", "x"], "nope.safetensors"),
        (["generate", "--network", "{snap}", "--seeds", "a-b", "--outdir", "x"], "--seeds"),
        (["generate", "--network", "{snap}", "--class", "3", "--outdir", "x"], "--class 3"),
        (["bench", "nosuch"], "unknown benchmark"),
    ],
)
def test_bad_input_is_one_line(tiny_snapshot, tmp_path, args, fragment):
    args = [
        a.replace("{snap}", str(tiny_snapshot)).replace("x", str(tmp_path / "out")) if a in ("{snap}", "x") else a
        for a in args
    ]
    proc = _ganatomy(*args)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], proc.stderr
    assert not (tmp_path / "out").exists()


def test_unknown_option_is_rejected():
    proc = _ganatomy("train", "--kimgs", "3")
    assert proc.returncode == 2 and "--kimgs" in proc.stderr


@pytest.mark.parametrize("command", ["world", "train", "generate", "bench", "demo", "evaluate", "convert", "dataset"])
def test_help_lists_every_option_of_the_command(command):
    """-h (and --help) show every option the command declares, at 80 columns."""
    import typer.main

    from ganatomy.cli import app

    params = typer.main.get_command(app).commands[command].params
    flags = {opt for p in params for opt in p.opts if opt.startswith("--") and opt != "--help"}
    proc = _ganatomy(command, "-h", check=True, env_extra={"COLUMNS": "80"})
    missing = sorted(f for f in flags if f not in proc.stdout)
    assert flags and not missing, f"ganatomy {command} -h does not show {missing}"


def test_bench_json_prints_one_object(tmp_path):
    proc = _ganatomy("bench", "world", "--quick", "--json", "--results", str(tmp_path / "r.md"), check=True)
    record = json.loads(proc.stdout)
    assert record["img_per_s"] > 0
    assert not (tmp_path / "r.md").exists()  # quick runs are not recorded


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["generate", "--network", "{snap}", "--batch", "0", "--outdir", "{out}"], "--batch 0: must be at least 1"),
        (["generate", "--network", "{snap}", "--seeds", str(2**64 + 1), "--outdir", "{out}"], "outside 0..2^63-1"),
        (
            ["generate", "--network", "{snap}", "--seeds", "0-9999999999", "--outdir", "{out}"],
            "10000000000 seeds, at most 100000",
        ),
        (["generate", "--network", "{snap}", "--trunc", "nan", "--outdir", "{out}"], "--trunc nan: must be a finite"),
        (["generate", "--network", "{snap}", "--outdir", "{file}"], "is a file"),
        (["world", "--export", "{file}/set.zip", "--count", "2"], "which is a file"),
        (["world", "--outdir", "{file}/grids"], "which is a file"),
        (["world", "--outdir", "{out}", "--seeds", "0-99999999999"], "at most 100000"),
        (["world", "--outdir", "{out}", "--res", "5"], "--res: 5 is not supported"),
    ],
)
def test_bad_values_are_one_line_in_process(tiny_snapshot, tmp_path, args, fragment):
    from ganatomy.bench.faults import run_cli

    (tmp_path / "file").write_text("not a folder")
    paths = {"{snap}": str(tiny_snapshot), "{out}": str(tmp_path / "out"), "{file}": str(tmp_path / "file")}
    for key, value in paths.items():
        args = [a.replace(key, value) for a in args]
    outcome = run_cli(args)
    assert outcome.clean_refusal and fragment in outcome.stderr, (outcome.stderr, outcome.escaped)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_directions_fit_takes_a_layer_group_by_name(tiny_snapshot, tmp_path):
    from typer.testing import CliRunner

    from ganatomy.cli import app
    from ganatomy.errors import OptionsError
    from ganatomy.latent import layer_groups

    fit = ["directions", "fit", "--network", str(tiny_snapshot), "--method", "sefa", "--k", "2", "--space", "w+"]
    result = CliRunner().invoke(app, [*fit, "--layers", "fine", "--outdir", str(tmp_path), "--no-progress"])
    assert result.exit_code == 0, (result.output, result.exception)
    (run,) = tmp_path.glob("00000-directions-sefa-*")
    summary = json.loads((run / "summary.json").read_text())
    assert summary["layers"] == list(layer_groups(8)["fine"]) == [5, 6, 7]  # cpu32 at 32x32: 8 W+ rows
    assert json.loads((run / "options.json").read_text())["layer_group"] == "fine"
    for layers, message in (("finest", "coarse, middle, fine"), ("fine", "interfacegan fits normals")):
        method = "interfacegan" if layers == "fine" else "sefa"
        args = [*fit[:5], method, *fit[6:], "--layers", layers, "--outdir", str(tmp_path / "bad")]
        result = CliRunner().invoke(app, args)
        assert isinstance(result.exception, OptionsError) and message in str(result.exception)
