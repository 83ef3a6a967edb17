"""``ganatomy demo``: the main job on the built-in world, one stage per capability."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console


def _stage_world(outdir: Path, seeds: list[int], res: int, console: Console) -> None:
    from ganatomy.worlds import write_world_grids

    for p in write_world_grids(outdir / "world", seeds, res):
        console.print(f"wrote {p}")


# What the demo run is measured with at its end: distances on world-oracle features.
_DEMO_METRICS = ["fd2k_oracle", "kid2k_oracle", "pr2k_oracle"]


def _stage_train(outdir: Path, kimg: float, console: Console) -> Path:
    """A short StyleGAN2 run on world:32: the run directory shows every convention."""
    from ganatomy.train.options import TrainOptions
    from ganatomy.train.run import run_training

    opts = TrainOptions(data="world:32", kimg=kimg, tick_kimg=max(kimg / 4, 0.25), outdir=str(outdir / "train"),
                        metrics=_DEMO_METRICS)
    return run_training(opts=opts, console=console)


def _stage_measure(run_dir: Path, console: Console) -> None:
    """The metrics the loop computed at the end of the run (see metrics.jsonl)."""
    from ganatomy.cli.evaluate import print_metric_table
    from ganatomy.runs.logs import read_jsonl
    from ganatomy.train.metrics import METRICS_FILE

    records = read_jsonl(run_dir / METRICS_FILE)
    print_metric_table(console, records, f"{run_dir.name}: G_ema vs world:32 (world-oracle features)")
    console.print(f"records in {run_dir / METRICS_FILE}")


def _stage_generate(outdir: Path, networks: dict[str, str], console: Console) -> None:
    from ganatomy.errors import GanatomyError
    from ganatomy.generate import generate_images, write_images
    from ganatomy.nets.load import load_generator

    seeds = list(range(64))
    for name, network in networks.items():
        try:
            G = load_generator(network)
        except GanatomyError as e:  # e.g. the zoo package is not installed: skip, say why
            console.print(f"[yellow]skipped {name}: {e}")
            continue
        grid = write_images(outdir / "generate" / name, seeds, generate_images(G, seeds))
        console.print(f"wrote {grid}")


def demo(
    outdir: Path = typer.Option(Path("runs/demo"), help="Where every stage writes its outputs."),
    seeds: str = typer.Option("0-63", help="World seeds to render, e.g. 0-63."),
    res: int = typer.Option(64, help="World resolution: 32 or 64."),
    train_kimg: float = typer.Option(2.0, help="Length of the demo training run, in kimg."),
) -> None:
    """Run the end-to-end demo on the built-in world: render it with ground truth, train a GAN
    briefly, measure it with the world oracle, generate from it and from the pretrained zoo."""
    from ganatomy.utils.seeds import parse_seeds

    console = Console()
    outdir.mkdir(parents=True, exist_ok=True)
    console.rule("[bold]stage 1: the world and its ground truth")
    _stage_world(outdir, parse_seeds(seeds), res, console)
    console.rule("[bold]stage 2: train a compact StyleGAN2 on world:32")
    run_dir = _stage_train(outdir, train_kimg, console)
    console.rule("[bold]stage 3: measure it against the world's ground truth")
    _stage_measure(run_dir, console)
    snapshot = sorted(run_dir.glob("network-snapshot-*.safetensors"))[-1]
    console.rule("[bold]stage 4: generate")
    _stage_generate(outdir, {"demo-run": str(snapshot), "digiface-dcgan64": "digiface-dcgan64"}, console)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
