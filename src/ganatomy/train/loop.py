"""The training loop: ticks of D and G steps, with stats, grids and checkpoints at tick ends.

Progress is counted in images shown to D (``cur_nimg``). A tick is ``tick_kimg`` thousand images;
at its end the loop checks that every weight, EMA weight and optimizer value is finite, reports
statistics, writes the fixed-seed grid, every ``snapshot_ticks`` ticks a network snapshot, and
rewrites the resume checkpoint last. Random streams are re-seeded from (seed, rank, tick) at every
tick start, which is what makes a resume exact. What a step optimises, and which labels it sees,
is the training objective's (``train/objectives.py``).

``prepare_training`` does everything that can fail on the user's input (the dataset's labels, the
metric names, the networks, the resume checkpoint) and writes nothing; ``run_prepared`` then
trains in a run directory. A divergence, at a step or in the tick-end check, stops the run before
anything of its tick is written, so the checkpoint on disk is the last finite one.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator

from ganatomy.data.base import ImageDataset
from ganatomy.errors import CheckpointError, GanatomyError, OptionsError, TrainingDiverged
from ganatomy.labels.variants import dataset_class_names
from ganatomy.latent.sampling import seeded_latents
from ganatomy.runs.logs import truncate_jsonl
from ganatomy.runs.options import options_to_dict
from ganatomy.runs.stats import STATS_FILE, StatsReporter
from ganatomy.train.augment import AdaptiveAugment, mirror
from ganatomy.train.distributed import broadcast_module, gather_digests
from ganatomy.train.ema import ema_beta, update_ema
from ganatomy.train.log import append_log, tick_line
from ganatomy.train.metrics import METRICS_FILE, check_metric_names, evaluate_during_training, metrics_due
from ganatomy.train.objectives import Objective, make_objective
from ganatomy.train.options import TrainOptions
from ganatomy.train.phases import Networks, StepContext
from ganatomy.train.setup import build_optimizers, build_run_networks
from ganatomy.train.state import (
    RESUME_FILE,
    describe_non_finite,
    kimg_label,
    load_resume_checkpoint,
    non_finite_tensors,
    save_network_snapshot,
    save_resume_checkpoint,
    snapshot_name,
    tick_seed,
)
from ganatomy.utils.atomic import atomic_write_text
from ganatomy.utils.images import save_image_grid


@dataclasses.dataclass
class Counters:
    cur_nimg: int = 0
    tick: int = 0
    step: int = 0
    seconds: float = 0.0  # training time so far, over all sessions
    cpu_seconds: float = 0.0  # CPU time of the training process(es) so far: a budget other jobs cannot shrink
    augment: dict = dataclasses.field(default_factory=dict)  # ADA's p and window at the tick end (train/augment.py)


@dataclasses.dataclass
class _Run:
    """What the tick-end bookkeeping needs of a run."""

    opts: TrainOptions
    run_dir: Path
    dataset: ImageDataset
    nets: Networks
    G_ema: torch.nn.Module
    objective: Objective
    options_dict: dict
    stats: StatsReporter


def autocast_factory(device: torch.device, precision: str):
    """A context-manager factory: bf16 autocast on ``device`` for precision 'bf16', nothing for 'fp32'."""
    if precision == "bf16":
        return lambda: torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext


def _real_batch(
    dataset: ImageDataset, n: int, generator: torch.Generator, device, flips: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    idx = torch.randint(len(dataset), (n,), generator=generator).numpy()
    images, labels = dataset.get_batch(idx)
    images = images.to(device).float().div(127.5).sub(1.0)
    return (mirror(images, generator) if flips else images), labels.to(device)


def make_augment(opts: TrainOptions, counters: Counters) -> AdaptiveAugment | None:
    """The run's augmentation (None without one), at the strength its counters reached."""
    a = opts.augment
    if a.mode == "noaug":
        return None
    pipe = AdaptiveAugment(a.p, a.mode == "ada", a.target, a.interval, a.speed_kimg)
    if counters.augment:
        pipe.load_state(counters.augment)
    return pipe


@torch.no_grad()
def write_grid(G_ema, path: Path, grid_z: torch.Tensor, grid_c: torch.Tensor | None) -> None:
    images = torch.cat(
        [
            G_ema.synthesize(z, "z", c=c)
            for z, c in zip(
                grid_z.split(32), grid_c.split(32) if grid_c is not None else [None] * len(grid_z.split(32))
            )
        ]
    )
    save_image_grid(path, images.clamp(-1, 1))


