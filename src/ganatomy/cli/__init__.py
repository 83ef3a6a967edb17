"""The ``ganatomy`` command line: one entry point, one sub-command per job."""

from __future__ import annotations

import sys
import warnings

import typer

from ganatomy.errors import GanatomyError

app = typer.Typer(
    name="ganatomy",
    help="Take a GAN apart: train it, find what it knows, and measure it against ground truth.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},  # -h on every command
)


def _print_version(value: bool) -> None:
    if value:
        from ganatomy import __version__

        print(f"ganatomy {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Take a GAN apart: train it, find what it knows, and measure it against ground truth."""


def show_warning_line(message, category, filename, lineno, file=None, line=None) -> None:
    """``warnings.showwarning`` for the CLI: ``warning: <message>`` on one line, no source location."""
    text = " ".join(str(message).split())
    print(f"warning: {text}", file=sys.stderr if file is None else file)


def _register() -> None:
    # One module per command; each exposes `register(app)`.
    from ganatomy.cli import (
        bench,
        convert,
        dataset,
        demo,
        directions,
        evaluate,
        explore,
        generate,
        genes,
        invert,
        oracle,
        regress,
        report,
        segment,
        train,
        world,
        zoo,
    )

    for module in (
        world,
        dataset,
        train,
        generate,
        bench,
        demo,
        oracle,
        evaluate,
        zoo,
        convert,
        directions,
        genes,
        invert,
        regress,
        report,
        segment,
        explore,
    ):
        module.register(app)


_register()


def main() -> None:
    """Console entry point: user errors become one line on stderr and exit code 2.

    Usage errors (unknown option, bad value, missing argument) too: the framework's own report is a
    boxed paragraph, so it runs in non-standalone mode and its errors are printed here.
    """
    warnings.showwarning = show_warning_line
    try:
        code = app(prog_name="ganatomy", standalone_mode=False)  # the exit code of --help, --version, typer.Exit
    except GanatomyError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except (KeyboardInterrupt, typer.Abort):  # Ctrl-C: the command said what is kept; no traceback
        sys.exit(130)
    except Exception as e:  # noqa: BLE001 - the framework's errors (click's, or typer's copy of click)
        if not (hasattr(e, "format_message") and hasattr(e, "exit_code")):
            raise
        if type(e).__name__ == "NoArgsIsHelpError":  # a bare group: its help, as the user expects
            e.show()
        else:
            ctx = getattr(e, "ctx", None)
            hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
            print(f"error: {e.format_message()}{hint}", file=sys.stderr)
        sys.exit(e.exit_code)
    sys.exit(code if isinstance(code, int) else 0)
