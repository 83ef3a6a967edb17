"""The human-readable training log: one line per tick, as NVIDIA's log.txt, on stdout and in the run.

``stats.jsonl`` and TensorBoard hold every number for programs; this line is for a person reading a
terminal or a log file (``--no-progress``): tick, kimg, wall time, seconds per kimg, the losses and
scores of the tick, the augmentation strength when there is one, and the process's peak memory.
"""

from __future__ import annotations

import resource
import sys
from pathlib import Path

LOG_FILE = "log.txt"
# what the line shows of a tick's means, in this order, under these short names
_SHOWN = {
    "loss/G": "loss_G",
    "loss/D": "loss_D",
    "scores/real": "real",
    "scores/fake": "fake",
    "loss/r1_penalty": "r1",
    "loss/pl_penalty": "pl",
    "augment/p": "aug_p",
}


def _clock(seconds: float) -> str:
    minutes, s = divmod(int(seconds), 60)
    hours, m = divmod(minutes, 60)
    return f"{hours}h{m:02d}m{s:02d}s" if hours else f"{m}m{s:02d}s"


def peak_memory_gb() -> float:
    """The process's peak resident memory in GB (ru_maxrss is kB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1e9 if sys.platform == "darwin" else 1e6)


def tick_line(tick: int, kimg: float, seconds: float, tick_seconds: float, tick_kimg: float, means: dict) -> str:
    """``tick 12  kimg 48.0  time 9m30s  sec/kimg 9.55  loss_G 2.10  loss_D 0.84 ...  mem 1.23GB``."""
    parts = [f"tick {tick:<5d}", f"kimg {kimg:<8.1f}", f"time {_clock(seconds):<10s}"]
    parts.append(f"sec/kimg {tick_seconds / max(tick_kimg, 1e-9):<7.2f}")
    parts += [f"{short} {means[key]:<7.3g}" for key, short in _SHOWN.items() if key in means]
    parts.append(f"mem {peak_memory_gb():.2f}GB")
    return "  ".join(p.rstrip() for p in parts)


def append_log(run_dir: Path, line: str) -> None:
    """One line at the end of the run's log.txt (a person's log: appended, never rewritten)."""
    with open(Path(run_dir) / LOG_FILE, "a", encoding="utf-8") as f:
        f.write(line + "\n")
