"""``ganatomy zoo``: the pretrained generators, and shipping a trained one."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

zoo_app = typer.Typer(
    name="zoo",
    help="Pretrained generators: list them, show what one records about itself, or export a run's snapshot.",
    no_args_is_help=True,
    add_completion=False,
)


@zoo_app.command("list")
def list_entries() -> None:
    """Every zoo entry with its description, source, licence and whether it is installed."""
    from ganatomy.zoo import ZOO

    table = Table(title="ganatomy zoo", show_lines=True)
    for column in ("name", "description", "source", "licence", "installed"):
        table.add_column(column, overflow="fold")
    for entry in ZOO.values():
        installed = "yes" if entry.installed() else f"no: {entry.install_hint}"
        table.add_row(entry.name, entry.description, entry.source, entry.licence, installed)
    Console().print(table)


@zoo_app.command("info")
def info(name: str = typer.Argument(..., help="A zoo name, e.g. world32-stylegan2.")) -> None:
    """What a zoo model records about itself (the command that made it, its kimg and metrics), as JSON."""
    from ganatomy.zoo import get_entry

    entry = get_entry(name)
    meta = {k: v for k, v in entry.metadata().items() if k != "options"}
    # the zoo's description is the one kept up to date; a file's own (given at export) may be empty
    meta["description"] = meta.get("description") or entry.description
    print(json.dumps({"name": entry.name, "source": entry.source, **meta}, indent=2))


@zoo_app.command("export")
def export(
    network: Path = typer.Option(..., help="A run's network-snapshot-KKKKKK.safetensors."),
    out: Path = typer.Option(..., help="The file to write, e.g. src/ganatomy/assets/world32-stylegan2.safetensors."),
    description: str = typer.Option("", help="One line on what the model is."),
    measure: str = typer.Option(
        "", help="Metrics to measure the shipped file with, e.g. fd10k_oracle,kid10k_oracle,pr10k_oracle (recorded)."
    ),
) -> None:
    """Ship the G_ema of a snapshot as a float16 file recording its run's commands, kimg and metrics."""
    from ganatomy.zoo.shipped import export_generator

    names = [m.strip() for m in measure.split(",") if m.strip()]
    path = export_generator(network, out, description, measure=names)
    Console().print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")


def register(app: typer.Typer) -> None:
    app.add_typer(zoo_app)
