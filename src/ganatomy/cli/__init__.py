"""The ``ganatomy`` command line: one entry point, one sub-command per job."""

from __future__ import annotations

import sys

import typer

from ganatomy.errors import GanatomyError

app = typer.Typer(
    name="ganatomy",
    help="Take a GAN apart: train it, find what it knows, and measure it against ground truth.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register() -> None:
    # One module per command; each exposes `register(app)`.
    from ganatomy.cli import bench, convert, dataset, demo, directions, evaluate, generate, oracle, train, world, zoo

    for module in (world, dataset, train, generate, bench, demo, oracle, evaluate, zoo, convert, directions):
        module.register(app)


_register()


def main() -> None:
    """Console entry point: user errors become one line on stderr and exit code 2.

    Usage errors (unknown option, bad value) are reported by the CLI framework itself, also
    with exit code 2.
    """
    try:
        app()
    except GanatomyError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
