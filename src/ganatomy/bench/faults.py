"""``ganatomy bench faults``: a tiny deterministic run, killed, corrupted, misconfigured and starved of disk.

- **kills**: SIGKILL at seeded random points: a step, a wall-clock moment, the middle of a
  checkpoint, snapshot, grid, log or options write, just before or after its rename. After each
  kill the checkpoint on disk must be bitwise the uninterrupted run's of the same tick and every
  snapshot on disk bitwise the uninterrupted run's; the chain of resumes must end bitwise equal to
  it (every checkpoint tensor, snapshot and grid file, one stats record per tick, no temporary).
- **corruptions**: one byte changed at a seeded random offset of a checkpoint, a network snapshot,
  a dataset zip or an image folder's files. Detected: refused with a one-line error. Harmless: it
  loads exactly the original content. Anything else is silent.
- **bad options**: every out-of-range value generated from the options dataclasses' types and
  declared bounds (NaN, inf, negative, zero, huge, wrong type, empty, NUL byte), given through an
  options file, ``--set`` and the numeric flags. Clean: exit 2, one line, no traceback, no directory.
- **disk full**: ENOSPC in the middle of seeded writes of the run (a byte quota on its writes and,
  where ``unshare`` can mount one, a real tiny tmpfs). Clean: a one-line error, nothing
  half-written, and a resume with space again ends bitwise equal to the uninterrupted run.

Training processes are forked from a forkserver that has the libraries imported, so a kill costs
the training, not Python's start. The pieces are public so that ``tests/test_faults.py`` runs
them at a small size.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import io
import json
import math
import multiprocessing
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ganatomy.bench.result import BenchResult, Target

# The tiny run: world:32, a 256/32-channel StyleGAN2, 4 ticks of 2 steps, deterministic fp32.
TICKS, STEPS_PER_TICK, SNAPSHOT_TICKS = 4, 2, 2
TINY_OPTIONS: dict[str, Any] = {
    "data": "world:32",
    "batch": 8,
    "kimg": 0.064,
    "tick_kimg": 0.016,
    "snapshot_ticks": SNAPSHOT_TICKS,
    "precision": "fp32",
    "deterministic": True,
    "progress": False,
    "tensorboard": False,
    "grid_size": 8,
    "network": {"channel_base": 256, "channel_max": 32},
    "loss": {"r1_interval": 2, "pl_interval": 2},
}
CHECKPOINT = "checkpoint.safetensors"
# What a kill or a full disk can interrupt: final file name prefix of each write.
WRITE_TARGETS = {
    "checkpoint": CHECKPOINT,
    "snapshot": "network-snapshot-",
    "grid": "fakes",
    "consistency": "consistency.json",
    "options": "options.json",
    "command": "command.txt",
    "stats": "stats.jsonl",
}


# ====================================================================== the command line in-process
@dataclasses.dataclass
class CliOutcome:
    code: int
    stdout: str
    stderr: str
    escaped: str | None = None  # an exception main() let through (a traceback for a user)

    @property
    def clean_refusal(self) -> bool:
        """Exit 2 with one ``error:`` line and no traceback."""
        lines = self.stderr.strip().splitlines()
        return (
            self.escaped is None
            and self.code == 2
            and len(lines) == 1
            and lines[0].startswith("error: ")
            and "Traceback" not in self.stderr
        )


def run_cli(args: list[str]) -> CliOutcome:
    """``ganatomy ARGS`` in this process, its output captured; torch's global RNG is restored."""
    import torch

    from ganatomy.cli import main

    out, err = io.StringIO(), io.StringIO()
    argv, code, escaped = sys.argv, 0, None
    sys.argv = ["ganatomy", *args]
    try:
        with torch.random.fork_rng(devices=[]), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            main()
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException as e:  # noqa: BLE001 - what a user would see as a traceback
        code, escaped = 1, f"{type(e).__name__}: {' '.join(str(e).split())[:300]}"
    finally:
        sys.argv = argv
    return CliOutcome(code, out.getvalue(), err.getvalue(), escaped)


# ====================================================================== bad option values
@dataclasses.dataclass(frozen=True)
class Candidate:
    """A value for the option ``key``; ``bad``: outside what the option's type and bounds allow."""

    key: str
    value: Any
    kind: str
    bad: bool
    numeric: bool = False  # of a numeric option (the ones a flag can carry past the CLI's own parsing)


def _valid_number(bounds, integer: bool) -> float:
    for x in (0.5, 1, 2, 0, 16):
        if (not integer or x == int(x)) and bounds.contains(int(x) if integer else float(x)):
            return int(x) if integer else float(x)
    raise AssertionError(f"no simple valid value within {bounds}")


def _number_candidates(key: str, bounds, integer: bool) -> Iterator[Candidate]:
    numbers = (
        [("negative", -1), ("zero", 0), ("huge", 10**30)]
        if integer
        else [
            ("nan", math.nan),
            ("inf", math.inf),
            ("-inf", -math.inf),
            ("negative", -1.0),
            ("zero", 0.0),
            ("huge", 1e300),
        ]
    )
    for kind, value in numbers:
        yield Candidate(key, value, kind, not bounds.contains(value), numeric=True)
    if integer:
        yield Candidate(key, 1.5, "wrong type", True)
    yield Candidate(key, "x", "wrong type", True)
    yield Candidate(key, True, "wrong type", True)


