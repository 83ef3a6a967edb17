"""``ganatomy bench fewer-labels``: S3GAN with 10% of the labels against full supervision, and the
paper's comparison table at our scale (Lucic et al. 2019, Tables 2 and 4).

``run`` measures the shipped pair, ``world32-s3gan10`` (S3GAN, 10% labels) and
``world32-supervised`` (100% labels), now, on the world oracle's features: FD and precision/recall
of 10k samples (``--quick``: 1k), class consistency of conditional samples judged by the oracle,
and the accuracy of S3GAN's inferred labels on the unlabelled images (what its run recorded in
labels.json, kept in the zoo entry's metadata). A model that is not shipped is said to be so, and
its keys stay null: no number is made up.

``run_table`` runs the table: rows are the variants, columns the label fractions where they
apply, each cell a training of ``budget_minutes`` minutes of CPU time from the same seed, then the
same metrics. The budget is the training process's CPU time, not the wall clock, so cells stay equal
when the machine does other work meanwhile (run the table under ``nice`` and keep working). Each
finished cell is appended at once to a JSONL file kept in the repository (``docs/``: the numbers,
never the run directories), and a rerun skips the cells already there, so the table resumes on
another day and another machine. Cells run one per core at once by default (each with one torch
thread, so a cell's budget is minutes of one core); the worker processes only train, this process
alone writes the file. ``ganatomy bench fewer-labels --table`` runs the full
table (world:32 with two seeds, Fashion-MNIST at 10% and 100% with one);
``python -m ganatomy.bench.fewer_labels --table`` runs any part of it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ganatomy.bench.reference import measure_generator
from ganatomy.bench.result import BenchResult, Target
from ganatomy.errors import OptionsError
from ganatomy.utils.atomic import atomic_write_text

SHIPPED = {"s3gan10": "world32-s3gan10", "supervised": "world32-supervised"}
FRACTIONS = (0.025, 0.05, 0.1, 0.2, 1.0)
# The fractions each family is trained at: the unsupervised ones use no labels (the 0% column).
_FRACTIONS_OF = {"required": FRACTIONS, "full": (1.0,), "none": (None,)}
# (data, seeds, fractions) of the full table: world:32 everywhere with two seeds, Fashion-MNIST at 10% and 100%.
FULL_TABLE = (("world:32", (0, 1), FRACTIONS), ("fashion-mnist", (0,), (0.1, 1.0)))
_NOT_AT_FULL = {"s2gan"}  # at 100% S2GAN's classifier has nothing to predict: it is the supervised run
_TARGETS = [
    Target("s3gan10_fd_ratio", "<=", 1.1),  # within 10% of the fully supervised FD
    Target("s3gan10_consistency_ratio", ">=", 0.9),  # at least 0.9 of its class consistency
]
TABLE_FILE = "fewer-labels-table.jsonl"
TABLE_PATH = Path("docs") / TABLE_FILE  # committed: a table takes several working days
# More seeds of the cells one claim compares (``--variants``, ``--seeds``, ``--out`` of the module CLI): the
# table's verdicts are also given on them pooled with the table's own seeds.
EXTRA_SEEDS_PATH = Path("docs") / "fewer-labels-extra-seeds.jsonl"
DEFAULT_BUDGET_MINUTES = 10.0
QUICK_BUDGET_MINUTES = 0.2


def run(quick: bool) -> BenchResult:
    from ganatomy.zoo import ZOO, load_pretrained

    n = 1 if quick else 10
    summary: dict[str, Any] = {
        "s3gan10_fd": None,
        "supervised_fd": None,
        "s3gan10_consistency": None,
        "supervised_consistency": None,
        "s3gan10_label_acc": None,
    }
    rows, notes = [], []
    for prefix, zoo_name in SHIPPED.items():
        entry = ZOO.get(zoo_name)
        if entry is None or not entry.installed():
            notes.append(f"{zoo_name}: not shipped yet (train it at full budget and ship it to the zoo)")
            empty = dict.fromkeys(("fd", "precision", "recall", "consistency", "label_acc"))
            rows.append({"model": zoo_name, "shipped": "no", **empty})
            continue
        meta = entry.metadata()
        measured = measure_generator(load_pretrained(zoo_name), meta.get("options", {}).get("data", "world:32"), n)
        summary[f"{prefix}_fd"] = measured["fd"]
        summary[f"{prefix}_consistency"] = measured["consistency"]
        label_acc = (meta.get("labels") or {}).get("label_accuracy") if prefix == "s3gan10" else None
        if prefix == "s3gan10":
            summary["s3gan10_label_acc"] = label_acc
        rows.append({"model": zoo_name, "shipped": "yes", **measured, "label_acc": label_acc})
    if summary["s3gan10_fd"] is not None and summary["supervised_fd"]:
        summary["s3gan10_fd_ratio"] = summary["s3gan10_fd"] / summary["supervised_fd"]
    if summary["s3gan10_consistency"] is not None and summary["supervised_consistency"]:
        summary["s3gan10_consistency_ratio"] = summary["s3gan10_consistency"] / summary["supervised_consistency"]
    return BenchResult(
        name="fewer-labels",
        title=f"Fewer labels: S3GAN at 10% against full supervision (world:32, {n}k samples, oracle features)",
        rows=rows,
        summary=summary,
        targets=_TARGETS,
        notes=notes,
        quick=quick,
    )


# ---------------------------------------------------------------------- the table
@dataclasses.dataclass(frozen=True)
class Cell:
    variant: str
    fraction: float | None  # None: the variant uses no labels
    seed: int
    data: str

    @property
    def key(self) -> str:
        shown = "0" if self.fraction is None else f"{self.fraction:g}"
        return f"{self.data}/{self.variant}/{shown}/seed{self.seed}"


def table_cells(
    data: str, seeds: Sequence[int], fractions: Sequence[float] = FRACTIONS, variants: Sequence[str] | None = None
) -> list[Cell]:
    """Every (variant, fraction, seed) cell of the table (only ``variants`` when given), in the paper's row order."""
    from ganatomy.labels.variants import VARIANTS

    unknown = sorted(set(variants or ()) - set(VARIANTS))
    if unknown:
        raise OptionsError(f"fewer-labels table: unknown variant(s) {', '.join(unknown)}; known: {', '.join(VARIANTS)}")
    cells = []
    for variant in VARIANTS.values():
        if variants is not None and variant.name not in variants:
            continue
        for fraction in _FRACTIONS_OF[variant.fraction]:
            if fraction is not None and (
                fraction not in fractions or (fraction == 1.0 and variant.name in _NOT_AT_FULL)
            ):
                continue
            cells.extend(Cell(variant.name, fraction, seed, data) for seed in seeds)
    return cells


