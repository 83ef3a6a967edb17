"""``ganatomy dataset``: a user's images -> a training set (NVIDIA's dataset_tool, the ganatomy way)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console


def dataset(
    source: Path = typer.Option(..., help="A folder or .zip of images, any size and format PIL reads."),
    dest: Path = typer.Option(..., help="The dataset to write: OUT.zip or a new folder."),
    res: int = typer.Option(64, help="Output resolution, a power of two (32, 64, 128, ...)."),
    transform: str = typer.Option(
        "center-crop",
        help="center-crop (largest centred square), center-crop-wide (a 2:1 strip on a square "
        "canvas) or none (images already square; only resized).",
    ),
    labels: Path | None = typer.Option(
        None, help="A filename,label CSV (int labels or class names); default: the source's dataset.json, if any."
    ),
    channels: int | None = typer.Option(None, help="1 (grey) or 3 (RGB); default: grey if every image is grey."),
    progress: bool = typer.Option(True, help="Show a progress bar."),
) -> None:
    """Crop, resize and write the images of SOURCE as a dataset (PNG images + dataset.json) at DEST.

    Files that cannot be used (unreadable, corrupt, too small, not square with --transform none)
    are skipped and listed in the summary. The write is atomic: DEST appears only when complete.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from ganatomy.data.tool import check_tool_options, make_dataset
    from ganatomy.errors import OptionsError
    from ganatomy.utils.atomic import check_output_dir

    check_tool_options(res, transform, channels)
    check_output_dir(dest, "--dest", parents_only=True)
    if dest.exists() and not (dest.is_dir() and not any(dest.iterdir())):
        raise OptionsError(f"--dest {dest}: already exists; choose a new path")
    console = Console(stderr=True)
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not progress,
    )
    with bar:
        task = bar.add_task(f"converting {source.name}", total=None)
        report = make_dataset(
            source,
            dest,
            res,
            transform,
            labels,
            channels,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    for line in report.summary():
        print(line)


def register(app: typer.Typer) -> None:
    app.command("dataset")(dataset)