def option_candidates(cls: type, prefix: str = "") -> Iterator[Candidate]:
    """Every candidate value of every option of dataclass ``cls``, from its types and bounds alone."""
    from ganatomy.runs.options import field_bounds

    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        key, hint = prefix + field.name, hints[field.name]
        args = typing.get_args(hint)
        optional = typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in args
        if optional:
            (hint,) = [a for a in args if a is not type(None)]
        else:
            yield Candidate(key, None, "null", True)
        origin, bounds = typing.get_origin(hint) or hint, field_bounds(field)  # bare dict/list: their own origin
        if dataclasses.is_dataclass(hint):
            yield from option_candidates(hint, key + ".")
            yield Candidate(key, "x", "wrong type", True)
        elif origin is typing.Literal:
            yield Candidate(key, "no-such-value", "unknown name", True)
            yield Candidate(key, 1, "wrong type", True)
        elif hint is bool:
            yield Candidate(key, "x", "wrong type", True)
            yield Candidate(key, 1, "wrong type", True)
        elif origin in (typing.Union, types.UnionType) and all(
            a is bool or typing.get_origin(a) is typing.Literal for a in typing.get_args(hint)
        ):  # a switch with named settings, e.g. bool | Literal["auto"]
            yield Candidate(key, "no-such-value", "unknown name", True)
            yield Candidate(key, 1, "wrong type", True)
        elif hint in (int, float):
            yield from _number_candidates(key, bounds, integer=hint is int)
        elif hint is str:
            yield Candidate(key, "", "empty", True)
            yield Candidate(key, "a\x00b", "NUL byte", True)
            yield Candidate(key, 1, "wrong type", True)
        elif origin is tuple:
            item_hint = typing.get_args(hint)[0]
            valid = _valid_number(bounds, integer=item_hint is int)
            rest = [valid] * (len(typing.get_args(hint)) - 1)
            for c in _number_candidates(key, bounds, integer=item_hint is int):
                yield dataclasses.replace(c, value=[c.value, *rest], numeric=False)
            yield Candidate(key, [valid], "wrong length", True)
        elif origin is list:
            item_hint = (typing.get_args(hint) or (str,))[0]
            if item_hint in (int, float):  # a list of numbers: each item within the field's bounds
                for c in _number_candidates(key, bounds, integer=item_hint is int):
                    yield dataclasses.replace(c, value=[c.value], numeric=False)
                yield Candidate(key, ["x"], "wrong type", True)
            else:
                yield Candidate(key, [1], "wrong type", True)
                yield Candidate(key, [""], "empty", True)
            yield Candidate(key, "x", "wrong type", True)
        elif origin is dict:
            yield Candidate(key, "x", "wrong type", True)
            yield Candidate(key, {"no_such_argument": 1}, "unknown name", True)
        else:
            raise AssertionError(f"{key}: no candidates for type {hint}")


def _nested(dotted: str, value: Any) -> dict:
    from ganatomy.runs.options import nested_option

    return nested_option(dotted, value)


def _flag_of(key: str) -> str | None:
    from ganatomy.cli.train import _FLAG_KEYS

    names = [flag for flag, dotted in _FLAG_KEYS.items() if dotted == key]
    return "--" + names[0].replace("_", "-") if names else None


@dataclasses.dataclass
class BadOptionResult:
    candidate: Candidate
    channel: str  # options file, --set, flag
    clean: bool
    detail: str


def check_bad_option(candidate: Candidate, channel: str, workdir: Path) -> BadOptionResult:
    """Give one bad value to ``ganatomy train`` through ``channel``: clean = exit 2, one line, no
    traceback, no directory under the run's --outdir."""
    from ganatomy.runs.options import merge_options

    outdir = workdir / "runs"
    base = {
        **TINY_OPTIONS,
        "kimg": 0.008,
        "tick_kimg": 0.008,
        "snapshot_ticks": 0,
        "grid_size": 4,
        "deterministic": False,
        "outdir": str(outdir),
    }
    options_file = workdir / "options.json"
    text = json.dumps(candidate.value)
    if channel == "options file":
        options_file.write_text(json.dumps(merge_options(base, _nested(candidate.key, candidate.value))))
        args = ["train", "--options", str(options_file)]
    elif channel == "--set":
        options_file.write_text(json.dumps(base))
        args = ["train", "--options", str(options_file), "--set", f"{candidate.key}={text}"]
    else:
        options_file.write_text(json.dumps(base))
        args = ["train", "--options", str(options_file), f"{_flag_of(candidate.key)}={candidate.value}"]
    outcome = run_cli(args)
    left = sorted(p.name for p in outdir.iterdir()) if outdir.is_dir() else []
    clean = outcome.clean_refusal and not left
    detail = outcome.escaped or (outcome.stderr.strip().splitlines() or [f"exit {outcome.code}"])[-1]
    if left:
        detail += f" (left {left})"
    return BadOptionResult(candidate, channel, clean, detail[:300])


def bad_option_cases(channels: tuple[str, ...] = ("options file", "--set", "flag")) -> list[tuple[Candidate, str]]:
    """(candidate, channel) for every bad candidate of TrainOptions; flags carry the numeric ones."""
    from ganatomy.train.options import TrainOptions

    cases = []
    for c in option_candidates(TrainOptions):
        if not c.bad:
            continue
        for channel in channels:
            if channel == "flag" and not (c.numeric and _flag_of(c.key)):
                continue  # wrong types on a flag are the CLI framework's usage errors
            cases.append((c, channel))
    return cases


