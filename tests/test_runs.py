"""Run conventions: options trees, run directories, checkpoints, seeds, atomic writes, results."""

from __future__ import annotations

import dataclasses
import json
from typing import Literal

import numpy as np
import pytest
import torch

from ganatomy.bench.result import BenchResult, Target, record_result
from ganatomy.errors import CheckpointError, OptionsError
from ganatomy.runs import dump_options, load_options, make_run_dir, options_from_dict
from ganatomy.runs.checkpoint import load_checkpoint, save_checkpoint
from ganatomy.utils.atomic import atomic_directory, atomic_write_text
from ganatomy.utils.seeds import parse_seeds


@dataclasses.dataclass
class _Inner:
    lr: float = 0.002
    betas: tuple[float, float] = (0.0, 0.99)


@dataclasses.dataclass
class _Outer:
    data: str
    kimg: float = 1.0
    arch: Literal["stylegan2", "dcgan"] = "stylegan2"
    seed: int = 0
    cond: bool = False
    opt: _Inner = dataclasses.field(default_factory=_Inner)
    note: str | None = None


def test_options_round_trip(tmp_path):
    opts = options_from_dict(_Outer, {"data": "world:32", "kimg": 2, "opt": {"lr": 0.001}})
    assert opts.kimg == 2.0 and isinstance(opts.kimg, float)
    assert opts.opt.lr == 0.001 and opts.opt.betas == (0.0, 0.99)
    dump_options(opts, tmp_path / "options.json")
    assert load_options(_Outer, tmp_path / "options.json") == opts


@pytest.mark.parametrize(
    "data, fragment",
    [
        ({"data": "x", "kimgs": 1}, "unknown option kimgs"),
        ({"data": "x", "opt": {"lrr": 1}}, "unknown option opt.lrr"),
        ({"data": "x", "arch": "biggan"}, "arch"),
        ({"data": "x", "seed": "zero"}, "seed"),
        ({"data": "x", "cond": 1}, "cond"),
        ({"kimg": 1.0}, "missing option data"),
        ({"data": "x", "opt": {"betas": [0.1]}}, "opt.betas"),
    ],
)
def test_options_rejects_bad_input(data, fragment):
    with pytest.raises(OptionsError, match=fragment.replace(".", r"\.")):
        options_from_dict(_Outer, data)


