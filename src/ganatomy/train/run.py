"""Starting and resuming a training run: options, checks, run directory, Accelerate, then the loop.

Everything that can be refused is checked before anything is written: the options, the dataset,
the networks, the metric names and, on resume, the checkpoint (its checksum, that it is finite,
that it fits the networks, that ``--kimg`` is not below its progress). Only then is the run
directory created (or, on resume, its options.json rewritten and the command appended to
command.txt), so a refused command leaves no trace.
"""

from __future__ import annotations

import contextlib
import shlex
import shutil
import sys
import warnings
from pathlib import Path

import torch
from accelerate import Accelerator
from rich.console import Console

from ganatomy.data.base import ImageDataset
from ganatomy.data.resolve import open_dataset
from ganatomy.errors import OptionsError
from ganatomy.labels.variants import LabelledData, class_head_accuracy, prepare_labels
from ganatomy.runs.options import dump_options, load_options, options_json, replace_options
from ganatomy.runs.rundir import make_run_dir
from ganatomy.train.fewer_labels import CLASS_HEAD
from ganatomy.train.loop import prepare_training, run_prepared
from ganatomy.train.options import SMALL_DATASET, TrainOptions, resolve_options
from ganatomy.train.state import RESUME_FILE, load_resume_checkpoint
from ganatomy.utils.atomic import atomic_write_text, check_output_dir, remove_stale_temporaries

REALS_FILE = "reals.png"  # a grid of real training images beside the fakes grids

__all__ = ["TrainOptions", "run_training", "stored_data_spec", "unlisted_images"]

COMMAND_FILE = "command.txt"


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
    resume_state = None
    if resume_dir is not None:
        resume_dir = Path(resume_dir)
        opts = load_options(TrainOptions, resume_dir / "options.json")
        if kimg is not None:
            opts = replace_options(opts, kimg=kimg)
        resume_file = resume_dir / RESUME_FILE
        if not resume_file.is_file():
            raise OptionsError(
                f"{resume_dir}: no {RESUME_FILE} yet (the run stopped before its first tick); start it again"
            )
        resume_state = load_resume_checkpoint(resume_file)  # verified before anything is rewritten
    assert opts is not None
    dataset = open_dataset(opts.data)
    opts = resolve_options(opts, dataset.resolution, on_gpu=accelerator.device.type == "cuda")
    opts = replace_options(opts, data=stored_data_spec(opts.data, dataset))
    if resume_dir is None:
        check_output_dir(opts.outdir, "--outdir")
    # The variant's labels (inferred ones too) before the networks: their classes size G and D.
    labelled = prepare_labels(opts.labels, dataset, seed=opts.seed, stored=resume_dir, infer=not dry_run)
    dataset = labelled.dataset
    prepared = prepare_training(opts, dataset, accelerator, resume_state)
    if accelerator.is_main_process:
        _warn_about_unlisted_images(dataset)
        _warn_about_small_data(dataset, opts)
        _warn_about_emulated_bf16(opts, accelerator.device)
        if dry_run:
            console.print_json(options_json(opts))
    if dry_run:
        return Path(opts.outdir)

    new_run = resume_dir is None
    run_dir = _new_run_dir(opts, accelerator) if new_run else resume_dir
    if accelerator.is_main_process:
        try:
            if not new_run:
                remove_stale_temporaries(run_dir)  # of writes a kill interrupted
            dump_options(opts, run_dir / "options.json")
            if new_run:
                labelled.save(run_dir)
            _append_command(run_dir)
        except BaseException:
            if new_run:  # nothing of it can be resumed: leave no directory behind
                shutil.rmtree(run_dir, ignore_errors=True)
            raise
        resuming = f" (resuming from {run_dir / RESUME_FILE})" if not new_run else ""
        console.print(f"run directory: {run_dir}{resuming}")
        if new_run:
            write_reals(dataset, run_dir / REALS_FILE, opts.grid_size, opts.seed)
    try:
        run_prepared(prepared, run_dir)
    except KeyboardInterrupt:
        if accelerator.is_main_process:
            console.print(
                f"interrupted; the last finished tick is kept. Continue with: {_resume_command(run_dir)}",
                soft_wrap=True,
            )
        raise
    if accelerator.is_main_process:
        _record_class_head_accuracy(labelled, prepared, run_dir)
        _print_summary(run_dir, prepared, console)
    # Stop the process group's threads while the interpreter is alive: a gloo process that exits with its
    # group still up can abort at finalisation ("terminate called without an active exception"). Only
    # after success: tearing a group down while another process is mid-collective can hang. The barrier
    # first, so that no rank tears down while rank 0 still writes its summary (once, under load, a rank
    # aborted at teardown without it).
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return run_dir


def _resume_command(run_dir: Path, kimg: float | None = None) -> str:
    more = f" --kimg {kimg:g}" if kimg is not None else ""
    return f"ganatomy train --resume {shlex.quote(str(run_dir))}{more}"


def write_reals(dataset: ImageDataset, path: Path, count: int, seed: int) -> None:
    """A grid of ``count`` real training images (a seeded draw), beside the fakes grids, to compare."""
    import numpy as np

    from ganatomy.utils.images import save_image_grid

    rng = np.random.default_rng(seed)
    indices = np.sort(rng.choice(len(dataset), size=min(count, len(dataset)), replace=False))
    save_image_grid(path, dataset.get_images(indices).float() / 127.5 - 1)