@dataclasses.dataclass
class Prepared:
    """A run ready to train: checked options and data, built networks, the resume state applied."""

    opts: TrainOptions
    dataset: ImageDataset
    accelerator: Accelerator
    objective: Objective
    nets: Networks
    G_ema: torch.nn.Module
    counters: Counters
    resumed: bool


def prepare_training(
    opts: TrainOptions, dataset: ImageDataset, accelerator: Accelerator, resume: Path | Mapping | None = None
) -> Prepared:
    """Check everything and build the networks (restored from ``resume``, a checkpoint path or its
    loaded tree); writes nothing, so a refusal leaves no trace."""
    world = accelerator.num_processes
    if opts.batch % world:
        raise OptionsError(f"batch {opts.batch} does not split evenly over {world} processes")
    objective = make_objective(opts)
    objective.check_dataset(dataset)
    check_metric_names(opts.metrics, dataset)
    if opts.deterministic:
        torch.use_deterministic_algorithms(True)

    device = accelerator.device
    torch.manual_seed(opts.seed)  # network initialisation: identical on every process
    G, D, G_ema = build_run_networks(opts, dataset, objective)  # the objective's D heads too, before the optimizers
    G, D = G.to(device), D.to(device)
    if opts.channels_last:
        D = D.to(memory_format=torch.channels_last)
        G = G.to(memory_format=torch.channels_last)
    G_ema = (copy.deepcopy(G) if G_ema is None else G_ema.to(device)).eval().requires_grad_(False)
    nets = Networks(G, D, *build_optimizers(opts, G, D))
    counters = Counters()
    if resume is not None:
        state = resume if isinstance(resume, Mapping) else load_resume_checkpoint(resume)
        counters = _restore(state, nets, G_ema, objective)
        if counters.cur_nimg > int(round(opts.kimg * 1000)):
            raise OptionsError(
                f"--kimg {opts.kimg:g} is below the {counters.cur_nimg / 1000:g} kimg this run has "
                "trained already; give at least that much"
            )
    for module in (G, D, G_ema):
        broadcast_module(module, accelerator)
    return Prepared(opts, dataset, accelerator, objective, nets, G_ema, counters, resume is not None)


def _restore(state: Mapping, nets: Networks, G_ema: torch.nn.Module, objective: Objective) -> Counters:
    """Load a resume checkpoint's tree into the networks, optimizers and objective."""
    try:
        nets.G.load_state_dict(state["G"]["state"])
        nets.D.load_state_dict(state["D"]["state"])
        G_ema.load_state_dict(state["G_ema"]["state"])
        nets.opt_G.load_state_dict(state["opt_G"])
        nets.opt_D.load_state_dict(state["opt_D"])
        counters = Counters(**state["counters"])
    except (KeyError, TypeError, ValueError, RuntimeError) as e:  # torch reports mismatches as RuntimeError
        problem = " ".join(str(e).split())[:300]
        raise CheckpointError(f"the resume checkpoint does not fit the networks of options.json ({problem})") from None
    objective.load_state_dict(state["objective"])
    return counters


def training_loop(
    opts: TrainOptions,
    run_dir: Path,
    dataset: ImageDataset,
    accelerator: Accelerator,
    resume: Path | Mapping | None = None,
) -> Counters:
    """Train until ``opts.kimg`` thousand images; returns the final counters."""
    return run_prepared(prepare_training(opts, dataset, accelerator, resume), run_dir)