def good_options_accepted() -> tuple[int, list[Candidate]]:
    """Candidates within their bounds must be accepted by the options tree: (count, refused ones)."""
    from ganatomy.errors import OptionsError
    from ganatomy.runs.options import merge_options, options_from_dict
    from ganatomy.train.options import TrainOptions

    good = [c for c in option_candidates(TrainOptions) if not c.bad]
    refused = []
    for c in good:
        try:
            options_from_dict(TrainOptions, merge_options(TINY_OPTIONS, _nested(c.key, c.value)))
        except OptionsError:
            refused.append(c)
    return len(good), refused


# ====================================================================== forked training processes
def _forkserver():
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["ganatomy.bench.faults", "ganatomy.cli", "ganatomy.train.run"])
    return ctx


def _kill_self() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _target_of(final_name: str) -> str | None:
    for target, prefix in WRITE_TARGETS.items():
        if final_name.startswith(prefix):
            return target
    return None


def _tmp_target(tmp_name: str) -> str | None:
    """The target of an atomic write's temporary ``.<final name>.<random>.tmp``."""
    return _target_of(tmp_name[1:]) if tmp_name.startswith(".") and tmp_name.endswith(".tmp") else None


class _Quota:
    """Bytes the run may still write before the (simulated) disk is full."""

    def __init__(self, budget: int | None) -> None:
        self.left = budget

    def take(self, n: int) -> int:
        if self.left is None:
            return n
        granted = min(n, self.left)
        self.left -= granted
        return granted


def _install_failpoint(plan: dict) -> None:
    """Patch this (forked) process so that it dies, or its disk fills, where ``plan`` says.

    plan kinds: ``step`` (SIGKILL before the n-th EMA update: after that step's D and G updates),
    ``write`` (the n-th write of ``target``, in its ``phase``: mid, before-rename, after-rename),
    ``quota`` (ENOSPC once ``bytes`` have been written), ``record`` (copy each checkpoint and log
    each write's size to ``dir``; the reference run), ``none``.
    """
    import pathlib

    import ganatomy.runs.stats as stats_module
    import ganatomy.train.loop as loop_module

    kind = plan["kind"]
    counts: dict[str, int] = {}

    def nth(target: str) -> bool:
        counts[target] = counts.get(target, 0) + 1
        return kind == "write" and plan["target"] == target and counts[target] == plan["n"]

    if kind == "step":
        update_ema = loop_module.update_ema

        def killing_update_ema(*args, **kwargs):
            counts["step"] = counts.get("step", 0) + 1
            if counts["step"] == plan["n"]:
                _kill_self()
            return update_ema(*args, **kwargs)

        loop_module.update_ema = killing_update_ema
    quota = _Quota(plan["bytes"] if kind == "quota" else None)
    record = Path(plan["dir"]) if kind == "record" else None
    write_bytes, replace, open_ = pathlib.Path.write_bytes, os.replace, open

    def log_write(name: str, size: int) -> None:
        if record is not None:
            with open_(record / "writes.jsonl", "a") as f:
                f.write(json.dumps({"name": name, "bytes": size}) + "\n")

    def patched_write_bytes(self, data):
        target = _tmp_target(self.name)
        if target is None:
            return write_bytes(self, data)
        log_write(target, len(data))
        if nth(target) and plan["phase"] == "mid":
            write_bytes(self, bytes(data)[: len(data) // 2])
            _kill_self()
        granted = quota.take(len(data))
        if granted < len(data):
            write_bytes(self, bytes(data)[:granted])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))
        return write_bytes(self, data)

    def patched_replace(src, dst, *args, **kwargs):
        target = _target_of(Path(dst).name)
        fire = target is not None and kind == "write" and plan["target"] == target and counts.get(target) == plan["n"]
        if fire and plan["phase"] == "before-rename":
            _kill_self()
        result = replace(src, dst, *args, **kwargs)
        if fire and plan["phase"] == "after-rename":
            _kill_self()
        if record is not None and Path(dst).name == CHECKPOINT:
            counts["recorded"] = counts.get("recorded", 0) + 1
            shutil.copyfile(dst, record / f"checkpoint-{counts['recorded']:03d}.safetensors")
        return result

    class StatsFile:
        """stats.jsonl as the reporter sees it, with the plan's kill or full disk."""

        def __init__(self, f) -> None:
            self._f = f

        def write(self, text: str) -> int:
            log_write("stats", len(text.encode()))
            if nth("stats"):
                self._f.write(text[: len(text) // 2])
                self._f.flush()
                _kill_self()
            granted = quota.take(len(text.encode()))
            if granted < len(text.encode()):
                self._f.write(text.encode()[:granted].decode(errors="ignore"))
                self._f.flush()
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "stats.jsonl")
            return self._f.write(text)

        def __getattr__(self, name: str) -> Any:
            return getattr(self._f, name)

    pathlib.Path.write_bytes = patched_write_bytes
    os.replace = patched_replace
    stats_module.open = lambda *a, **k: StatsFile(open_(*a, **k))


def _child_main(args: list[str], plan: dict, log_prefix: str) -> None:
    """The body of a forked training process: ``ganatomy ARGS`` under ``plan``'s failpoint."""
    for fd, suffix in ((1, ".out"), (2, ".err")):
        log = os.open(log_prefix + suffix, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(log, fd)
        os.close(log)
    import torch

    torch.set_num_threads(1)
    _install_failpoint(plan)
    sys.argv = ["ganatomy", *args]
    from ganatomy.cli import main

    main()


@dataclasses.dataclass
class ChildResult:
    code: int | None  # -9: killed
    seconds: float
    stderr: str
    timed_out: bool = False  # hung past its timeout (and then killed): a failure, not a planned kill


def run_child(
    args: list[str], plan: dict, log_prefix: Path, kill_after: float | None = None, timeout: float = 300.0
) -> ChildResult:
    """Fork a training process (``ganatomy ARGS`` with ``plan``); SIGKILL it after ``kill_after`` s."""
    process = _forkserver().Process(target=_child_main, args=(args, plan, str(log_prefix)))
    start = time.monotonic()
    process.start()
    process.join(kill_after if kill_after is not None else timeout)
    hung = process.is_alive() and kill_after is None
    if process.is_alive():
        process.kill()
        process.join()
    err = Path(str(log_prefix) + ".err")
    return ChildResult(process.exitcode, time.monotonic() - start, err.read_text() if err.exists() else "", hung)


# ====================================================================== the reference and comparisons
def tiny_options_file(path: Path, outdir: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**TINY_OPTIONS, "outdir": str(outdir)}))
    return path


