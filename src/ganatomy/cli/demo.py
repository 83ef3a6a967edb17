"""``ganatomy demo``: the main job on the built-in world, one stage per capability."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console


def demo(
    outdir: Path = typer.Option(Path("runs/demo"), help="Where every stage writes its outputs."),
    seeds: str = typer.Option("0-63", help="World seeds to render, e.g. 0-63."),
    res: int = typer.Option(64, help="World resolution: 32 or 64."),
) -> None:
    """Run the end-to-end demo on the built-in world: render it with ground truth, then every analysis stage."""
    from ganatomy.utils.seeds import parse_seeds
    from ganatomy.worlds import write_world_grids

    console = Console()
    outdir.mkdir(parents=True, exist_ok=True)
    console.rule("[bold]stage 1: the world and its ground truth")
    paths = write_world_grids(outdir / "world", parse_seeds(seeds), res)
    for p in paths:
        console.print(f"wrote {p}")


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