def run_prepared(prepared: Prepared, run_dir: Path) -> Counters:
    """Train a prepared run in ``run_dir`` until ``opts.kimg``; returns the final counters."""
    opts, dataset, accelerator = prepared.opts, prepared.dataset, prepared.accelerator
    objective, nets, G_ema, counters = prepared.objective, prepared.nets, prepared.G_ema, prepared.counters
    G, D = nets.G, nets.D
    device = accelerator.device
    rank, world = accelerator.process_index, accelerator.num_processes
    batch = opts.batch // world
    is_main = accelerator.is_main_process
    if prepared.resumed and is_main:
        roll_back_logs(run_dir, counters)

    total_nimg = int(round(opts.kimg * 1000))
    tick_nimg = max(int(round(opts.tick_kimg * 1000)), opts.batch)
    # Grid image i is seed i of the seeded sampler (class i mod c_dim): what `ganatomy generate --seeds` draws.
    grid = seeded_latents(
        G, range(opts.grid_size), "z", c=torch.arange(opts.grid_size) % G.c_dim if opts.network.cond else None
    )
    grid_z, grid_c = grid.z, grid.c
    autocast = autocast_factory(device, opts.precision)
    options_dict = options_to_dict(opts)
    # On resume, TensorBoard hides the events of ticks after the checkpoint (they are logged again).
    purge_step = counters.cur_nimg + 1 if prepared.resumed else None
    stats = (
        StatsReporter(
            run_dir,
            total=total_nimg / 1000,
            start=counters.cur_nimg / 1000,
            tensorboard=opts.tensorboard,
            progress=opts.progress,
            tensorboard_purge_step=purge_step,
        )
        if is_main
        else None
    )
    run = _Run(opts, run_dir, dataset, nets, G_ema, objective, options_dict, stats)
    augment = make_augment(opts, counters)

    def finished() -> bool:
        out_of_time = opts.max_minutes is not None and counters.seconds >= opts.max_minutes * 60
        out_of_cpu = opts.max_cpu_minutes is not None and counters.cpu_seconds >= opts.max_cpu_minutes * 60
        return counters.cur_nimg >= total_nimg or out_of_time or out_of_cpu

    try:
        while not finished():
            gen = torch.Generator().manual_seed(tick_seed(opts.seed, rank, counters.tick))
            torch.manual_seed(tick_seed(opts.seed, rank, counters.tick) ^ 1)  # per-layer noise
            tick_ctx = StepContext(
                accelerator, autocast, stats or _NullStats(), gen, opts.channels_last, augment=augment
            )
            tick_end = min((counters.tick + 1) * tick_nimg, total_nimg)
            tick_start_time, tick_start_cpu, tick_start_nimg = time.time(), time.process_time(), counters.cur_nimg
            while counters.cur_nimg < tick_end:
                ctx = dataclasses.replace(tick_ctx, step=counters.step, nimg=counters.cur_nimg)
                real, labels = _real_batch(dataset, batch, gen, device, opts.augment.mirror)
                real_c = objective.real_labels(labels)
                objective.d_step(nets, real, real_c, objective.fake_labels(batch, gen, device), ctx)
                objective.g_step(nets, batch, objective.fake_labels(batch, gen, device), ctx)
                counters.step += 1
                counters.cur_nimg += opts.batch
                beta = ema_beta(opts.batch, opts.optim.ema_kimg, counters.cur_nimg, opts.optim.ema_rampup)
                update_ema(G_ema, G, beta)
                if stats is not None:
                    stats.advance(counters.cur_nimg / 1000)
            _check_finite_state(nets, G_ema, counters)  # on every process: all stop together
            counters.tick += 1
            if augment is not None:
                counters.augment = augment.state()
                if stats is not None:
                    stats.report("augment/p", augment.p)
            elapsed, cpu = time.time() - tick_start_time, time.process_time() - tick_start_cpu
            if world > 1:  # one clock for all processes, so that they stop at the same tick
                elapsed, cpu = (
                    accelerator.gather(torch.tensor([elapsed, cpu], device=device)).view(-1, 2).max(0).values.tolist()
                )
            counters.seconds += elapsed
            counters.cpu_seconds += cpu
            digests = {name: gather_digests(m, accelerator) for name, m in (("G", G), ("D", D), ("G_ema", G_ema))}
            if is_main:
                _check_consistency(run_dir, digests, counters.tick)
                _end_of_tick(
                    run,
                    counters,
                    grid_z,
                    grid_c,
                    elapsed,
                    (counters.cur_nimg - tick_start_nimg) / 1000,
                    last=finished(),
                )
            accelerator.wait_for_everyone()
    except TrainingDiverged as e:
        raise TrainingDiverged(f"{e}; {_kept_checkpoint(run_dir)}") from None
    finally:
        if stats is not None:
            stats.close()
    return counters