def _training_tree(path: Path) -> dict:
    from ganatomy.train.state import load_resume_checkpoint

    tree = load_resume_checkpoint(path)
    tree["counters"] = {k: v for k, v in tree["counters"].items() if "seconds" not in k}  # wall and CPU clocks
    tree.pop("options", None)  # names the run's own outdir
    return tree


def _bits(t):
    """A tensor's bytes (so that NaNs compare, and -0.0 differs from 0.0)."""
    import torch

    return t.detach().cpu().contiguous().reshape(-1).view(torch.uint8)


def first_difference(a: Any, b: Any, path: str = "") -> str | None:
    """Where two trees of tensors, containers and plain values differ bit for bit (None: nowhere)."""
    import numpy as np
    import torch

    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        same = (
            isinstance(a, torch.Tensor)
            and isinstance(b, torch.Tensor)
            and a.dtype == b.dtype
            and a.shape == b.shape
            and torch.equal(_bits(a), _bits(b))
        )
        return None if same else path or "tensor"
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return None if np.array_equal(a, b) else path
    if isinstance(a, dict) and isinstance(b, dict):
        if list(a) != list(b):
            return f"{path} keys"
        return next((d for k in a if (d := first_difference(a[k], b[k], f"{path}.{k}"))), None)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if len(a) != len(b):
            return f"{path} length"
        return next((d for i, (x, y) in enumerate(zip(a, b)) if (d := first_difference(x, y, f"{path}[{i}]"))), None)
    same = a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))
    return None if same and type(a) is type(b) else path or repr(a)


@dataclasses.dataclass
class Reference:
    """The uninterrupted tiny run: its directory, its checkpoint after each tick, its writes."""

    run_dir: Path
    checkpoints: dict[int, dict]
    writes: list[dict]
    seconds: float

    def files(self) -> dict[str, Any]:
        return network_files(self.run_dir)


def network_files(run_dir: Path) -> dict[str, Any]:
    """Snapshots (as trees, without the run's own outdir) and grids (bytes) by name: bitwise the
    same in every run of the same options."""
    from ganatomy.runs.checkpoint import load_checkpoint

    files: dict[str, Any] = {}
    for p in sorted(run_dir.iterdir()):
        if p.name.startswith("network-snapshot-") and p.suffix == ".safetensors":
            tree = load_checkpoint(p)
            tree["meta"]["options"].pop("outdir", None)
            files[p.name] = tree
        elif p.name.startswith("fakes") and p.suffix == ".png":
            files[p.name] = p.read_bytes()
    return files


def make_reference(workdir: Path) -> Reference:
    record = workdir / "record"
    record.mkdir(parents=True)
    options = tiny_options_file(workdir / "reference.json", workdir / "reference")
    child = run_child(["train", "--options", str(options)], {"kind": "record", "dir": str(record)}, workdir / "ref")
    if child.code != 0:
        raise RuntimeError(f"the reference run failed (exit {child.code}): {child.stderr[-2000:]}")
    (run_dir,) = (workdir / "reference").iterdir()
    checkpoints = {}
    for path in sorted(record.glob("checkpoint-*.safetensors")):
        tree = _training_tree(path)
        checkpoints[tree["counters"]["tick"]] = tree
    writes = [json.loads(line) for line in (record / "writes.jsonl").read_text().splitlines()]
    return Reference(run_dir, checkpoints, writes, child.seconds)


def _stats_kimg(run_dir: Path) -> list[float]:
    from ganatomy.runs.logs import read_jsonl

    path = run_dir / "stats.jsonl"
    return [r.get("kimg") for r in read_jsonl(path)] if path.exists() else []


