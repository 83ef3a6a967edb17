"""Starting and resuming a training run: options, run directory, Accelerate, then the loop."""

from __future__ import annotations

import dataclasses
import shlex
import sys
from pathlib import Path

import torch
from accelerate import Accelerator
from rich.console import Console

from ganatomy.data.resolve import open_dataset
from ganatomy.errors import OptionsError
from ganatomy.runs.options import dump_options, load_options, options_json
from ganatomy.runs.rundir import make_run_dir
from ganatomy.utils.atomic import atomic_write_text
from ganatomy.train.loop import training_loop
from ganatomy.train.options import TrainOptions, resolve_options
from ganatomy.train.state import RESUME_FILE

__all__ = ["TrainOptions", "run_training"]


def run_training(
    opts: TrainOptions | None = None,
    resume_dir: Path | None = None,
    kimg: float | None = None,
    console: Console | None = None,
    dry_run: bool = False,
) -> Path:
    """Start a new run from ``opts`` or continue the one in ``resume_dir``; returns the run directory."""
    console = console or Console()
    accelerator = Accelerator(cpu=not torch.cuda.is_available())
    resume_file = None
    if resume_dir is not None:
        resume_dir = Path(resume_dir)
        opts = load_options(TrainOptions, resume_dir / "options.json")
        if kimg is not None:
            opts = dataclasses.replace(opts, kimg=kimg)
        resume_file = resume_dir / RESUME_FILE
        if not resume_file.is_file():
            raise OptionsError(f"{resume_dir}: no {RESUME_FILE} yet (the run stopped before its first tick); start it again")
    assert opts is not None
    dataset = open_dataset(opts.data)
    opts = resolve_options(opts, dataset.resolution, on_gpu=accelerator.device.type == "cuda")
    if dry_run:
        console.print_json(options_json(opts)) if accelerator.is_main_process else None
        return Path(opts.outdir)
    if resume_dir is not None:
        run_dir = resume_dir
    else:
        run_dir = _new_run_dir(opts, accelerator)
    if accelerator.is_main_process:
        dump_options(opts, run_dir / "options.json")
        # One line per invocation (the start, then each resume): the run's whole history.
        history = run_dir / "command.txt"
        previous = history.read_text() if history.is_file() else ""
        atomic_write_text(history, previous + shlex.join(sys.argv) + "\n")
        console.print(f"run directory: {run_dir}" + (f" (resuming from {resume_file})" if resume_file else ""))
    training_loop(opts, run_dir, dataset, accelerator, resume=resume_file)
    return run_dir


def _new_run_dir(opts: TrainOptions, accelerator: Accelerator) -> Path:
    """Rank 0 creates the numbered directory; the others learn its name."""
    from accelerate.utils import broadcast_object_list

    name = [None]
    if accelerator.is_main_process:
        name[0] = str(make_run_dir(opts.outdir, "train", opts.data.split("/")[-1], opts.network.arch))
    if accelerator.num_processes > 1:
        broadcast_object_list(name, from_process=0)
    return Path(name[0])
