"""The metric record: one JSON object per computed metric, the same shape for every kind.

``metric`` (the name), ``label`` (for display), ``value`` (the headline) and ``values`` (all
numbers), ``protocol`` (kind, N and whatever else makes the number reproducible: extractor or
judge, seeds, options), the ganatomy and torch versions, ``time_s`` and a UTC ``timestamp``.
"""

from __future__ import annotations

import datetime
from typing import Any

import torch

import ganatomy
from ganatomy.metrics.registry import MetricName


def make_record(
    name: MetricName,
    label: str,
    values: dict[str, Any],
    primary: str,
    protocol: dict[str, Any],
    time_s: float,
    **extra: Any,
) -> dict[str, Any]:
    """The record of metric ``name``; ``protocol`` adds to kind and num, ``extra`` to the top level."""
    return {
        "metric": name.name,
        "label": label,
        "value": values[primary],
        "values": values,
        "protocol": {"kind": name.kind, "num": name.num, **protocol},
        "ganatomy_version": ganatomy.__version__,
        "torch_version": torch.__version__,
        "time_s": round(time_s, 4),
        **extra,
        "timestamp": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