def _half_written(run_dir: Path) -> list[str]:
    """Files that are not complete: partial stats lines, unreadable JSON, PNG or safetensors."""
    from PIL import Image

    from ganatomy.runs.checkpoint import load_checkpoint

    bad = []
    for p in sorted(run_dir.iterdir()):
        try:
            if p.name == "stats.jsonl":
                lines = p.read_text().splitlines(keepends=True)
                if any(not line.endswith("\n") for line in lines) or any(json.loads(x) is None for x in lines):
                    bad.append(p.name)
            elif p.suffix == ".json":
                json.loads(p.read_text())
            elif p.suffix == ".png":
                with Image.open(p) as im:
                    im.load()
            elif p.suffix == ".safetensors":
                load_checkpoint(p)
            elif p.name == "command.txt" and not p.read_text().endswith("\n"):
                bad.append(p.name)
        except Exception:  # noqa: BLE001 - any failure to read back is a half-written file
            bad.append(p.name)
    return bad


def check_run_against(run_dir: Path, ref: Reference, final: bool) -> str | None:
    """None when ``run_dir`` holds only what the uninterrupted run holds at its checkpoint's tick
    (``final``: all of it, and no temporaries); else what differs."""
    from ganatomy.errors import GanatomyError

    path = run_dir / CHECKPOINT
    if path.exists():
        try:
            tree = _training_tree(path)
        except GanatomyError as e:
            return f"checkpoint unreadable: {e}"
        tick = tree["counters"]["tick"]
        if tick not in ref.checkpoints:
            return f"checkpoint at tick {tick}, which the reference never wrote"
        diff = first_difference(tree, ref.checkpoints[tick])
        if diff:
            return f"checkpoint at tick {tick} differs at {diff}"
    elif final:
        return "no checkpoint"
    try:
        mine = network_files(run_dir)
    except GanatomyError as e:
        return f"a snapshot is unreadable: {e}"
    ref_files = ref.files()
    for name, content in mine.items():
        if name != "fakes-latest.png" and (name not in ref_files or first_difference(content, ref_files[name])):
            return f"{name} is not the reference's"
    if not final:
        return None
    if _stats_kimg(run_dir) != _stats_kimg(ref.run_dir):
        return f"stats.jsonl kimg {_stats_kimg(run_dir)} != {_stats_kimg(ref.run_dir)}"
    if sorted(mine) != sorted(ref_files) or first_difference(mine, ref_files):
        return f"snapshots/grids differ: {sorted(set(mine) ^ set(ref_files)) or first_difference(mine, ref_files)}"
    leftovers = [p.name for p in run_dir.iterdir() if p.name.endswith(".tmp")]
    if leftovers:
        return f"temporaries left: {leftovers}"
    half = _half_written(run_dir)
    return f"half-written: {half}" if half else None


# ====================================================================== kills
def _remaining(ref_tick: int) -> dict[str, int]:
    """How many writes of each target a process started at checkpoint tick ``ref_tick`` makes."""
    ticks = range(ref_tick + 1, TICKS + 1)
    snapshots = sum(1 for t in ticks if t % SNAPSHOT_TICKS == 0 or t == TICKS)
    return {
        "step": len(ticks) * STEPS_PER_TICK,
        "checkpoint": len(ticks),
        "snapshot": snapshots,
        "grid": len(ticks) + snapshots,
        "stats": len(ticks),
        "consistency": len(ticks),
        "command": 1,
    }


def random_kill_plan(
    rng: random.Random, checkpoint_tick: int, new_run: bool, seconds: float, wanted: str | None = None
) -> dict:
    """A seeded kill point a process started at ``checkpoint_tick`` reaches; ``wanted``: e.g.
    ``checkpoint:mid`` (a write target and phase), ``step``, ``time``."""
    left = _remaining(checkpoint_tick)
    choices = (
        ["step", "time"]
        + [
            f"{t}:{phase}"
            for t, n in left.items()
            if n and t not in ("step", "stats")
            for phase in ("mid", "before-rename", "after-rename")
        ]
        + ["stats:mid"]
    )
    if new_run:
        choices += [f"options:{phase}" for phase in ("mid", "before-rename", "after-rename")]
    choice = wanted if wanted in choices else rng.choice(choices)
    if choice == "step":
        return {"kind": "step", "n": rng.randint(1, left["step"]), "label": "step"}
    if choice == "time":
        return {"kind": "time", "seconds": round(rng.uniform(0.05, 0.9) * seconds, 3), "label": "time"}
    target, phase = choice.split(":")
    n = rng.randint(1, left.get(target, 1))
    return {"kind": "write", "target": target, "phase": phase, "n": n, "label": choice}


@dataclasses.dataclass
class KillRecord:
    plan: dict
    killed: bool
    checkpoint_tick: int | None  # on disk after the kill
    equal: bool
    detail: str | None


def _checkpoint_tick(run_dir: Path | None) -> int:
    if run_dir is None or not (run_dir / CHECKPOINT).exists():
        return 0
    from ganatomy.runs.checkpoint import load_checkpoint

    return int(load_checkpoint(run_dir / CHECKPOINT)["counters"]["tick"])


