"""``ganatomy world``: look at the ground-truth world (grids) or export it as a dataset."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console


def world(
    outdir: Path | None = typer.Option(
        None,
        help="Write grids here: images.png, masks.png (colour-coded parts), overlay.png, side_by_side.png, "
        "factors.json.",
    ),
    seeds: str = typer.Option("0-63", help="World seeds for the grids, e.g. 0-63 or 1,5,7."),
    res: int = typer.Option(64, help="Resolution: 32 or 64 (128 also works)."),
    export: Path | None = typer.Option(
        None, help="Write a dataset here instead of (or besides) grids: a folder, or a zip if the name ends in .zip."
    ),
    count: int = typer.Option(1000, help="With --export: number of images."),
    seed: int = typer.Option(0, help="With --export: dataset seed; image i is world seed seed*2^32+i."),
) -> None:
    """Render the procedural world with its ground truth: grids (--outdir) and/or a dataset (--export).

    --outdir DIR: grids of --seeds with their colour-coded part masks.

    --export PATH --count N: a dataset folder or .zip (images/, masks/, dataset.json with labels and factors).
    """
    from ganatomy.errors import OptionsError
    from ganatomy.generate import parse_image_seeds
    from ganatomy.utils.atomic import check_output_dir
    from ganatomy.worlds import RESOLUTIONS, export_world, write_world_grids

    if outdir is None and export is None:
        raise OptionsError("give --outdir DIR for grids, or --export PATH (--count N) for a dataset")
    if res not in RESOLUTIONS:  # here too: the grids would create --outdir first
        raise OptionsError(f"--res: {res} is not supported; use one of {', '.join(map(str, RESOLUTIONS))}")
    # Every check before anything is written.
    grid_seeds = parse_image_seeds(seeds) if outdir is not None else None
    if outdir is not None:
        check_output_dir(outdir, "--outdir")
    if export is not None:
        check_output_dir(export, "--export", parents_only=True)
    console = Console()
    if outdir is not None:
        for path in write_world_grids(outdir, grid_seeds, res):
            console.print(f"wrote {path}")
    if export is not None:
        with console.status(f"exporting {count} images to {export}") as status:
            path = export_world(
                export,
                count,
                res,
                seed=seed,
                progress=lambda n: status.update(f"exporting {n}/{count} images to {export}"),
            )
        console.print(f"wrote {count} images with masks and factors to {path}")


def register(app: typer.Typer) -> None:
    app.command("world")(world)