def test_load_options_errors(tmp_path):
    with pytest.raises(OptionsError, match="not found"):
        load_options(_Outer, tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(OptionsError, match="not valid JSON"):
        load_options(_Outer, tmp_path / "bad.json")


def test_run_dirs_are_numbered(tmp_path):
    a = make_run_dir(tmp_path, "train", "world:32", "stylegan2")
    b = make_run_dir(tmp_path, "train", "world:32", "stylegan2")
    assert a.name == "00000-train-world32-stylegan2"
    assert b.name == "00001-train-world32-stylegan2"
    (tmp_path / "00007-other").mkdir()
    assert make_run_dir(tmp_path, "gen").name == "00008-gen"


def _tree():
    g = torch.Generator().manual_seed(0)
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(model.parameters())
    model(torch.randn(4, 3)).sum().backward()
    opt.step()
    return {
        "G": model.state_dict(),
        "opt_G": opt.state_dict(),
        "rng": {
            "torch": torch.get_rng_state(),
            "gen": g.get_state(),
            "numpy": np.random.default_rng(3).bit_generator.state,
        },
        "counters": {"cur_nimg": 12345, "tick": 3, "done": False, "ratio": 0.5, "name": "x", "none": None},
        "tuple": (1, 2.5, "a"),
        "bf16": torch.arange(4, dtype=torch.bfloat16),
    }


def _assert_same(a, b):
    assert type(a) is type(b) or (isinstance(a, dict) and isinstance(b, dict))
    if isinstance(a, torch.Tensor):
        assert a.dtype == b.dtype and torch.equal(a, b)
    elif isinstance(a, np.ndarray):
        assert np.array_equal(a, b)
    elif isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            _assert_same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _assert_same(x, y)
    else:
        assert a == b


def test_checkpoint_round_trip(tmp_path):
    tree = _tree()
    save_checkpoint(tmp_path / "c.safetensors", tree)
    back = load_checkpoint(tmp_path / "c.safetensors")
    _assert_same(tree, back)
    # Optimizer state loads back into a fresh optimizer (int keys survive).
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(model.parameters())
    opt.load_state_dict(back["opt_G"])
    assert opt.state_dict()["state"][0]["exp_avg"].shape == (2, 3)
    # numpy bit-generator state restores the exact stream.
    rng = np.random.default_rng()
    rng.bit_generator.state = back["rng"]["numpy"]
    assert rng.random() == np.random.default_rng(3).random()


def test_checkpoint_detects_corruption(tmp_path):
    path = tmp_path / "c.safetensors"
    save_checkpoint(path, {"w": torch.arange(1000, dtype=torch.float32)})
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF  # flip bits in the tensor body
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="checksum mismatch"):
        load_checkpoint(path)
    path.write_bytes(bytes(data[: len(data) // 2]))
    with pytest.raises(CheckpointError, match="truncated|corrupt"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "missing.safetensors")
    from safetensors.torch import save_file

    save_file({"x": torch.zeros(2)}, tmp_path / "foreign.safetensors")
    with pytest.raises(CheckpointError, match="not a ganatomy checkpoint"):
        load_checkpoint(tmp_path / "foreign.safetensors")


def test_checkpoint_rejects_unstorable(tmp_path):
    with pytest.raises(TypeError, match="object"):
        save_checkpoint(tmp_path / "c.safetensors", {"x": object()})
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_parse_seeds():
    assert parse_seeds("0-3,10") == [0, 1, 2, 3, 10]
    assert parse_seeds("7") == [7]
    for bad in ["a-b", "5-2", ""]:
        with pytest.raises(OptionsError, match="--seeds"):
            parse_seeds(bad)


def test_atomic_directory_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "export"
    with pytest.raises(RuntimeError):
        with atomic_directory(target) as tmp:
            (tmp / "a.txt").write_text("x")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    with atomic_directory(target) as tmp:
        (tmp / "a.txt").write_text("x")
    assert (target / "a.txt").read_text() == "x"
    with pytest.raises(FileExistsError, match="not empty"):
        with atomic_directory(target):
            pass


def test_record_result_replaces_its_own_section(tmp_path):
    path = tmp_path / "results.md"
    atomic_write_text(path, "# Benchmark results\n")
    r1 = BenchResult("a", "bench a", [{"k": 1.0}], {"k": 1.0}, [Target("k", ">=", 2)])
    r2 = BenchResult("b", "bench b", [{"k": 5.0}], {"k": 5.0})
    record_result(r1, "ganatomy bench a", path)
    record_result(r2, "ganatomy bench b", path)
    r1.summary["k"] = 3.0
    r1.rows[0]["k"] = 3.0
    record_result(r1, "ganatomy bench a", path)
    text = path.read_text()
    assert text.count("## bench a") == 1 and text.count("## bench b") == 1
    assert "target `k >= 2`: met (3)" in text
    assert json.loads(r1.to_json()) == {"k": 3.0}


def test_atomic_writes_get_the_usual_permissions(tmp_path):
    import os
    import stat

    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "a.txt", "x")
        with atomic_directory(tmp_path / "d") as d:
            (d / "f").write_text("y")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o644  # not mkstemp's private 0600
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o755


def test_truncate_jsonl_keeps_complete_chosen_records_only(tmp_path):
    from ganatomy.runs.logs import read_jsonl, truncate_jsonl

    path = tmp_path / "log.jsonl"
    path.write_text('{"a": 1}\n{"a": 2}\n[3]\n{"a": 4}\n{"a": ')
    assert read_jsonl(path) == [{"a": 1}, {"a": 2}, {"a": 4}]
    assert truncate_jsonl(path, lambda r: r["a"] != 2) == 3  # a rejected record, a non-object, a partial line
    assert path.read_text() == '{"a": 1}\n{"a": 4}\n'
    assert truncate_jsonl(path, lambda r: True) == 0 and path.read_text() == '{"a": 1}\n{"a": 4}\n'
    assert truncate_jsonl(tmp_path / "missing.jsonl", lambda r: True) == 0
    assert not (tmp_path / "missing.jsonl").exists()


# ---------------------------------------------------------------------- reliability (issue 17)
def test_run_dir_numbers_stay_unique_when_another_run_takes_the_same_number(tmp_path, monkeypatch):
    from ganatomy.runs import rundir

    real_next_id = rundir._next_run_id
    raced = []

    def racing_next_id(outdir):  # another process, with another name, picks the same number right now
        n = real_next_id(outdir)
        if not raced:
            raced.append((outdir / f"{n:05d}-train-other-dcgan").mkdir())
        return n

    monkeypatch.setattr(rundir, "_next_run_id", racing_next_id)
    mine = make_run_dir(tmp_path, "train", "mine")
    assert mine.name == "00001-train-mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["00000-train-other-dcgan", "00001-train-mine"]


def test_run_dir_numbers_are_unique_under_concurrency(tmp_path):
    import threading

    made: list = []
    start = threading.Barrier(6)

    def allocate(name: str) -> None:
        start.wait()
        made.extend(make_run_dir(tmp_path, "train", name) for _ in range(5))

    threads = [threading.Thread(target=allocate, args=(f"n{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    numbers = [p.name[:5] for p in made]
    assert len(made) == 30 and len(set(numbers)) == 30
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # every claim released


def test_option_bounds_refuse_nan_inf_and_out_of_range_values():
    from ganatomy.runs.options import check_values, field_bounds, option, replace_options

    @dataclasses.dataclass
    class Opts:
        lr: float = option(0.1, ge=0, le=10)
        betas: tuple[float, float] = option((0.0, 0.9), ge=0, lt=1)
        steps: int = option(1, ge=1, le=100)
        name: str = "x"
        free: float = 0.0

        def __post_init__(self):
            check_values(self)

    for data, fragment in [
        ({"lr": float("nan")}, "lr must be >= 0 and <= 10, got nan"),
        ({"lr": float("inf")}, "lr must be"),
        ({"lr": -1}, "got -1.0"),
        ({"betas": [0.5, 1.0]}, "betas must be >= 0 and < 1"),
        ({"steps": 0}, "steps must be >= 1"),
        ({"steps": 10**5000}, "a 16610-bit integer"),
        ({"name": " "}, "name must not be empty"),
        ({"name": "a\x00b"}, "NUL byte"),
        ({"free": float("-inf")}, "free must be finite"),
    ]:
        with pytest.raises(OptionsError, match=fragment):
            options_from_dict(Opts, data)
    assert options_from_dict(Opts, {"lr": 0, "steps": 100}).lr == 0.0
    with pytest.raises(OptionsError, match="lr must be"):
        replace_options(Opts(), lr=11.0)  # a one-line error, not a ValueError traceback
    assert str(field_bounds(dataclasses.fields(Opts)[0])) == ">= 0 and <= 10"


def test_every_numeric_training_option_declares_its_bounds():
    import typing

    from ganatomy.runs.options import Bounds, field_bounds
    from ganatomy.train.options import TrainOptions

    def numeric_fields(cls, prefix=""):
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            hint = hints[f.name]
            if dataclasses.is_dataclass(hint):
                yield from numeric_fields(hint, prefix + f.name + ".")
            elif {int, float} & {
                hint,
                *typing.get_args(hint),
                *(a for x in typing.get_args(hint) for a in typing.get_args(x)),
            }:
                yield prefix + f.name, f

    fields = dict(numeric_fields(TrainOptions))
    assert {"kimg", "optim.betas", "loss.r1_interval", "network.channel_base", "grid_size"} <= set(fields)
    assert [k for k, f in fields.items() if field_bounds(f) == Bounds()] == []


def test_json_that_python_cannot_read_is_a_one_line_options_error(tmp_path):
    (tmp_path / "huge.json").write_text('{"kimg": 1' + "0" * 5000 + "}")
    with pytest.raises(OptionsError, match="not valid JSON"):
        load_options(_Outer, tmp_path / "huge.json")
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(OptionsError, match="not valid JSON"):
        load_options(_Outer, tmp_path / "deep.json")
    with pytest.raises(OptionsError, match="too large for a number"):
        options_from_dict(_Outer, {"data": "x", "kimg": 10**400})


def test_a_write_that_fills_the_disk_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    import errno
    import pathlib

    from ganatomy.errors import GanatomyError
    from ganatomy.utils.atomic import OutputError, atomic_write_bytes

    target = tmp_path / "checkpoint.safetensors"
    target.write_bytes(b"old")
    real_write = pathlib.Path.write_bytes

    def disk_full(self, data):
        real_write(self, data[:2])
        raise OSError(errno.ENOSPC, "No space left on device", str(self))

    monkeypatch.setattr(pathlib.Path, "write_bytes", disk_full)
    with pytest.raises(OutputError, match="checkpoint.safetensors: cannot write \\(No space left on device\\)") as e:
        atomic_write_bytes(target, b"new content")
    assert isinstance(e.value, GanatomyError) and isinstance(e.value, OSError) and e.value.errno == errno.ENOSPC
    monkeypatch.undo()
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == [target.name]


def test_stats_append_that_fills_the_disk_leaves_no_partial_line(tmp_path, monkeypatch):
    import errno

    import ganatomy.runs.stats as stats
    from ganatomy.utils.atomic import OutputError

    reporter = stats.StatsReporter(tmp_path, total=1.0, tensorboard=False, progress=False)
    reporter.report("loss", 1.0)
    reporter.flush(0.5)

    class FullDisk:
        def __init__(self, f):
            self.f = f

        def write(self, text):
            self.f.write(text[:5])
            self.f.flush()
            raise OSError(errno.ENOSPC, "No space left on device")

        def __getattr__(self, name):
            return getattr(self.f, name)

    reporter._jsonl = FullDisk(reporter._jsonl)
    with pytest.raises(OutputError, match="stats.jsonl: cannot write"):
        reporter.flush(1.0)
    reporter.report("loss", 2.0)
    reporter.flush(1.0)  # space again: the log goes on
    reporter.close()
    lines = (tmp_path / stats.STATS_FILE).read_text().splitlines()
    assert [json.loads(line)["kimg"] for line in lines] == [0.5, 1.0]


def test_remove_stale_temporaries_and_check_output_dir(tmp_path):
    from ganatomy.utils.atomic import atomic_path, check_output_dir, remove_stale_temporaries

    with pytest.raises(RuntimeError):
        with atomic_path(tmp_path / "a.png", suffix=".png") as tmp:
            stale = tmp.with_name(tmp.name.replace("a.png", "b.png"))  # a killed process's leftover
            stale.write_bytes(b"x")
            (tmp_path / ".keep").write_text("not ours")
            raise RuntimeError
    assert remove_stale_temporaries(tmp_path) == [stale.name]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".keep"]
    (tmp_path / "file").write_text("x")
    for path, fragment in [(tmp_path / "file", "is a file"), (tmp_path / "file" / "sub", "which is a file")]:
        with pytest.raises(OptionsError, match=fragment):
            check_output_dir(path, "--outdir")
    assert check_output_dir(tmp_path / "new" / "dir", "--outdir") == tmp_path / "new" / "dir"
    assert not (tmp_path / "new").exists()


def test_corrupt_checkpoint_headers_are_one_line_errors(tmp_path):
    path = tmp_path / "c.safetensors"
    save_checkpoint(path, {"w": torch.arange(4.0)})
    data = path.read_bytes()
    for old, new in [(b'"ganatomy.schema":"1"', b'"ganatomy.schema":"q"'), (b'"__metadata__"', b'"__metadataX"')]:
        assert old in data
        path.write_bytes(data.replace(old, new))
        with pytest.raises(CheckpointError, match="corrupt|not a ganatomy checkpoint"):
            load_checkpoint(path)