def kill_chain(
    ref: Reference, workdir: Path, rng: random.Random, kills: int, wanted: list[str] | tuple[str, ...] = ()
) -> tuple[list[KillRecord], str | None]:
    """Kill a fresh tiny run ``kills`` times at seeded points, resuming after each, then let it
    finish; returns the kills and what the end differs in (None: bitwise the reference)."""
    wanted = list(wanted)
    outdir = workdir / "runs"
    options = tiny_options_file(workdir / "tiny.json", outdir)
    run_dir, records, invocations = None, [], 0
    while sum(r.killed for r in records) < kills and len(records) < 2 * kills:
        tick = _checkpoint_tick(run_dir)
        if tick >= TICKS:
            break  # finished: no point left to kill at
        seconds = ref.seconds * max(TICKS - tick, 1) / TICKS  # about what this process will run for
        plan = random_kill_plan(rng, tick, run_dir is None, seconds, wanted.pop(0) if wanted else None)
        args = ["train", "--options", str(options)] if run_dir is None else ["train", "--resume", str(run_dir)]
        child = run_child(
            args,
            plan if plan["kind"] != "time" else {"kind": "none"},
            workdir / f"child{len(records):02d}",
            kill_after=plan.get("seconds"),
        )
        if run_dir is None:
            made = sorted(p for p in outdir.iterdir() if p.is_dir()) if outdir.is_dir() else []
            run_dir = made[-1] if made else None
        invocations += 1
        killed = child.code == -signal.SIGKILL and not child.timed_out
        if not killed and child.code != 0:
            return records, f"a training process failed (exit {child.code}): {child.stderr.strip()[-500:]}"
        detail = check_run_against(run_dir, ref, final=False) if run_dir is not None else None
        records.append(
            KillRecord(plan, killed, _checkpoint_tick(run_dir) if run_dir else None, killed and detail is None, detail)
        )
        if run_dir is not None and not (run_dir / CHECKPOINT).exists():
            run_dir, invocations = None, 0  # killed before its first tick: it can only start again
    if run_dir is None or _checkpoint_tick(run_dir) < TICKS:
        args = ["train", "--options", str(options)] if run_dir is None else ["train", "--resume", str(run_dir)]
        child = run_child(args, {"kind": "none"}, workdir / "final")
        if child.code != 0:
            return records, f"the final resume failed (exit {child.code}): {child.stderr.strip()[-500:]}"
        if run_dir is None:
            run_dir = sorted(p for p in outdir.iterdir() if p.is_dir())[-1]
        invocations += 1
    end = check_run_against(run_dir, ref, final=True)
    lines = (run_dir / "command.txt").read_text().splitlines()
    if end is None and not 1 <= len(lines) <= invocations:  # a process killed early may not have appended
        end = f"command.txt has {len(lines)} lines for {invocations} invocations"
    return records, end


# ====================================================================== corruptions
@dataclasses.dataclass
class CorruptionCounts:
    kind: str
    trials: int = 0
    detected: int = 0
    harmless: int = 0
    silent: int = 0
    crashed: int = 0  # an exception that is not a one-line user error
    examples: list[str] = dataclasses.field(default_factory=list)


def _dataset_content(path: Path) -> dict:
    from ganatomy.data.resolve import open_dataset

    ds = open_dataset(str(path))
    idx = list(range(len(ds)))
    masks, factors = ds.get_masks(idx), ds.get_factors(idx)
    return {
        "images": ds.get_images(idx),
        "labels": ds.labels,
        "masks": masks,
        "factors": factors,
        "num_classes": ds.num_classes,
    }


def _snapshot_content(path: Path) -> dict:
    from ganatomy.nets.load import load_generator

    G = load_generator(path)
    return {"config": G.config(), "state": G.state_dict()}


_LOADERS = {
    "checkpoint": _training_tree,
    "snapshot": _snapshot_content,
    "dataset zip": _dataset_content,
    "image folder": _dataset_content,
}


def _flip(data: bytearray, rng: random.Random) -> int:
    offset = rng.randrange(len(data))
    data[offset] ^= rng.randrange(1, 256)
    return offset


def corrupt_and_load(kind: str, original: Path, trials: int, rng: random.Random, workdir: Path) -> CorruptionCounts:
    """Change one byte of ``original`` (a file, or a random byte of any file of a folder) per trial,
    load it as ``kind`` and classify the outcome against the original content."""
    from ganatomy.errors import GanatomyError

    load = _LOADERS[kind]
    expected = load(original)
    counts = CorruptionCounts(kind)
    files = sorted(p for p in original.rglob("*") if p.is_file()) if original.is_dir() else [original]
    sizes = [p.stat().st_size for p in files]
    for trial in range(trials):
        copy = workdir / f"{kind.replace(' ', '-')}-{trial}{original.suffix}"
        shutil.copytree(original, copy) if original.is_dir() else shutil.copyfile(original, copy)
        (victim,) = rng.choices(files, weights=sizes)
        target = copy / victim.relative_to(original) if original.is_dir() else copy
        data = bytearray(target.read_bytes())
        offset = _flip(data, rng)
        target.write_bytes(bytes(data))
        counts.trials += 1
        where = f"{victim.name}@{offset}"
        try:
            loaded = load(copy)
        except GanatomyError as e:
            counts.detected += 1 if "\n" not in str(e) else 0
            counts.crashed += 1 if "\n" in str(e) else 0
        except Exception as e:  # noqa: BLE001 - a traceback for a user
            counts.crashed += 1
            counts.examples.append(f"crash {where}: {type(e).__name__}: {str(e)[:120]}")
        else:
            if first_difference(loaded, expected) is None:
                counts.harmless += 1
            else:
                counts.silent += 1
                counts.examples.append(f"silent {where}")
        finally:
            shutil.rmtree(copy, ignore_errors=True) if copy.is_dir() else copy.unlink(missing_ok=True)
    return counts