def _print_summary(run_dir: Path, prepared, console: Console) -> None:
    """Where the result is, what it measured, and how to go on."""
    import json

    snapshots = sorted(run_dir.glob("network-snapshot-*.safetensors"))
    kimg = prepared.counters.cur_nimg / 1000
    console.print(f"finished at {kimg:g} kimg in {prepared.counters.seconds / 60:.1f} training minutes")
    if snapshots:
        console.print(f"snapshot: {snapshots[-1]}", soft_wrap=True)
    metrics = run_dir / "metrics.jsonl"
    if metrics.is_file():
        last = {}
        for line in metrics.read_text().splitlines():
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                last.update(record.get("results", {}))
        if last:
            shown = ", ".join(f"{k} {v:.4g}" for k, v in last.items() if isinstance(v, float))
            console.print(f"metrics: {shown}", soft_wrap=True)
    console.print(f"train longer: {_resume_command(run_dir, kimg * 2)}", soft_wrap=True)


def _record_class_head_accuracy(labelled: LabelledData, prepared, run_dir: Path) -> None:
    """For S2GAN-CO / S3GAN, the inferred labels are D's class head's: their accuracy on the
    unlabelled images, measured once training has stopped, goes into labels.json."""
    if labelled.record is None or CLASS_HEAD not in prepared.nets.D.heads:
        return
    accuracy = class_head_accuracy(prepared.nets.D, labelled.dataset, CLASS_HEAD)
    labelled.record.update(label_accuracy=accuracy, label_accuracy_kimg=prepared.counters.cur_nimg / 1000)
    labelled.save(run_dir)


def _append_command(run_dir: Path) -> None:
    """One line per invocation (the start, then each resume): the run's whole history."""
    history = run_dir / COMMAND_FILE
    previous = history.read_text() if history.is_file() else ""
    atomic_write_text(history, previous + shlex.join(sys.argv) + "\n")


def stored_data_spec(spec: str, dataset: ImageDataset) -> str:
    """What options.json records for ``--data``: a path as the absolute path the dataset was read
    from (so that ``--resume`` and ``evaluate`` work from any directory), a name (world:32,
    fashion-mnist) as given."""
    location = getattr(dataset, "path", None) or getattr(dataset, "root", None)
    if location is None or not Path(spec).expanduser().exists():
        return spec
    return str(Path(location).expanduser().resolve())


def unlisted_images(dataset: ImageDataset) -> list[str]:
    """Image files of a folder or zip that its dataset.json does not list (so training skips them);
    masks named in dataset.json are not images."""
    metadata = getattr(dataset, "metadata", None)
    if not isinstance(metadata, dict) or not metadata.get("labels") or getattr(dataset, "path", None) is None:
        return []  # not a folder or zip, or every image file is used
    from ganatomy.data.folder import IMAGE_EXTENSIONS, _open_source  # the loader's own view of the files

    source = _open_source(Path(dataset.path))
    try:
        files = source.list_files()
    finally:
        source.close()
    known = set(dataset.relpaths) | {m[1] for m in metadata.get("masks") or [] if isinstance(m, list)}
    return [
        rel
        for rel in files
        if rel.lower().endswith(IMAGE_EXTENSIONS)
        and rel not in known
        and not any(part.startswith(".") or part == "__MACOSX" for part in rel.split("/"))
    ]


def _warn_about_small_data(dataset: ImageDataset, opts: TrainOptions) -> None:
    if len(dataset) < SMALL_DATASET and opts.augment.mode == "noaug" and not opts.augment.mirror:
        warnings.warn(
            f"{dataset.name} has {len(dataset)} images; D will overfit so few without augmentation: "
            "add --aug ada (and --mirror if left-right flips keep the images valid)",
            stacklevel=2,
        )


def _warn_about_emulated_bf16(opts: TrainOptions, device: torch.device) -> None:
    """bf16 asked for (or resumed with) where the device only emulates it: a quarter of float32's speed."""
    from ganatomy.utils.precision import native_bf16

    if opts.precision == "bf16" and not native_bf16(device):
        warnings.warn(
            f"this {device.type} computes bf16 by emulation (no avx512_bf16 or AMX): bf16 autocast runs at "
            "about a quarter of float32's speed here; train with --precision auto or fp32",
            stacklevel=3,
        )


def _warn_about_unlisted_images(dataset: ImageDataset) -> None:
    """A warning (the CLI prints it as one ``warning:`` line on stderr, away from --dry-run's JSON)."""
    left_out = unlisted_images(dataset)
    if left_out:
        warnings.warn(
            f"{dataset.path}: dataset.json lists {len(dataset)} images; {len(left_out)} other image "
            f"file(s) are left out of training (e.g. {left_out[0]})",
            stacklevel=3,
        )


def _new_run_dir(opts: TrainOptions, accelerator: Accelerator) -> Path:
    """Rank 0 creates the numbered directory; the others learn its name."""
    from accelerate.utils import broadcast_object_list

    name = [None]
    if accelerator.is_main_process:
        data = opts.data.rstrip("/").split("/")[-1].removesuffix(".zip")
        name[0] = str(make_run_dir(opts.outdir, "train", data, opts.network.arch))
    if accelerator.num_processes > 1:
        broadcast_object_list(name, from_process=0)
    return Path(name[0])
