"""``ganatomy explore --network NET``: a local web app to look at a generator, its directions and genes."""

from __future__ import annotations

import ipaddress
import warnings
from pathlib import Path

import typer
from rich.console import Console

from ganatomy.cli.options import DEVICE_OPTION, resolve_device, set_threads


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def explore(
    network: str = typer.Option(..., help="A zoo name (world32-stylegan2, world32-stylegenes) or a snapshot."),
    directions: Path | None = typer.Option(None, help="A directions run directory or file: one slider each."),
    regressor: Path | None = typer.Option(None, help="A 'ganatomy regress fit' directory: predictions of uploads."),
    segment: Path | None = typer.Option(None, help="A 'ganatomy segment fit' run: KLiSH mask overlays."),
    host: str = typer.Option("127.0.0.1", help="Address to bind (another than loopback exposes the explorer)."),
    port: int = typer.Option(8765, min=1, max=65535, help="Port to listen on."),
    workers: int = typer.Option(2, min=1, max=64, help="Worker threads that render."),
    queue: int = typer.Option(8, min=0, max=1024, help="Requests that may wait for a worker (503 beyond)."),
    gene_samples: int = typer.Option(2000, min=0, help="Gene models: samples judged for conditional sampling."),
    invert_steps: int = typer.Option(60, min=1, max=10_000, help="Optimisation steps of an upload's inversion."),
    threads: int | None = typer.Option(None, help="torch threads."),
    device: str = DEVICE_OPTION,
) -> None:
    """Samples by seed with truncation, direction sliders with the oracle's readout, gene operations, inversion."""
    import uvicorn

    from ganatomy.explore import create_app, open_explorer

    device = resolve_device(device)
    set_threads(threads)
    if not is_loopback(host):
        warnings.warn(
            f"--host {host}: the explorer is reachable from other machines; it has no authentication", stacklevel=1
        )
    console = Console()
    explorer = open_explorer(network, directions, regressor, gene_samples, invert_steps, segment=segment, device=device)
    app = create_app(explorer, workers=workers, queue=queue)
    console.print(f"explorer of {network} at http://{host}:{port}/ (Ctrl-C stops it)")
    uvicorn.run(app, host=host, port=port, log_level="warning")


def register(app: typer.Typer) -> None:
    app.command("explore")(explore)