def corruption_inputs(ref: Reference, workdir: Path) -> dict[str, Path]:
    """A checkpoint and a snapshot of the reference run, a 16-image world export as zip and folder."""
    from ganatomy.worlds import export_world

    snapshot = sorted(ref.run_dir.glob("network-snapshot-*.safetensors"))[0]
    return {
        "checkpoint": ref.run_dir / CHECKPOINT,
        "snapshot": snapshot,
        "dataset zip": export_world(workdir / "world16.zip", 16, 32, seed=0),
        "image folder": export_world(workdir / "world16", 16, 32, seed=0),
    }


# ====================================================================== disk full
@dataclasses.dataclass
class DiskFullRecord:
    where: str  # the write the disk filled in
    clean: bool
    detail: str | None


def quota_points(ref: Reference, rng: random.Random, n: int, wanted: tuple[str, ...] = ()) -> list[tuple[str, int]]:
    """(target, byte budget) pairs that fill the disk in the middle of a seeded choice of the
    reference run's writes, ``wanted`` targets first."""
    cumulative, points = 0, []
    for w in ref.writes:
        points.append((w["name"], cumulative + max(w["bytes"] // 2, 1)))
        cumulative += w["bytes"]
    chosen = [next(p for p in points if p[0] == t) for t in wanted if any(p[0] == t for p in points)]
    rest = [p for p in points if p not in chosen]
    return (chosen + rng.sample(rest, max(0, min(n - len(chosen), len(rest)))))[:n]


def disk_full_trial(ref: Reference, workdir: Path, target: str, budget: int) -> DiskFullRecord:
    """Fill the (simulated) disk after ``budget`` bytes; clean = one-line error, nothing half-written,
    and, when a checkpoint was kept, a resume with space again that ends bitwise equal."""
    outdir = workdir / "runs"
    options = tiny_options_file(workdir / "tiny.json", outdir)
    child = run_child(["train", "--options", str(options)], {"kind": "quota", "bytes": budget}, workdir / "full")
    lines = child.stderr.strip().splitlines()
    where = f"{target} (after {budget} bytes)"
    if child.code != 2 or len(lines) != 1 or not lines[0].startswith("error: ") or "Traceback" in child.stderr:
        return DiskFullRecord(where, False, f"exit {child.code}: {child.stderr.strip()[-300:]}")
    made = sorted(p for p in outdir.iterdir() if p.is_dir()) if outdir.is_dir() else []
    if not made:
        return DiskFullRecord(where, True, "no run directory left")
    run_dir = made[-1]
    leftovers = [p.name for p in run_dir.iterdir() if p.name.endswith(".tmp")]
    half = _half_written(run_dir)
    if leftovers or half:
        return DiskFullRecord(where, False, f"temporaries {leftovers}, half-written {half}")
    if not (run_dir / CHECKPOINT).exists():
        return DiskFullRecord(where, True, "failed in the first tick: no checkpoint to resume")
    resumed = run_child(["train", "--resume", str(run_dir)], {"kind": "none"}, workdir / "resume")
    if resumed.code != 0:
        return DiskFullRecord(where, False, f"resume failed: {resumed.stderr.strip()[-300:]}")
    end = check_run_against(run_dir, ref, final=True)
    return DiskFullRecord(where, end is None, end)


def tmpfs_available() -> bool:
    """Whether ``unshare`` can mount a private tmpfs here (no root needed where user namespaces work)."""
    if shutil.which("unshare") is None:
        return False
    with tempfile.TemporaryDirectory() as d:
        probe = subprocess.run(
            ["unshare", "-rm", "sh", "-c", f"mount -t tmpfs -o size=64k none {d}"], capture_output=True, timeout=30
        )
    return probe.returncode == 0


def tmpfs_trial(workdir: Path, size_kb: int) -> DiskFullRecord:
    """A real full disk: the tiny run writes its run directory on a ``size_kb`` tmpfs (in a private
    mount namespace); the directory is checked there and must hold nothing half-written."""
    mount = workdir / "tmpfs"
    mount.mkdir(parents=True)
    options = tiny_options_file(workdir / "tiny.json", mount / "runs")
    check = (
        f"from ganatomy.bench.faults import report_run_dirs; report_run_dirs({str(mount / 'runs')!r}, "
        f"{str(workdir / 'report.json')!r})"
    )
    script = (
        f"mount -t tmpfs -o size={size_kb}k none {mount} || exit 99; "
        f"{sys.executable} -m ganatomy train --options {options} 2> {workdir / 'err.txt'}; "
        f"echo $? > {workdir / 'rc.txt'}; {sys.executable} -c {shlex_quote(check)}"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run(["unshare", "-rm", "sh", "-c", script], env=env, capture_output=True, timeout=600)
    where = f"tmpfs of {size_kb} KiB"
    if not (workdir / "report.json").exists():
        return DiskFullRecord(where, False, "no report from inside the namespace")
    code = int((workdir / "rc.txt").read_text())
    stderr = (workdir / "err.txt").read_text()
    report = json.loads((workdir / "report.json").read_text())
    lines = stderr.strip().splitlines()
    if code == 0:
        return DiskFullRecord(where, False, "the run fitted: nothing was tested")
    one_line = code == 2 and len(lines) == 1 and lines[0].startswith("error: ")
    clean = one_line and not report["temporaries"] and not report["half_written"]
    return DiskFullRecord(where, clean, None if clean else f"exit {code}: {stderr.strip()[-200:]}; {report}")


def shlex_quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


def report_run_dirs(outdir: str, report: str) -> None:
    """Inside the tmpfs namespace: what is left of the run directories (temporaries, half-written)."""
    runs = sorted(p for p in Path(outdir).iterdir() if p.is_dir()) if Path(outdir).is_dir() else []
    temporaries = [p.name for r in runs for p in r.iterdir() if p.name.endswith(".tmp")]
    half = [name for r in runs for name in _half_written(r)]
    Path(report).write_text(json.dumps({"runs": len(runs), "temporaries": temporaries, "half_written": half}))


# ====================================================================== the benchmark
def run(quick: bool) -> BenchResult:
    from threadpoolctl import threadpool_limits

    seed = 0
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ganatomy-faults-") as tmp, threadpool_limits(limits=1):
        work = Path(tmp)
        ref = make_reference(work / "reference")

        # Kills: chains of kills with resumes in between, the write points first.
        wanted = [
            "checkpoint:mid",
            "snapshot:mid",
            "step",
            "time",
            "checkpoint:before-rename",
            "snapshot:after-rename",
            "stats:mid",
            "options:mid",
        ]
        target_kills, per_chain = (5, 5) if quick else (24, 6)
        kills, equal, chains = [], 0, 0
        while len(kills) < target_kills and chains < 3 * target_kills // per_chain:  # a chain may end early
            records, end = kill_chain(
                ref, work / f"chain{chains}", rng, min(per_chain, target_kills - len(kills)), wanted[len(kills) :]
            )
            kills += [r for r in records if r.killed]
            equal += sum(r.equal for r in records) if end is None else 0
            notes += [f"chain {chains}: {end}"] if end else []
            notes += [f"kill {r.plan['label']} left {r.detail}" for r in records if r.detail]
            chains += 1
        labels = sorted({r.plan["label"] for r in kills})
        rows.append(
            {
                "fault": "SIGKILL",
                "trials": len(kills),
                "ok": equal,
                "what": f"{chains} chains; points: {', '.join(labels)}",
            }
        )

        # Corruptions.
        trials = 12 if quick else 100
        corrupted = [
            corrupt_and_load(kind, path, trials, rng, work)
            for kind, path in corruption_inputs(ref, work / "inputs").items()
        ]
        for c in corrupted:
            rows.append(
                {
                    "fault": f"corrupt byte: {c.kind}",
                    "trials": c.trials,
                    "ok": c.detected,
                    "what": f"{c.harmless} harmless, {c.silent} silent, {c.crashed} tracebacks",
                }
            )
            notes += c.examples[:3]

        # Bad options.
        cases = bad_option_cases()
        if quick:
            cases = random.Random(seed).sample(cases, min(60, len(cases)))
        bad_results = []
        for i, (candidate, channel) in enumerate(cases):
            case_dir = work / "options" / f"{i:04d}"
            case_dir.mkdir(parents=True)
            bad_results.append(check_bad_option(candidate, channel, case_dir))
        bad_clean = sum(r.clean for r in bad_results)
        good_count, good_refused = good_options_accepted()
        rows.append(
            {
                "fault": "bad option value",
                "trials": len(bad_results),
                "ok": bad_clean,
                "what": f"{len({r.candidate.key for r in bad_results})} options x NaN/inf/negative/zero/huge/"
                f"wrong type/empty/NUL, 3 channels; {good_count - len(good_refused)}/{good_count} "
                "in-range values accepted",
            }
        )
        notes += [
            f"not clean: {r.candidate.key}={r.candidate.value!r} via {r.channel}: {r.detail}"
            for r in bad_results
            if not r.clean
        ][:10]

        # Disk full.
        points = quota_points(ref, rng, 4 if quick else 10, wanted=("checkpoint", "snapshot", "stats", "options"))
        full = [disk_full_trial(ref, work / f"full{i}", target, budget) for i, (target, budget) in enumerate(points)]
        if not quick and tmpfs_available():
            full += [tmpfs_trial(work / f"tmpfs{size}", size) for size in (48, 1200, 4000)]
        elif not quick:
            notes.append("no tmpfs: unshare cannot mount one here; the disk-full trials are simulated only")
        rows.append(
            {
                "fault": "disk full (ENOSPC)",
                "trials": len(full),
                "ok": sum(r.clean for r in full),
                "what": "; ".join(sorted({r.where.split(" (")[0] for r in full})),
            }
        )
        notes += [f"disk full in {r.where}: {r.detail}" for r in full if not r.clean]

    summary = {
        "kills": len(kills),
        "kills_bitwise_equal": equal,
        "corruptions": sum(c.trials for c in corrupted),
        "corruptions_detected": sum(c.detected for c in corrupted),
        "corruptions_harmless": sum(c.harmless for c in corrupted),
        "corruptions_silent": sum(c.silent for c in corrupted),
        "bad_options": len(bad_results),
        "bad_options_clean": bad_clean,
        "enospc": len(full),
        "enospc_clean": sum(r.clean for r in full),
        "seconds": round(time.monotonic() - started, 1),
    }
    notes.insert(
        0,
        "a corrupt byte is detected (one-line error) or harmless (the same content loads); "
        "silent: different content loaded without a word",
    )
    return BenchResult(
        name="faults",
        title="Fault injection: kills, corrupt bytes, bad options, a full disk",
        rows=rows,
        summary=summary,
        targets=[Target("kills", ">=", 20), Target("corruptions_silent", "<=", 0)],
        notes=notes,
        quick=quick,
    )