def cell_options(cell: Cell, budget_minutes: float, outdir: Path, arch: str):
    """The training options of one cell: hinge loss (the paper's), stopped by the CPU-time budget."""
    from ganatomy.runs.options import options_from_dict
    from ganatomy.train.options import MAX_KIMG, TrainOptions

    labels = {"method": cell.variant, "fraction": cell.fraction}
    tree = {
        "data": cell.data,
        "outdir": str(outdir),
        "seed": cell.seed,
        "kimg": MAX_KIMG,  # the budget stops it
        "max_cpu_minutes": budget_minutes,
        "tick_kimg": 2.0,  # the budget is checked at tick ends: a short tick keeps the overshoot to seconds
        "snapshot_ticks": 0,
        "progress": False,
        "tensorboard": False,
        "network": {"arch": arch},
        "loss": {"kind": "hinge"},
        "labels": labels,
    }
    return options_from_dict(TrainOptions, tree)


def run_cell(cell: Cell, budget_minutes: float, outdir: Path, arch: str, n: int) -> dict[str, Any]:
    """Train one cell and measure its G_ema; the row of the table."""
    from ganatomy.nets.load import load_generator
    from ganatomy.train.run import run_training

    start = time.time()
    run_dir = run_training(cell_options(cell, budget_minutes, outdir, arch))
    snapshot = sorted(run_dir.glob("network-snapshot-*.safetensors"))[-1]
    measured = measure_generator(load_generator(snapshot), cell.data, n, seed=cell.seed)
    record_file = run_dir / "labels.json"
    labels = json.loads(record_file.read_text()) if record_file.is_file() else {}
    return {
        "key": cell.key,
        **dataclasses.asdict(cell),
        **measured,
        "label_acc": labels.get("label_accuracy"),
        "label_seconds": labels.get("seconds"),
        "kimg": json.loads((run_dir / "stats.jsonl").read_text().splitlines()[-1])["kimg"],
        "budget_minutes": budget_minutes,
        "budget_clock": "cpu",
        "threads": int(os.environ.get("OMP_NUM_THREADS", "0")) or None,
        "wall_s": time.time() - start,
        "run_dir": _shown_path(run_dir),
    }


