"""``ganatomy bench quality``: what the default CPU StyleGAN2 reaches on world:32 in a fixed budget.

Trains the ``cpu32`` preset with default options for 30 minutes of training time (``--quick``:
1 minute); the loop then measures the EMA generator with the world oracle (Fréchet distance, KID,
precision and recall on oracle features of 10k generated and 10k real world images; ``--quick``: 1k)
and writes the grid.
"""

from __future__ import annotations

from pathlib import Path

from ganatomy.bench.reference import REFERENCE_SEED, real_vs_real
from ganatomy.bench.result import BenchResult
from ganatomy.runs.logs import read_jsonl
from ganatomy.runs.stats import STATS_FILE
from ganatomy.train.metrics import METRICS_FILE
from ganatomy.train.options import TrainOptions
from ganatomy.train.run import run_training

_OUTDIR = Path("runs/bench-quality")


def _last_stats(run_dir: Path) -> dict:
    records = read_jsonl(run_dir / STATS_FILE)
    return records[-1] if records else {}


def _final_metrics(run_dir: Path) -> dict:
    """The flat results of the metrics the loop computed at the end of training."""
    path = run_dir / METRICS_FILE
    records = read_jsonl(path) if path.exists() else []
    last_tick = max((r["tick"] for r in records), default=None)
    return {k: v for r in records if r["tick"] == last_tick for k, v in r["results"].items()}


def run(quick: bool) -> BenchResult:
    minutes = 1.0 if quick else 30.0
    n = 1 if quick else 10
    opts = TrainOptions(
        data="world:32",
        kimg=100_000.0,
        max_minutes=minutes,
        outdir=str(_OUTDIR),
        tick_kimg=0.25 if quick else 4.0,
        snapshot_ticks=0,
        metrics=[f"fd{n}k_oracle", f"kid{n}k_oracle", f"pr{n}k_oracle"],
    )
    run_dir = run_training(opts=opts)
    stats = _last_stats(run_dir)
    metrics = _final_metrics(run_dir)
    reference = real_vs_real(opts.metrics, "world:32", n * 1000)
    summary = {
        "kimg": stats.get("kimg"),
        "minutes": stats.get("progress/seconds", 0.0) / 60,
        "img_per_s": stats.get("speed/img_per_s"),
        "loss_G": stats.get("loss/G"),
        "loss_D": stats.get("loss/D"),
        **metrics,
    }
    rows = [{"quantity": k, "value": v, "real vs real": reference.get(k, "")} for k, v in summary.items()]
    summary.update({f"{k}_real_vs_real": v for k, v in reference.items()})
    notes = [f"run directory: {run_dir}", "grid of fixed seeds: fakes-latest.png in the run directory"]
    notes.append(
        f"metrics: {', '.join(opts.metrics)} of G_ema at the end of training against world:32, "
        "on world-oracle features (see metrics.jsonl in the run directory)"
    )
    notes.append(
        f"real vs real: the same metrics between world:32 and {n}k other world images (dataset seed "
        f"{REFERENCE_SEED}), what a perfect generator would score"
    )
    return BenchResult(
        name="quality",
        title=f"Quality: cpu32 StyleGAN2 on world:32 after {minutes:g} training minutes",
        rows=rows,
        summary=summary,
        notes=notes,
        quick=quick,
        artifacts=[str(run_dir / "fakes-latest.png")],
    )
