"""Metrics during training: chosen metrics of G_ema every N ticks, appended to ``metrics.jsonl``.

The names are checked when training starts (a typo fails before the first step, not an hour in).
Each evaluation runs on the main process only, under a forked RNG so that the training streams
are untouched, and its time is not counted as training time. Every record carries the tick and
kimg it was measured at; the headline numbers also go to stats.jsonl and TensorBoard as
``metrics/<name>``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ganatomy.errors import OptionsError
from ganatomy.metrics.evaluate import evaluate_generator, extractor_factories, parse_metric_names

METRICS_FILE = "metrics.jsonl"


def check_metric_names(names: list[str], dataset: Any) -> None:
    """OptionsError (one line) for a malformed name or an extractor that is not available."""
    if not names:
        return
    available = extractor_factories(dataset)
    for p in parse_metric_names(names):
        if p.extractor not in available:
            raise OptionsError(
                f"metrics: {p.name} needs extractor {p.extractor!r}; available: {', '.join(sorted(available))}"
            )


def metrics_due(names: list[str], every_ticks: int, tick: int, last: bool) -> bool:
    """Metrics run every ``every_ticks`` ticks and always at the end (``every_ticks`` 0: only at the end)."""
    return bool(names) and (last or (every_ticks > 0 and tick % every_ticks == 0))


def evaluate_during_training(
    G_ema: Any,
    names: list[str],
    dataset: Any,
    run_dir: Path,
    tick: int,
    cur_nimg: int,
    seed: int,
    cache_dir: str | None = None,
) -> dict[str, float]:
    """Evaluate ``names`` on ``G_ema``, append the records to ``run_dir/metrics.jsonl``; returns
    ``{"metrics/<name>": value}`` for the stats."""
    from ganatomy.metrics.compute import append_metric_records

    with torch.random.fork_rng(devices=[]):
        records = evaluate_generator(
            G_ema,
            names,
            dataset,
            cache_dir=cache_dir,
            seed=seed,
            fake_info={"network": "G_ema", "tick": tick, "kimg": cur_nimg / 1000},
        )
    for r in records:
        r.update({"tick": tick, "kimg": cur_nimg / 1000, "data": getattr(dataset, "name", None)})
    append_metric_records(run_dir / METRICS_FILE, records)
    return {f"metrics/{k}": float(v) for r in records for k, v in r["results"].items()}
