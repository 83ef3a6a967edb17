"""One statistics reporter: values reported anywhere feed the progress bar, stats.jsonl and TensorBoard.

Values are averaged between flushes (one flush per "tick"); the x axis is images seen, in kimg,
so curves from runs with different batch sizes line up.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from collections import defaultdict
from pathlib import Path

import torch
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from ganatomy.utils.atomic import output_error

STATS_FILE = "stats.jsonl"


class StatsReporter:
    """Collect scalar statistics and publish them once per tick.

    Args:
        run_dir: where ``stats.jsonl`` (appended, so a resumed run continues it) and the
            TensorBoard event files go.
        total: the length of the job in ``unit`` (e.g. kimg), for the progress bar.
        start: where a resumed job starts.
        tensorboard: write TensorBoard events too.
        progress: show a progress bar on the console.
        tensorboard_purge_step: for a resumed job, the first step (in ``unit`` / 1000) that it logs
            again: TensorBoard hides the earlier sessions' events from that step on (its
            ``purge_step``), so that each step is shown once.
    """

    def __init__(
        self,
        run_dir: str | os.PathLike,
        total: float,
        unit: str = "kimg",
        start: float = 0.0,
        tensorboard: bool = True,
        progress: bool = True,
        description: str = "training",
        tensorboard_purge_step: int | None = None,
    ):
        self.run_dir = Path(run_dir)
        self.unit = unit
        self._sums: dict[str, float] = defaultdict(float)
        self._counts: dict[str, int] = defaultdict(int)
        self._jsonl = open(self.run_dir / STATS_FILE, "a", encoding="utf-8")
        self._writer = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter  # optional, imported lazily

            self._writer = SummaryWriter(log_dir=str(self.run_dir / "tensorboard"), purge_step=tensorboard_purge_step)
        self._progress = None
        self._last: dict[str, float] = {}
        if progress:
            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TextColumn("{task.completed:.1f}/{task.total:.1f} " + unit),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                TextColumn("{task.fields[summary]}"),
                transient=False,
            )
            self._progress.start()
            self._task = self._progress.add_task(description, total=total, completed=start, summary="")
        self._t0 = time.time()

    def report(self, name: str, value: float | torch.Tensor) -> None:
        """Add one observation (a number or a tensor whose elements are all observations)."""
        if isinstance(value, torch.Tensor):
            value = value.detach().float()
            self._sums[name] += float(value.sum())
            self._counts[name] += value.numel()
        else:
            self._sums[name] += float(value)
            self._counts[name] += 1

    def advance(self, position: float) -> None:
        """Move the progress bar to ``position`` (in ``unit``)."""
        if self._progress is not None:
            self._progress.update(self._task, completed=position)

    def flush(self, position: float, extra: dict[str, float] | None = None) -> dict[str, float]:
        """Average what was reported since the last flush and publish it at ``position``."""
        means = {k: self._sums[k] / self._counts[k] for k in self._sums if self._counts[k]}
        means.update(extra or {})
        record = {self.unit: round(position, 6), "timestamp": time.time(), **means}
        self._append(json.dumps(record, allow_nan=True) + "\n")
        if self._writer is not None:
            for k, v in means.items():
                if math.isfinite(v):
                    self._writer.add_scalar(k, v, global_step=int(round(position * 1000)))
            self._writer.flush()
        if self._progress is not None:
            shown = list(means.items())[:4]
            summary = "  ".join(f"{k.split('/')[-1]}={v:.3g}" for k, v in shown)
            self._progress.update(self._task, completed=position, summary=summary)
        self._sums.clear()
        self._counts.clear()
        self._last = means
        return means

    def _append(self, line: str) -> None:
        """Append one record; a failed write (disk full) is cut off again, so no partial line stays."""
        start = os.fstat(self._jsonl.fileno()).st_size  # every earlier record is flushed
        try:
            self._jsonl.write(line)
            self._jsonl.flush()
        except OSError as e:
            with contextlib.suppress(OSError):  # its buffer holds the unwritten rest: dropped with it
                self._jsonl.close()
            os.truncate(self.run_dir / STATS_FILE, start)
            self._jsonl = open(self.run_dir / STATS_FILE, "a", encoding="utf-8")
            raise output_error(self.run_dir / STATS_FILE, e) from None

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if not self._jsonl.closed:
            self._jsonl.close()

    def __enter__(self) -> StatsReporter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
