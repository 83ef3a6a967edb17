"""A small supervised trainer: AdamW, warm-up + cosine schedule, losses logged, checkpoint and exact resume.

The caller owns the data and the loss; the trainer owns the optimisation and the bookkeeping::

    def loss_fn(model, step, generator):          # -> {"loss": objective, other name: value, ...}
        x, y = batch(step, generator)             # draw randomness from ``generator`` (saved on checkpoint)
        return {"loss": F.mse_loss(model(x), y)}

    Trainer(model, loss_fn, steps=1000, lr=1e-3, run_dir=run_dir, checkpoint_every=100).fit(resume=True)

Per step: ``loss_fn``, a finite check of ``"loss"`` (a NaN or Inf stops the run with a one-line
``TrainingDiverged``; the last checkpoint is kept), ``zero_grad``, ``backward``, optional gradient
clipping, the optimizer step and the schedule step. The learning rate rises linearly over
``warmup`` steps, then falls along a cosine to ``final_lr`` x the peak at the last step.

Every ``WINDOW`` steps the means of the reported values go to the progress bar (or, without one,
a log line every ``log_every`` steps), to ``curve`` ([step, mean loss] pairs) and, with a
``run_dir``, to ``stats.jsonl`` (and TensorBoard) through the project's stats reporter
(``ganatomy.runs.stats``), whose x axis is the step.

With a ``run_dir`` and ``checkpoint_every``, ``run_dir/checkpoint.safetensors`` is rewritten
atomically every ``checkpoint_every`` steps and at the end: model, optimizer, schedule, step,
the trainer's ``generator``, torch's global RNG (dropout draws from it), the loss curve, and
``loss_fn.state_dict()`` when the loss function is an object that has one (a data order, say).
``fit(resume=True)`` continues from it and ends with the same weights as an uninterrupted run;
``stats.jsonl`` is cut back to the checkpoint first, so no step is logged twice.

The trainer never seeds torch's global RNG (library code should not): seed it before building
the model if the model's initialisation or dropout should be reproducible.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from ganatomy.errors import CheckpointError, OptionsError, TrainingDiverged
from ganatomy.runs.checkpoint import load_checkpoint, save_checkpoint
from ganatomy.runs.logs import truncate_jsonl
from ganatomy.runs.stats import STATS_FILE, StatsReporter

CHECKPOINT_FILE = "checkpoint.safetensors"
FORMAT = "ganatomy-fit-state"
# Steps averaged into one logged value (and one point of the loss curve).
WINDOW = 10

Log = Callable[[str], None]
Values = dict[str, "torch.Tensor | float"]


class LossFunction(Protocol):
    """``(model, step, generator) -> {"loss": tensor to minimise, other names: values to log}``."""

    def __call__(self, model: nn.Module, step: int, generator: torch.Generator) -> Values: ...


def warmup_cosine(step: int, total: int, warmup: int, final: float = 0.01) -> float:
    """Learning-rate factor at ``step``: linear warm-up over ``warmup`` steps, then a cosine down to ``final``
    at ``total``."""
    if step < warmup:
        return (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return final + (1.0 - final) * 0.5 * (1.0 + math.cos(math.pi * min(t, 1.0)))


@dataclasses.dataclass(frozen=True)
class TrainerSettings:
    """What decides the result of a run: a resume must use the same (checked against the checkpoint)."""

    steps: int
    lr: float
    weight_decay: float
    warmup: int
    final_lr: float
    seed: int
    max_grad_norm: float | None

    def __post_init__(self) -> None:
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 1:
            raise OptionsError(f"trainer: steps must be a positive integer, got {self.steps!r}")
        if not self.lr > 0 or self.weight_decay < 0 or self.warmup < 0 or not 0 <= self.final_lr <= 1:
            raise OptionsError(
                f"trainer: need lr > 0, weight_decay >= 0, warmup >= 0 and 0 <= final_lr <= 1; got lr {self.lr}, "
                f"weight_decay {self.weight_decay}, warmup {self.warmup}, final_lr {self.final_lr}"
            )
        if self.max_grad_norm is not None and not self.max_grad_norm > 0:
            raise OptionsError(f"trainer: max_grad_norm must be > 0 (or None), got {self.max_grad_norm}")


class _LossLog:
    """Window means of the reported values: progress bar or log lines, the loss curve, the stats reporter."""

    def __init__(
        self,
        total: int,
        description: str,
        show: bool,
        log: Log | None,
        log_every: int,
        reporter: StatsReporter | None,
        curve: list[list[float]],
        sums: dict[str, float],
        done: int,
    ):
        # ``curve`` and ``sums`` are the trainer's own containers, updated in place (its checkpoint reads them).
        self.total, self.log, self.log_every, self.reporter = total, log, max(1, log_every), reporter
        self.curve, self.sums = curve, sums
        self.bar = None
        if show:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

            self.bar = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total}"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                TextColumn("{task.fields[summary]}"),
            )
            self.bar.start()
            self.task = self.bar.add_task(description, total=total, completed=done, summary="")

    def step(self, done: int, values: Values) -> dict[str, float]:
        """Add step ``done``'s values (``loss`` among them), publish the means at a window's end; returns
        the values as floats."""
        floats = {k: float(v.detach() if isinstance(v, torch.Tensor) else v) for k, v in values.items()}
        for k, v in floats.items():
            self.sums[k] = self.sums.get(k, 0.0) + v
        if done % WINDOW and done != self.total:
            return floats
        n = WINDOW if done % WINDOW == 0 else done % WINDOW
        means = {k: v / n for k, v in self.sums.items()}
        self.sums.clear()
        self.curve.append([done, round(means["loss"], 6)])
        summary = "  ".join(f"{k}={v:.4g}" for k, v in means.items())
        if self.reporter is not None:
            self.reporter.flush(done, extra=means)
        if self.bar is not None:
            self.bar.update(self.task, completed=done, summary=summary)
        if self.log and (done % self.log_every == 0 or done == self.total):
            self.log(f"step {done}/{self.total}  {summary}")
        return floats

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None
        if self.reporter is not None:
            self.reporter.close()


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


class Trainer:
    """Fit ``model`` by minimising ``loss_fn`` for ``steps`` steps (see the module docstring).

    Args:
        model: the network (several networks: an ``nn.ModuleDict``); every parameter is optimised.
        loss_fn: ``(model, step, generator) -> {"loss": ..., ...}``; it runs autocast itself if it
            wants mixed precision.
        steps: optimizer steps in all (a resumed run counts the steps before the kill).
        lr, weight_decay: AdamW's peak learning rate and decoupled weight decay.
        warmup, final_lr: the schedule (``warmup_cosine``).
        seed: seed of ``generator``, the stream ``loss_fn`` draws batches and augmentation from.
        max_grad_norm: clip the gradient norm to this (None: no clipping).
        run_dir: where ``stats.jsonl`` and the checkpoint go (None: nothing is written).
        checkpoint_every: steps between checkpoints (0: none; needs ``run_dir``).
        progress: show a progress bar; else ``log`` gets a line every ``log_every`` steps.
        tensorboard: also write TensorBoard events to ``run_dir/tensorboard``.
        description: the name of the run in the progress bar and in errors.

    After ``fit``: ``step`` (steps done), ``curve``, ``seconds`` (training time over all resumes),
    ``last_values`` (the last step's values, as floats).
    """

    def __init__(
        self,
        model: nn.Module,
        loss_fn: LossFunction,
        steps: int,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        warmup: int = 0,
        final_lr: float = 0.01,
        seed: int = 0,
        max_grad_norm: float | None = None,
        run_dir: str | os.PathLike | None = None,
        checkpoint_every: int = 0,
        progress: bool = True,
        log: Log | None = None,
        log_every: int = 100,
        tensorboard: bool = False,
        description: str = "training",
    ):
        self.settings = TrainerSettings(steps, lr, weight_decay, warmup, final_lr, seed, max_grad_norm)
        if checkpoint_every < 0 or (checkpoint_every and run_dir is None):
            raise OptionsError("trainer: checkpoint_every must be >= 0, and checkpoints need a run_dir")
        self.model, self.loss_fn = model, loss_fn
        self.run_dir = None if run_dir is None else Path(run_dir)
        self.checkpoint_every = int(checkpoint_every)
        self.progress, self.log, self.log_every = progress, log, log_every
        self.tensorboard, self.description = tensorboard, description
        self.generator = torch.Generator().manual_seed(seed)
        self.optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda s: warmup_cosine(s, steps, warmup, final_lr)
        )
        self.step = 0
        self.curve: list[list[float]] = []
        self.seconds = 0.0
        self.last_values: dict[str, float] = {}
        self._window_sums: dict[str, float] = {}

    # ------------------------------------------------------------------ checkpoints
    @property
    def checkpoint_path(self) -> Path | None:
        return None if self.run_dir is None else self.run_dir / CHECKPOINT_FILE

    def state_dict(self) -> dict[str, Any]:
        """Everything a resume needs, as a checkpoint tree."""
        state = {
            "format": FORMAT,
            "settings": dataclasses.asdict(self.settings),
            "step": self.step,
            "seconds": self.seconds,
            "curve": self.curve,
            "window_sums": self._window_sums,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "rng": {"generator": self.generator.get_state(), "torch": torch.get_rng_state()},
            "loss_fn": self.loss_fn.state_dict() if hasattr(self.loss_fn, "state_dict") else None,
        }
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state["rng"]["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state: dict[str, Any], where: str = "checkpoint") -> None:
        if state.get("format") != FORMAT:
            raise CheckpointError(f"{where}: not a trainer checkpoint (format {state.get('format')!r})")
        ours = dataclasses.asdict(self.settings)
        theirs = state.get("settings") or {}
        changed = [k for k in ours if theirs.get(k) != ours[k]]
        if changed:
            k = changed[0]
            raise CheckpointError(f"{where}: was written with {k}={theirs.get(k)!r}, this run has {k}={ours[k]!r}")
        try:
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.scheduler.load_state_dict(state["scheduler"])
            if state["loss_fn"] is not None:
                self.loss_fn.load_state_dict(state["loss_fn"])
        except (KeyError, RuntimeError, ValueError) as e:
            raise CheckpointError(f"{where}: does not fit this model ({_one_line(e)})") from None
        self.generator.set_state(state["rng"]["generator"])
        torch.set_rng_state(state["rng"]["torch"])
        if "cuda" in state["rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["rng"]["cuda"])
        self.step, self.seconds = int(state["step"]), float(state["seconds"])
        self.curve = [list(point) for point in state["curve"]]
        self._window_sums = dict(state["window_sums"])

    def save_checkpoint(self) -> Path:
        path = self.checkpoint_path
        if path is None:
            raise OptionsError("trainer: no run_dir, so nowhere to write a checkpoint")
        save_checkpoint(path, self.state_dict())
        return path

    def _resume(self) -> None:
        path = self.checkpoint_path
        if path is None or not path.is_file():
            return
        self.load_state_dict(load_checkpoint(path), str(path))
        # Records after the checkpoint belong to steps that will run again.
        truncate_jsonl(self.run_dir / STATS_FILE, lambda record: record.get("step", math.inf) <= self.step)

    # ------------------------------------------------------------------ training
    def _losses(self, step: int) -> tuple[torch.Tensor, Values]:
        values = self.loss_fn(self.model, step, self.generator)
        loss = values.get("loss") if isinstance(values, dict) else None
        if not isinstance(loss, torch.Tensor):
            raise TypeError(f"{self.description}: the loss function must return a dict with a tensor 'loss'")
        if not torch.isfinite(loss):
            raise TrainingDiverged(
                f"{self.description}: the loss became {float(loss.detach())} at step {step}; lower the learning rate"
            )
        return loss, values

    def fit(self, resume: bool = False) -> Trainer:
        """Train up to ``steps`` (from the checkpoint in ``run_dir`` when ``resume`` and one exists)."""
        if resume:
            self._resume()
        reporter = None
        if self.run_dir is not None:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            reporter = StatsReporter(
                self.run_dir,
                total=self.settings.steps,
                unit="step",
                start=self.step,
                tensorboard=self.tensorboard,
                progress=False,
            )
        log = _LossLog(
            self.settings.steps,
            self.description,
            self.progress,
            self.log,
            self.log_every,
            reporter,
            self.curve,
            self._window_sums,
            self.step,
        )
        self.model.train()
        t0 = time.perf_counter()
        try:
            while self.step < self.settings.steps:
                loss, values = self._losses(self.step)
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if self.settings.max_grad_norm is not None:
                    nn.utils.clip_grad_norm_(self.model.parameters(), self.settings.max_grad_norm)
                self.optimizer.step()
                self.scheduler.step()
                self.step += 1
                self.last_values = log.step(self.step, values)
                last = self.step == self.settings.steps
                if self.checkpoint_every and (self.step % self.checkpoint_every == 0 or last):
                    now = time.perf_counter()
                    self.seconds, t0 = self.seconds + now - t0, now
                    self.save_checkpoint()
        finally:
            self.seconds += time.perf_counter() - t0
            log.close()
        return self
