"""``ganatomy convert``: a user's NVIDIA pickle or rosinality checkpoint -> a ganatomy network snapshot."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console


def convert(
    file: Path = typer.Argument(..., help="An NVIDIA network pickle (.pkl) or a rosinality checkpoint (.pt, .pth)."),
    out: Path = typer.Option(..., help="The snapshot to write, e.g. ffhq.safetensors."),
    generator: str = typer.Option("G_ema", help="Which generator becomes the snapshot's G_ema: G_ema or G."),
    check: bool = typer.Option(True, help="Read the snapshot back and compare its images with the imported network."),
) -> None:
    """Convert FILE (read without running any code from it) into a ganatomy snapshot: G_ema, and D if the file has one.

    Every command that takes --network reads the snapshot; no pickle is needed again.
    """
    from ganatomy.nets.importers.convert import convert_to_snapshot

    s = convert_to_snapshot(file, out, generator=generator, check_seed=0 if check else None)
    console = Console()
    d_note = "with D" if s["has_D"] else "no D in the file"
    console.print(
        f"wrote {s['out']} ({s['bytes'] / 1e6:.2f} MB): {s['kind']} {s['img_resolution']} px, "
        f"num_ws {s['num_ws']}, c_dim {s['c_dim']}, {d_note}; from {s['source']}"
    )
    if check:
        console.print(f"check: snapshot vs imported network, max abs image difference {s['max_abs_diff']:.3g}")


def register(app: typer.Typer) -> None:
    app.command("convert")(convert)
