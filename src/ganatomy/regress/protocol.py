"""The few-shot protocol's draws: n labelled images from a pool, no two closer than a minimum spacing.

As in LARGE's experiments, a candidate is rejected when its value lies within ``min_dist`` of one
already chosen, with ``min_dist = (max - min) / n**1.3`` by default: a user labelling two images
picks two that differ, and two near-identical labels would make the slope a division by noise.
The spacing here is on the values handed over (the labels), so every method sees the same draws.
"""

from __future__ import annotations

import numpy as np

from ganatomy.errors import OptionsError

SPACING_POWER = 1.3


def spaced_draw(values: np.ndarray, n: int, rng: np.random.Generator, min_dist: float | None = None) -> np.ndarray:
    """Indices of ``n`` pool items drawn at random, pairwise at least ``min_dist`` apart in ``values``."""
    values = np.asarray(values, dtype=np.float64)
    if not 2 <= n <= len(values):
        raise OptionsError(f"spaced draw: n must lie in [2, {len(values)}], got {n}")
    if min_dist is None:
        min_dist = np.ptp(values) / n**SPACING_POWER
    chosen: list[int] = []
    for i in rng.permutation(len(values)):
        if all(abs(values[i] - values[j]) >= min_dist for j in chosen):
            chosen.append(int(i))
            if len(chosen) == n:
                return np.asarray(chosen)
    raise OptionsError(f"spaced draw: cannot place {n} values {min_dist:g} apart in a pool spanning {np.ptp(values):g}")


def spaced_draws(values: np.ndarray, n: int, draws: int, seed: int) -> list[np.ndarray]:
    """``draws`` independent spaced draws of ``n`` items (one seeded stream)."""
    rng = np.random.default_rng(seed)
    return [spaced_draw(values, n, rng) for _ in range(draws)]
