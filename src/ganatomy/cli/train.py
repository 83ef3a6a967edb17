"""``ganatomy train``: train a GAN on the world, Fashion-MNIST or an image folder."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console



def train(
    data: str = typer.Option("world:32", help="world:32, world:64, fashion-mnist, or an image folder / zip (with an optional dataset.json)."),
    arch: str = typer.Option("stylegan2", help="Network family: stylegan2 or dcgan."),
    preset: Optional[str] = typer.Option(None, help="Network size preset (cpu32, cpu64, gpu64, ...); default: cpu<res> on CPU, gpu<res> on GPU."),
    cond: bool = typer.Option(False, help="Class-conditional G and projection D (the data must be fully labelled)."),
    kimg: float = typer.Option(100.0, help="Training length in thousands of real images."),
    batch: int = typer.Option(32, help="Total batch size over all processes."),
    seed: int = typer.Option(0, help="The one seed every random thing flows from."),
    gamma: Optional[float] = typer.Option(None, help="R1 weight; default max(1, 0.0002*res^2/batch) for stylegan2, 0 for dcgan."),
    loss: Optional[str] = typer.Option(None, help="nonsat (default) or hinge."),
    precision: str = typer.Option("bf16", help="bf16 (autocast; fast on CPUs with avx512_bf16) or fp32."),
    deterministic: bool = typer.Option(False, help="fp32 with deterministic kernels: a resumed run matches an uninterrupted one bit for bit."),
    tick: float = typer.Option(1.0, "--tick", help="kimg per tick (stats, grid, resume checkpoint)."),
    snap: int = typer.Option(10, "--snap", help="Network snapshot every N ticks."),
    metrics: Optional[str] = typer.Option(None, help="Metrics of G_ema to compute during training, e.g. fd2k_oracle,pr2k_oracle (see `ganatomy evaluate --help`); appended to metrics.jsonl."),
    metrics_ticks: int = typer.Option(0, help="Compute --metrics every N ticks (N x --tick kimg); 0: only at the end."),
    outdir: Path = typer.Option(Path("runs"), help="Parent of the numbered run directory."),
    options: Optional[Path] = typer.Option(None, "--options", help="Start from an options.json (flags given explicitly are ignored then)."),
    resume: Optional[Path] = typer.Option(None, help="A run directory to continue where it stopped (its options.json is used; --kimg may extend it)."),
    progress: bool = typer.Option(True, help="Show a progress bar."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the resolved options and exit."),
) -> None:
    """Train a GAN. Progress is in kimg; each tick writes stats.jsonl, TensorBoard events, a grid
    of fixed seeds and a resume checkpoint to the run directory (runs/NNNNN-train-DATA-ARCH/)."""
    from ganatomy.train.run import TrainOptions, run_training
    from ganatomy.runs.options import load_options, options_from_dict

    console = Console()
    if resume is not None:
        run_training(resume_dir=resume, kimg=kimg if _given("--kimg") else None, console=console, dry_run=dry_run)
        return
    if options is not None:
        opts = load_options(TrainOptions, options)
    else:
        opts = options_from_dict(TrainOptions, {
            "data": data, "outdir": str(outdir), "kimg": kimg, "batch": batch, "seed": seed,
            "network": {"arch": arch, "preset": preset, "cond": cond},
            "loss": {"kind": loss, "r1_gamma": gamma},
            "precision": precision, "deterministic": deterministic, "tick_kimg": tick,
            "snapshot_ticks": snap, "progress": progress,
            "metrics": [m.strip() for m in (metrics or "").split(",") if m.strip()], "metrics_ticks": metrics_ticks,
        })
    run_training(opts=opts, console=console, dry_run=dry_run)


def _given(flag: str) -> bool:
    import sys

    return any(a == flag or a.startswith(flag + "=") for a in sys.argv)


def register(app: typer.Typer) -> None:
    app.command("train")(train)
