"""``ganatomy bench NAME``: run a benchmark, print its table, record full-size results."""

from __future__ import annotations

import contextlib
import importlib
import shlex
import sys
from pathlib import Path

import typer
from rich.console import Console

from ganatomy.bench import BENCHMARKS
from ganatomy.bench.result import record_result
from ganatomy.errors import OptionsError


def bench(
    name: str = typer.Argument(..., help=f"Benchmark to run: {', '.join(BENCHMARKS)}."),
    quick: bool = typer.Option(False, "--quick", help="A CI-sized run (seconds); not recorded."),
    json_out: bool = typer.Option(
        False, "--json", help="Print one JSON object with the headline numbers, nothing else."
    ),
    results: Path = typer.Option(Path("docs/results.md"), help="Where full-size results are recorded."),
    record: bool = typer.Option(True, help="Record a full-size run in --results."),
    table: bool = typer.Option(
        False, "--table", help="Run (or resume) the benchmark's long table instead (fewer-labels: hours of training)."
    ),
    minutes: float | None = typer.Option(
        None,
        "--minutes",
        min=0,
        help="With --table: start no new cell after this many minutes; the running ones finish and the table "
        "so far is recorded (partial); the same command resumes it.",
    ),
) -> None:
    """Run benchmark NAME and print its table (or --json). Full-size runs are written to docs/results.md."""
    if name not in BENCHMARKS:
        raise OptionsError(f"unknown benchmark {name!r}; known: {', '.join(BENCHMARKS)}")
    module = importlib.import_module(BENCHMARKS[name])
    # With --json, stdout carries the JSON object only: progress and tables go to stderr.
    console = Console(stderr=json_out)
    # What the benchmark itself prints (a training's run directory, progress bars) goes to
    # stderr as well, so that `--json` output can be piped straight into a JSON parser.
    with contextlib.redirect_stdout(sys.stderr) if json_out else contextlib.nullcontext():
        if table:
            if not hasattr(module, "table"):
                raise OptionsError(f"benchmark {name!r} has no --table")
            result = module.table(quick=quick, minutes=minutes)
        else:
            if minutes is not None:
                raise OptionsError("--minutes goes with --table")
            result = module.run(quick=quick)
    if json_out:
        print(result.to_json())
    else:
        result.print(console)
    if record and not quick:
        command = "ganatomy " + " ".join(shlex.quote(a) for a in sys.argv[1:])
        record_result(result, command, results)
        console.print(f"recorded in {results}")


def register(app: typer.Typer) -> None:
    app.command("bench")(bench)
