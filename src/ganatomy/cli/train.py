"""``ganatomy train``: train a GAN on the world, Fashion-MNIST or an image folder.

Every flag is an option of ``TrainOptions`` (its default is declared there, once). The options of
a run are, from weakest to strongest: the defaults, ``--options FILE``, the flags given on the
command line, then ``--set key=value`` for any option of the tree.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer
from rich.console import Console

from ganatomy.cli.options import default_of, explicit_flags
from ganatomy.errors import OptionsError
from ganatomy.nets.genes import DEFAULT_GENES, DEFAULT_VARIANTS
from ganatomy.train.options import TrainOptions

# flag parameter -> dotted key in TrainOptions
_FLAG_KEYS = {
    "data": "data",
    "arch": "network.arch",
    "preset": "network.preset",
    "cond": "network.cond",
    "kimg": "kimg",
    "batch": "batch",
    "seed": "seed",
    "gamma": "loss.r1_gamma",
    "loss": "loss.kind",
    "precision": "precision",
    "deterministic": "deterministic",
    "tick": "tick_kimg",
    "snap": "snapshot_ticks",
    "metrics": "metrics",
    "metrics_ticks": "metrics_ticks",
    "outdir": "outdir",
    "progress": "progress",
    "max_minutes": "max_minutes",
    "labels": "labels.fraction",
    "label_method": "labels.method",
    "init": "network.init",
    "mirror": "augment.mirror",
    "aug": "augment.mode",
}


def _d(name: str):
    return default_of(TrainOptions, _FLAG_KEYS[name])


def train(
    ctx: typer.Context,
    data: str = typer.Option(
        _d("data"), help="world:32, world:64, fashion-mnist, or an image folder / zip (with an optional dataset.json)."
    ),
    arch: str = typer.Option(_d("arch"), help="Network family: stylegan2 or dcgan."),
    preset: str | None = typer.Option(
        _d("preset"), help="Network size preset (cpu32, cpu64, gpu64, ...); default: cpu<res> on CPU, gpu<res> on GPU."
    ),
    cond: bool = typer.Option(
        _d("cond"), help="Class-conditional G and projection D (the data must be fully labelled)."
    ),
    kimg: float = typer.Option(_d("kimg"), help="Training length in thousands of real images."),
    batch: int = typer.Option(_d("batch"), help="Total batch size over all processes."),
    seed: int = typer.Option(_d("seed"), help="The one seed every random thing flows from."),
    gamma: float | None = typer.Option(
        _d("gamma"), help="R1 weight; default max(1, 0.0002*res^2/batch) for stylegan2, 0 for dcgan."
    ),
    loss: str | None = typer.Option(_d("loss"), help="nonsat (default) or hinge."),
    precision: str = typer.Option(
        _d("precision"), help="auto (bf16 where the device computes it natively, else fp32), bf16 (autocast) or fp32."
    ),
    deterministic: bool = typer.Option(
        _d("deterministic"),
        help="fp32 with deterministic kernels: a resumed run matches an uninterrupted one bit for bit.",
    ),
    tick: float = typer.Option(_d("tick"), "--tick", help="kimg per tick (stats, grid, resume checkpoint)."),
    snap: int = typer.Option(_d("snap"), "--snap", help="Network snapshot every N ticks."),
    metrics: str | None = typer.Option(
        None,
        help="Metrics of G_ema to compute during training, e.g. fd2k_oracle,pr2k_oracle "
        "(see `ganatomy evaluate --help`); appended to metrics.jsonl.",
    ),
    metrics_ticks: int = typer.Option(
        _d("metrics_ticks"), help="Compute --metrics every N ticks (N x --tick kimg); 0: only at the end."
    ),
    max_minutes: float | None = typer.Option(
        _d("max_minutes"), help="Also stop at the first tick end after this many training minutes."
    ),
    labels: float | None = typer.Option(
        _d("labels"),
        help="Train with this labelled share of the data, in (0, 1] (class-balanced; seed: "
        "--set labels.subset_seed=N); with --label-method s2gan, s2gan-co or s3gan.",
    ),
    label_method: str | None = typer.Option(
        _d("label_method"),
        help="A fewer-labels variant (Lucic et al. 2019): unconditional, single-label, random-labels, "
        "clustering, clustering-ss, s2gan, s2gan-co, s3gan or supervised; it sets the objective and --cond.",
    ),
    outdir: Path = typer.Option(Path(_d("outdir")), help="Parent of the numbered run directory."),
    prior: str | None = typer.Option(
        None,
        help="StyleGAN2's latent prior: mapping (the mapping network, the preset's default) or genes "
        "(StyleGenes' gene bank: w is the concatenation of one learnt variant per gene, each bank standardised "
        "over its variants; --set network.prior.normalize=whiten to whiten each bank, =none for plain banks).",
    ),
    genes: int | None = typer.Option(
        None, help=f"With --prior genes: the number of genes (DNA length; must divide w_dim). Default {DEFAULT_GENES}."
    ),
    variants: int | None = typer.Option(
        None, help=f"With --prior genes: the variants in each gene's bank. Default {DEFAULT_VARIANTS}."
    ),
    mirror: bool = typer.Option(_d("mirror"), help="x-flip each real image with probability 1/2 (small datasets)."),
    aug: str = typer.Option(
        _d("aug"),
        help="Augment what D sees: noaug, ada (adaptive, for datasets under a few thousand images) or fixed "
        "(the strength of --set augment.p=P).",
    ),
    init: str | None = typer.Option(
        _d("init"),
        help="Fine-tune: start from the networks (G, D, G_ema) of an NVIDIA pickle, a rosinality .pt or a "
        "ganatomy network snapshot, with fresh optimizers; the file must fit the data.",
    ),
    options: Path | None = typer.Option(
        None, "--options", help="Start from an options.json; flags given explicitly and --set override it."
    ),
    set_: list[str] = typer.Option(
        [],
        "--set",
        help="Any option of the tree as KEY=VALUE (JSON value), repeatable, "
        "e.g. --set loss.mixing_prob=0 --set network.d_overrides.mbstd_group=8.",
    ),
    resume: Path | None = typer.Option(
        None, help="A run directory to continue where it stopped (its options.json is used; --kimg may extend it)."
    ),
    progress: bool = typer.Option(_d("progress"), help="Show a progress bar."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the resolved options and exit."),
) -> None:
    """Train a GAN. Progress is in kimg; each tick writes stats.jsonl, TensorBoard events, a grid
    of fixed seeds and a resume checkpoint to the run directory (runs/NNNNN-train-DATA-ARCH/)."""
    from ganatomy.runs.options import (
        load_options,
        merge_options,
        nested_option,
        options_from_dict,
        options_to_dict,
        parse_assignments,
    )
    from ganatomy.train.run import run_training

    console = Console()
    given = explicit_flags(ctx, _FLAG_KEYS)
    if resume is not None:
        extra = set(given) - {"kimg", "progress"}
        if extra or set_ or options is not None:
            first = sorted(extra or ["set"])[0]
            raise OptionsError(
                f"--resume continues a run with its own options.json; only --kimg may change (got --{first})"
            )
        run_training(resume_dir=resume, kimg=kimg if "kimg" in given else None, console=console, dry_run=dry_run)
        _end_worker_of_a_finished_run()
        return
    values = dict(locals())
    values["outdir"] = str(outdir)
    values["metrics"] = [m.strip() for m in (metrics or "").split(",") if m.strip()]
    base = options_to_dict(load_options(TrainOptions, options)) if options is not None else {}
    flags: dict = {}
    for name in given:
        flags = merge_options(flags, nested_option(_FLAG_KEYS[name], values[name]))
    flags = merge_options(flags, _prior_tree(prior, genes, variants))
    tree = merge_options(merge_options(base, flags), parse_assignments(set_))
    run_training(opts=options_from_dict(TrainOptions, tree), console=console, dry_run=dry_run)
    _end_worker_of_a_finished_run()


def _end_worker_of_a_finished_run() -> None:
    """Under torchrun, a worker whose run has finished (files closed, process group destroyed) leaves
    without the interpreter's finalisation: there a C++ thread object of the distributed runtime was
    destroyed while still joinable, now and then under load ("terminate called without an active
    exception", exit code -6), and torchrun reported a finished run as failed."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


def _prior_tree(prior: str | None, genes: int | None, variants: int | None) -> dict:
    """The options that --prior / --genes / --variants stand for ({} when none is given)."""
    if prior != "genes" and (genes is not None or variants is not None):
        raise OptionsError("--genes and --variants belong to --prior genes")
    if prior is None:
        return {}
    if prior != "genes":
        return {"network": {"prior": {"kind": prior}}}
    # Banks standardised over their variants: plain banks collapse in training (docs/results.md, the
    # gene model's run); `--set network.prior.normalize=none` trains the plain form.
    spec = {"kind": "genes", "variants": DEFAULT_VARIANTS if variants is None else variants, "normalize": "standardize"}
    # The DNA is z: one index per gene, so z_dim is the number of genes.
    n_genes = DEFAULT_GENES if genes is None else genes
    return {"network": {"prior": spec, "g_overrides": {"z_dim": n_genes}}}


def register(app: typer.Typer) -> None:
    app.command("train")(train)
