"""``ganatomy report RUN_DIR... --out FILE.html``: one self-contained HTML page over run directories."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from ganatomy.cli.options import set_threads


def report(
    run_dirs: list[Path] = typer.Argument(..., help="Run directories, or folders of them (searched)."),
    out: Path = typer.Option(..., help="The HTML file to write."),
    results: Path = typer.Option(Path("docs/results.md"), help="Benchmark tables to include (skipped if absent)."),
    compute: bool = typer.Option(
        True, help="Draw direction strips and the oracle's readout (loads the runs' generators)."
    ),
    threads: int | None = typer.Option(None, help="torch threads."),
) -> None:
    """Options, training curves, samples, metrics, directions, LARGE plots, gene grids and bench tables."""
    from ganatomy.report import write_report

    set_threads(threads)
    path = write_report(run_dirs, out, results, compute=compute)
    Console().print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")


def register(app: typer.Typer) -> None:
    app.command("report")(report)