def _check_finite_state(nets: Networks, G_ema: torch.nn.Module, counters: Counters) -> None:
    """Weights, buffers, EMA and optimizer state all finite, or nothing of this tick is written."""
    state = {name: module.state_dict() for name, module in (("G", nets.G), ("D", nets.D), ("G_ema", G_ema))}
    state.update(opt_G=nets.opt_G.state_dict()["state"], opt_D=nets.opt_D.state_dict()["state"])
    bad = non_finite_tensors(state)
    if bad:
        raise TrainingDiverged(
            f"the training state became non-finite in tick {counters.tick + 1} (at "
            f"{counters.cur_nimg / 1000:g} kimg): {describe_non_finite(bad)}"
        )


def _kept_checkpoint(run_dir: Path) -> str:
    """What a diverged run leaves to resume from (always finite: it passed the tick-end check)."""
    path = run_dir / RESUME_FILE
    if not path.is_file():
        return "it diverged in its first tick, so there is no checkpoint"
    try:
        counters = load_resume_checkpoint(path)["counters"]
    except GanatomyError as e:
        return f"the checkpoint on disk cannot be resumed ({e})"
    return f"the last finite checkpoint ({path}, tick {counters['tick']}, {counters['cur_nimg'] / 1000:g} kimg) is kept"


def roll_back_logs(run_dir: Path, counters: Counters) -> None:
    """Drop the log records of ticks after the resume checkpoint (a kill between a tick's log
    appends and its checkpoint leaves some); the resumed run writes them again."""
    kimg = counters.cur_nimg / 1000
    truncate_jsonl(run_dir / STATS_FILE, lambda r: r.get("kimg", 0.0) <= kimg + 1e-9)
    truncate_jsonl(run_dir / METRICS_FILE, lambda r: r.get("tick", 0) <= counters.tick)


def _check_consistency(run_dir: Path, digests: dict[str, list[str]], tick: int) -> None:
    """All processes must hold bit-identical networks; record the digests, fail loudly if not."""
    atomic_write_text(run_dir / "consistency.json", json.dumps({"tick": tick, "digests": digests}, indent=2) + "\n")
    for name, values in digests.items():
        if len(set(values)) > 1:
            raise RuntimeError(f"{name} differs between processes at tick {tick}: {values}")


class _NullStats:
    """Stats sink for non-main processes."""

    def report(self, name: str, value: Any) -> None:
        pass


def _end_of_tick(
    run: _Run,
    counters: Counters,
    grid_z: torch.Tensor,
    grid_c: torch.Tensor | None,
    tick_seconds: float,
    tick_kimg: float,
    last: bool,
) -> None:
    opts, run_dir, G_ema, stats = run.opts, run.run_dir, run.G_ema, run.stats
    kimg = counters.cur_nimg / 1000
    img_per_s = tick_kimg * 1000 / max(tick_seconds, 1e-9)
    extra = {"speed/img_per_s": img_per_s, "progress/tick": counters.tick, "progress/seconds": counters.seconds}
    if metrics_due(opts.metrics, opts.metrics_ticks, counters.tick, last):
        extra.update(
            evaluate_during_training(
                G_ema, opts.metrics, run.dataset, run_dir, counters.tick, counters.cur_nimg, opts.seed
            )
        )
    means = stats.flush(kimg, extra=extra)
    line = tick_line(counters.tick, kimg, counters.seconds, tick_seconds, tick_kimg, means)
    append_log(run_dir, line)
    if not opts.progress:
        print(line, flush=True)
    write_grid(G_ema, run_dir / "fakes-latest.png", grid_z, grid_c)
    snapshot_due = last or (opts.snapshot_ticks > 0 and counters.tick % opts.snapshot_ticks == 0)
    if snapshot_due:
        meta = {"options": run.options_dict, "kimg": kimg, "tick": counters.tick}
        if opts.network.cond:  # what `ganatomy generate --class NAME` reads
            meta["class_names"] = dataset_class_names(run.dataset)
        save_network_snapshot(run_dir / snapshot_name(counters.cur_nimg), G_ema, run.nets.D, meta)
        write_grid(G_ema, run_dir / f"fakes{kimg_label(counters.cur_nimg)}.png", grid_z, grid_c)
    # The resume checkpoint comes last: once it exists, everything of this tick is on disk.
    save_resume_checkpoint(
        run_dir, run.nets, G_ema, dataclasses.asdict(counters), run.options_dict, run.objective.state_dict()
    )