def _shown_path(path: Path) -> str:
    """A run directory as the table records it: relative to the working directory where it can be."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def read_table(path: Path) -> list[dict[str, Any]]:
    """The rows finished so far (none when the file does not exist)."""
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _init_cell_worker(threads: int) -> None:
    """A table worker process: its share of the cores, recorded in each of its rows."""
    import torch

    os.environ["OMP_NUM_THREADS"] = str(threads)
    torch.set_num_threads(threads)


def default_workers() -> int:
    """One cell per core: each cell's budget is then minutes of one core (the issue's CPU-minutes)."""
    return max(1, os.cpu_count() or 1)


def run_table(
    path: Path,
    data: str = "world:32",
    seeds: Sequence[int] = (0, 1),
    fractions: Sequence[float] = FRACTIONS,
    budget_minutes: float = DEFAULT_BUDGET_MINUTES,
    outdir: Path = Path("runs/fewer-labels"),
    arch: str = "dcgan",
    n: int = 10,
    workers: int = 1,
    runner: Callable[..., dict[str, Any]] | None = None,
    start_deadline: float | None = None,
    variants: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """Run the cells of the table not yet in ``path``, appending each row as it finishes.

    ``workers`` > 1 trains that many cells at once in worker processes, each with
    cores / workers torch threads; this process alone writes ``path``, so rows never interleave.
    A cell stopped half-way is trained again from its start on the next run. ``runner`` (default
    ``run_cell``; a module-level function, as worker processes import it) trains and measures one cell.
    ``start_deadline`` (a ``time.time()``): no cell starts after it, the running ones finish, so a
    table can be cut at a cell boundary and resumed later without losing a half-trained cell.
    ``variants``: only these rows (e.g. more seeds for the cells one claim compares)."""
    if workers < 1:
        raise OptionsError(f"fewer-labels table: workers must be >= 1, got {workers}")
    rows = read_table(path)
    done = {r["key"] for r in rows}
    todo = claims_first([c for c in table_cells(data, seeds, fractions, variants) if c.key not in done], fractions)
    runner = run_cell if runner is None else runner

    def may_start() -> bool:
        return bool(todo) and (start_deadline is None or time.time() < start_deadline)

    def finished(row: dict[str, Any]) -> None:
        rows.append(row)
        atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in rows))

    if workers == 1:
        while may_start():
            finished(runner(todo.pop(0), budget_minutes, outdir, arch, n))
        return rows
    import concurrent.futures
    import multiprocessing

    threads = max(1, (os.cpu_count() or 1) // workers)
    with concurrent.futures.ProcessPoolExecutor(
        workers, mp_context=multiprocessing.get_context("spawn"), initializer=_init_cell_worker, initargs=(threads,)
    ) as pool:
        running: set[concurrent.futures.Future] = set()
        try:
            while running or may_start():
                while len(running) < workers and may_start():  # cells start as workers free up
                    running.add(pool.submit(runner, todo.pop(0), budget_minutes, outdir, arch, n))
                over, running = concurrent.futures.wait(running, return_when=concurrent.futures.FIRST_COMPLETED)
                for future in over:
                    finished(future.result())
        except BaseException:  # Ctrl-C or a failed cell: the finished rows are kept, the rest rerun later
            for future in running:
                future.cancel()
            raise
    return rows


def _cell_text(done: list[dict[str, Any]]) -> str:
    """Median fd ± half the seeds' range / median class consistency (n seeds) of one cell's runs."""
    import numpy as np

    fds = [c["fd"] for c in done if c.get("fd") is not None]
    cons = [c["consistency"] for c in done if c.get("consistency") is not None]
    if not fds:
        return ""
    consistency = f"{np.median(cons):.2f}" if cons else "-"
    return f"{np.median(fds):.2f} ±{np.ptp(fds) / 2:.2f} / {consistency} ({len(done)} seeds)"


def table_result(rows: list[dict[str, Any]], quick: bool) -> BenchResult:
    """The finished cells in the paper's shape: per dataset one row per variant, one column per label
    fraction, each cell the median fd over its seeds (and the median class consistency), with the spread."""
    columns: list[str] = []
    grouped: dict[tuple[str, str], dict[str, list[dict[str, Any]]]] = {}
    for r in rows:
        column = "no labels" if r["fraction"] is None else f"{100 * r['fraction']:g}%"
        if column not in columns:
            columns.append(column)
        grouped.setdefault((r["data"], r["variant"]), {}).setdefault(column, []).append(r)
    columns.sort(key=lambda c: -1.0 if c == "no labels" else float(c[:-1]))
    datasets = list(dict.fromkeys(r["data"] for r in rows))
    order = {name: i for i, name in enumerate(_variant_names())}
    keys = sorted(grouped, key=lambda k: (datasets.index(k[0]), order.get(k[1], len(order))))
    table = [
        {"data": data, "variant": variant, **{c: _cell_text(grouped[data, variant].get(c, [])) for c in columns}}
        for data, variant in keys
    ]
    minutes = {data: sum(r.get("wall_s", 0.0) for r in rows if r["data"] == data) / 60 for data in datasets}
    summary: dict[str, Any] = {"cells": len(rows), "wall_minutes": sum(minutes.values())}
    notes = [
        f"{data}: {sum(r['data'] == data for r in rows)} cells of {_budget_text(rows, data)} of training each, "
        f"{m:.0f} cell-minutes of wall time with the measurement (cells at {_threads_text(rows, data)} torch "
        "thread(s) each; wall time grows when the table shares the machine, a CPU budget does not)"
        for data, m in minutes.items()
    ]
    for data in datasets:
        for claim, holds in paper_ordering(rows, data).items():
            summary[f"{data}:{claim}"] = holds
            shown = "not measured yet" if holds is None else "holds" if holds else "does not hold"
            where = ", ".join(f"{100 * f:g}%" for f in _claim_fractions(claim, planned_fractions(data)) if f)
            notes.append(f"{data}: the paper's {claim.replace('_', ' ')}{f' ({where})' if where else ''}: {shown}")
    return BenchResult(
        name="fewer-labels-table",  # its own section of docs/results.md, beside the shipped pair's
        title="Fewer labels: median fd (± half the seeds' range) / class consistency by variant and labelled share",
        rows=table,
        summary=summary,
        targets=[],
        notes=notes,
        quick=quick,
    )


# The paper's claims on its table (lower fd is better): (winner, loser, fractions); None: the no-label column,
# LOW: the low labelled shares (2.5% and 5% in the paper; a table without them judges at its lowest share).
LOW = "low"
_PAPER_CLAIMS = {
    "clustering_ahead_of_unconditional": ("clustering", "unconditional", None),
    "clustering_ahead_of_single_label": ("clustering", "single-label", None),
    "s2gan_co_ahead_of_s2gan_at_low_fractions": ("s2gan-co", "s2gan", LOW),
    "s3gan_ahead_of_s2gan_at_low_fractions": ("s3gan", "s2gan", LOW),
}
_PAPER_LOW_FRACTIONS = (0.025, 0.05)


def low_fractions(fractions: Sequence[float]) -> tuple[float, ...]:
    """The shares a table of ``fractions`` judges the low-share claims at: the paper's 2.5% and 5% where it
    has them, else its lowest share below 100% (Fashion-MNIST's table has 10% and 100% only)."""
    low = tuple(f for f in fractions if f in _PAPER_LOW_FRACTIONS)
    labelled = sorted(f for f in fractions if f is not None and f < 1.0)
    return low or tuple(labelled[:1])


def _claim_fractions(claim: str, fractions: Sequence[float]) -> tuple[float | None, ...]:
    share = _PAPER_CLAIMS[claim][2]
    return low_fractions(fractions) if share == LOW else (share,)


def claims_first(cells: list[Cell], fractions: Sequence[float] = FRACTIONS) -> list[Cell]:
    """The cells in running order: those a paper claim compares first, so that a table stopped early
    can already say whether the claims hold; otherwise the paper's order."""
    needed = {
        (variant, f)
        for claim, (winner, loser, _) in _PAPER_CLAIMS.items()
        for f in _claim_fractions(claim, fractions)
        for variant in (winner, loser)
    }
    return sorted(cells, key=lambda cell: (cell.variant, cell.fraction) not in needed)  # a stable sort


def planned_fractions(data: str) -> tuple[float, ...]:
    """The labelled shares the full table plans for ``data`` (the paper's five for a dataset it does not name)."""
    return next((fractions for name, _, fractions in FULL_TABLE if name == data), FRACTIONS)


def paper_ordering(
    rows: list[dict[str, Any]], data: str, fractions: Sequence[float] | None = None
) -> dict[str, bool | None]:
    """Whether each of the paper's orderings holds on ``data``'s median fd over seeds, the low-share claims
    at ``low_fractions(fractions)`` (default: the shares the full table plans for ``data``); None while a
    cell it needs is not finished."""
    import numpy as np

    fractions = planned_fractions(data) if fractions is None else fractions

    def median_fd(variant: str, fraction: float | None) -> float | None:
        fds = [
            r["fd"]
            for r in rows
            if r["data"] == data and r["variant"] == variant and r["fraction"] == fraction and r.get("fd") is not None
        ]
        return float(np.median(fds)) if fds else None

    verdicts: dict[str, bool | None] = {}
    for claim, (winner, loser, _) in _PAPER_CLAIMS.items():
        pairs = [(median_fd(winner, f), median_fd(loser, f)) for f in _claim_fractions(claim, fractions)]
        verdicts[claim] = None if any(None in p for p in pairs) else all(a < b for a, b in pairs)
    return verdicts


def extra_seed_notes(rows: list[dict[str, Any]], extra: list[dict[str, Any]], source: Path) -> list[str]:
    """The paper's verdicts again with ``extra`` rows (more seeds of some cells) pooled in, for the claims
    whose cells they add to."""
    from collections import Counter

    notes = []
    for data in dict.fromkeys(r["data"] for r in extra):
        touched = {(r["variant"], r["fraction"]) for r in extra if r["data"] == data}
        before, after = paper_ordering(rows, data), paper_ordering(rows + extra, data)
        runs = {(r["variant"], r["fraction"], r["seed"]) for r in rows + extra if r["data"] == data}
        seeds_of = Counter((variant, fraction) for variant, fraction, _ in runs)  # distinct seeds per cell
        for claim, holds in after.items():
            winner, loser, _ = _PAPER_CLAIMS[claim]
            cells = {(v, f) for f in _claim_fractions(claim, planned_fractions(data)) for v in (winner, loser)}
            if not cells & touched:
                continue
            per_cell = sorted({seeds_of[cell] for cell in cells})
            shown = "not measured yet" if holds is None else "holds" if holds else "does not hold"
            change = "" if holds == before[claim] else " (changed by the extra seeds)"
            notes.append(
                f"{data}: the paper's {claim.replace('_', ' ')} with the extra seeds of {source} "
                f"({'-'.join(map(str, per_cell))} seeds a cell): {shown}{change}"
            )
    return notes


def _variant_names() -> list[str]:
    from ganatomy.labels.variants import VARIANTS

    return list(VARIANTS)


def _budget_text(rows: list[dict[str, Any]], data: str) -> str:
    """The cells' budgets, e.g. '10 CPU-minutes' (rows from before the CPU clock say wall-clock minutes)."""
    clocks = {"cpu": "CPU-minutes", "wall": "wall-clock minutes"}
    budgets = sorted(
        {
            f"{r['budget_minutes']:g} {clocks[r.get('budget_clock', 'wall')]}"
            for r in rows
            if r["data"] == data and "budget_minutes" in r
        }
    )
    return " / ".join(budgets) or "an unrecorded budget"


def _threads_text(rows: list[dict[str, Any]], data: str) -> str:
    threads = sorted({str(r.get("threads") or "default") for r in rows if r["data"] == data})
    return ", ".join(threads)


def table(quick: bool, workers: int | None = None, minutes: float | None = None) -> BenchResult:
    """Run (or resume) the full table, one cell per core at once by default; ``--quick``: one world:32
    seed at 10%, seconds per cell, one at a time. ``minutes``: start no cell after that many minutes
    (the table so far comes back, marked partial; the next run resumes it)."""
    deadline = None if minutes is None else time.time() + 60 * minutes
    if quick:
        path = Path("runs/fewer-labels-quick") / TABLE_FILE
        rows = run_table(
            path,
            "world:32",
            seeds=(0,),
            fractions=(0.1,),
            budget_minutes=QUICK_BUDGET_MINUTES,
            outdir=path.parent,
            n=1,
            start_deadline=deadline,
        )
        return table_result(rows, quick)
    path = TABLE_PATH
    total = 0
    for data, seeds, fractions in FULL_TABLE:
        total += len(table_cells(data, seeds, fractions))
        rows = run_table(
            path,
            data,
            seeds,
            fractions,
            workers=workers or default_workers(),
            start_deadline=deadline,
        )
    result = table_result(rows, quick)
    result.summary["cells_total"] = total
    result.notes += extra_seed_notes(rows, read_table(EXTRA_SEEDS_PATH), EXTRA_SEEDS_PATH)
    if len(rows) < total:
        result.notes.insert(0, f"partial: {len(rows)} of {total} cells (rerun the same command to resume)")
    return result


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ganatomy.bench.fewer_labels", description=__doc__.split("\n")[0])
    parser.add_argument("--table", action="store_true", help="Run (or resume) the comparison table.")
    parser.add_argument("--quick", action="store_true", help="Seconds per cell and 1k samples: a check, not a result.")
    parser.add_argument("--data", default="world:32")
    parser.add_argument("--seeds", default="0,1", help="Comma-separated training seeds.")
    parser.add_argument("--fractions", default=",".join(f"{f:g}" for f in FRACTIONS))
    parser.add_argument("--variants", default=None, help="Comma-separated variants (default: every row).")
    parser.add_argument("--budget", type=float, default=None, help="CPU minutes of training per cell (default 10).")
    parser.add_argument("--out", type=Path, default=TABLE_PATH, help="The JSONL of finished cells.")
    parser.add_argument("--outdir", type=Path, default=Path("runs/fewer-labels"))
    parser.add_argument("--arch", default="dcgan")
    parser.add_argument(
        "--workers", type=int, default=None, help="Cells trained at once (default: one per core, one thread each)."
    )
    args = parser.parse_args(argv)
    if not args.table:
        print(run(quick=args.quick).to_json())
        return
    budget = args.budget if args.budget is not None else QUICK_BUDGET_MINUTES if args.quick else DEFAULT_BUDGET_MINUTES
    rows = run_table(
        args.out,
        data=args.data,
        seeds=[int(s) for s in args.seeds.split(",")],
        fractions=[float(f) for f in args.fractions.split(",")],
        budget_minutes=budget,
        outdir=args.outdir,
        arch=args.arch,
        n=1 if args.quick else 10,
        workers=args.workers or default_workers(),
        variants=None if args.variants is None else args.variants.split(","),
    )
    print(f"{len(rows)} cells in {args.out}")


if __name__ == "__main__":
    main()
