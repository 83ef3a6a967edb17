"""``ganatomy bench quality``: what the default CPU StyleGAN2 reaches on world:32 in a fixed budget.

Trains the ``cpu32`` preset with default options for 30 minutes of training time (``--quick``:
1 minute), then measures the EMA generator with the world oracle (Fréchet distance, KID,
precision and recall on oracle features, against real world images) and writes the grid.
"""

from __future__ import annotations

import json
from pathlib import Path

from ganatomy.bench.result import BenchResult
from ganatomy.data.resolve import open_dataset
from ganatomy.train.options import TrainOptions
from ganatomy.train.run import run_training
from ganatomy.train.state import load_generator

_OUTDIR = Path("runs/bench-quality")


def _last_stats(run_dir: Path) -> dict:
    lines = (run_dir / "stats.jsonl").read_text().splitlines()
    return json.loads(lines[-1]) if lines else {}


def _oracle_metrics(run_dir: Path, n: int) -> dict:
    """Oracle metrics of the final snapshot, or {} while the oracle is not available."""
    try:
        from ganatomy.metrics.evaluate import evaluate_generator
    except ImportError:
        return {}
    snapshot = sorted(run_dir.glob("network-snapshot-*.safetensors"))[-1]
    G = load_generator(snapshot)
    names = [f"fd{n}_oracle", f"kid{n}_oracle", f"pr{n}_oracle"]
    records = evaluate_generator(G, names, open_dataset("world:32"), seed=0)
    out = {}
    for r in records:
        for k, v in r.get("results", {}).items():
            out[k] = v
    return out


def run(quick: bool) -> BenchResult:
    minutes = 1.0 if quick else 30.0
    opts = TrainOptions(data="world:32", kimg=100_000.0, max_minutes=minutes, outdir=str(_OUTDIR),
                        tick_kimg=0.25 if quick else 4.0, snapshot_ticks=0)
    run_dir = run_training(opts=opts)
    stats = _last_stats(run_dir)
    metrics = _oracle_metrics(run_dir, 1 if quick else 10)
    summary = {
        "kimg": stats.get("kimg"),
        "minutes": stats.get("progress/seconds", 0.0) / 60,
        "img_per_s": stats.get("speed/img_per_s"),
        "loss_G": stats.get("loss/G"),
        "loss_D": stats.get("loss/D"),
        **metrics,
    }
    rows = [{"quantity": k, "value": v} for k, v in summary.items()]
    notes = [f"run directory: {run_dir}", "grid of fixed seeds: fakes-latest.png in the run directory"]
    if not metrics:
        notes.append("oracle metrics not available (no world oracle installed): losses only")
    return BenchResult(
        name="quality",
        title=f"Quality: cpu32 StyleGAN2 on world:32 after {minutes:g} training minutes",
        rows=rows, summary=summary, notes=notes, quick=quick,
        artifacts=[str(run_dir / "fakes-latest.png")],
    )
