"""What the world oracle predicts, read from the world's registries, and how targets are encoded.

Nothing here names a factor: the continuous factors, the categorical factors and the part labels
come from ``ganatomy.worlds.factors``. A continuous factor is predicted normalised to [0, 1] by its
registry range, ``(value - low) / (high - low)``, except a *circular* one: a hue (the name ends in
``_hue``, and hues are fractions of the colour circle) whose range is the whole circle
(``high - low == 1``). Its two ends are the same colour, so a plain regression would be torn at the
seam; it is predicted as ``(cos 2*pi*t, sin 2*pi*t)`` and decoded with ``atan2``. Its R² uses the
circular error (see :func:`r2_scores`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from ganatomy.errors import CheckpointError
from ganatomy.worlds.factors import FACTORS, LABEL_FACTOR, PART_LABELS, Factor

# Variance of a uniform variable on [0, 1] (and mean squared circular distance of a uniform angle,
# in turns, to any point): the regression loss is divided by it, so 1 means "chance".
_UNIFORM_VAR = 1.0 / 12.0
# Variance of cos(2*pi*u) (and of sin) for uniform u.
_COS_VAR = 0.5


def is_circular(f: Factor) -> bool:
    """A hue factor whose range is the full colour circle (its ends are the same colour)."""
    return (not f.is_categorical) and f.name.endswith("_hue") and abs((f.high - f.low) - 1.0) < 1e-12


@dataclasses.dataclass(frozen=True)
class ContinuousTarget:
    name: str
    low: float
    high: float
    circular: bool

    @property
    def width(self) -> int:
        """Regression outputs used: 2 (cos, sin) for a circular factor, else 1."""
        return 2 if self.circular else 1


@dataclasses.dataclass(frozen=True)
class CategoricalTarget:
    name: str
    classes: tuple[str, ...]

    @property
    def num_classes(self) -> int:
        return len(self.classes)


@dataclasses.dataclass(frozen=True)
class OracleSpec:
    """The oracle's outputs: continuous factors, categorical factors and part labels, in registry order."""

    continuous: tuple[ContinuousTarget, ...]
    categorical: tuple[CategoricalTarget, ...]
    parts: tuple[str, ...]
    label_factor: str

    @classmethod
    def from_world(cls) -> OracleSpec:
        """The spec of the current world registry."""
        cont = tuple(
            ContinuousTarget(f.name, float(f.low), float(f.high), is_circular(f))
            for f in FACTORS
            if not f.is_categorical
        )
        cat = tuple(CategoricalTarget(f.name, tuple(f.classes)) for f in FACTORS if f.is_categorical)
        return cls(cont, cat, tuple(PART_LABELS), LABEL_FACTOR)

    # --- (de)serialisation for checkpoints --------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "continuous": [[t.name, t.low, t.high, t.circular] for t in self.continuous],
            "categorical": [[t.name, list(t.classes)] for t in self.categorical],
            "parts": list(self.parts),
            "label_factor": self.label_factor,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> OracleSpec:
        try:
            return cls(
                tuple(ContinuousTarget(str(n), float(lo), float(hi), bool(c)) for n, lo, hi, c in d["continuous"]),
                tuple(CategoricalTarget(str(n), tuple(map(str, cl))) for n, cl in d["categorical"]),
                tuple(map(str, d["parts"])),
                str(d["label_factor"]),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise CheckpointError(f"oracle spec is malformed ({e})") from None

    # --- sizes ------------------------------------------------------------------------------
    @property
    def regression_width(self) -> int:
        return sum(t.width for t in self.continuous)

    @property
    def num_parts(self) -> int:
        return len(self.parts)

    @property
    def factor_names(self) -> list[str]:
        return [t.name for t in self.continuous] + [t.name for t in self.categorical]

    def kinds(self) -> dict[str, str]:
        """Factor name -> 'continuous' | 'categorical' (what the disentanglement metrics take)."""
        return {**{t.name: "continuous" for t in self.continuous}, **{t.name: "categorical" for t in self.categorical}}

    # --- targets ----------------------------------------------------------------------------
    def encode(self, factors: Mapping[str, np.ndarray]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Factor arrays [N] -> (regression targets float32 [N, regression_width], class indices {name: [N]})."""
        cols = []
        for t in self.continuous:
            u = (np.asarray(factors[t.name], dtype=np.float64) - t.low) / (t.high - t.low)
            if t.circular:
                cols += [np.cos(2 * math.pi * u), np.sin(2 * math.pi * u)]
            else:
                cols.append(u)
        reg = torch.from_numpy(np.stack(cols, axis=1).astype(np.float32))
        cls_t = {t.name: torch.from_numpy(np.asarray(factors[t.name], dtype=np.int64)) for t in self.categorical}
        return reg, cls_t

    def regression_scale(self) -> torch.Tensor:
        """Per-output variance at chance: dividing the squared error by it puts every output on one scale."""
        scale = []
        for t in self.continuous:
            scale += [_COS_VAR, _COS_VAR] if t.circular else [_UNIFORM_VAR]
        return torch.tensor(scale, dtype=torch.float32)

    def decode(self, regression: torch.Tensor) -> dict[str, np.ndarray]:
        """Regression outputs [N, regression_width] -> continuous factors in registry units (float64 [N]).

        Linear factors are clipped to their range; circular ones are wrapped into [low, high).
        """
        r = regression.detach().float().cpu().numpy().astype(np.float64)
        out, j = {}, 0
        for t in self.continuous:
            if t.circular:
                u = np.mod(np.arctan2(r[:, j + 1], r[:, j]) / (2 * math.pi), 1.0)
            else:
                u = np.clip(r[:, j], 0.0, 1.0)
            out[t.name] = t.low + (t.high - t.low) * u
            j += t.width
        return out

    def check_matches_world(self, where: str) -> None:
        """CheckpointError when an oracle was trained for another world than the registry's."""
        current = OracleSpec.from_world()
        if self.to_dict() != current.to_dict():
            raise CheckpointError(
                f"{where}: the oracle was trained for a different world (factors or parts changed); retrain it with "
                "`ganatomy oracle train`"
            )


def circular_distance(a: np.ndarray, b: np.ndarray, period: float = 1.0) -> np.ndarray:
    """Shortest distance on a circle of circumference ``period``."""
    d = np.mod(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64), period)
    return np.minimum(d, period - d)


def circular_mean(x: np.ndarray, period: float = 1.0) -> float:
    angle = 2 * math.pi * np.asarray(x, dtype=np.float64) / period
    return float(np.mod(math.atan2(np.sin(angle).mean(), np.cos(angle).mean()) / (2 * math.pi), 1.0) * period)


def r2_scores(
    spec: OracleSpec, predicted: Mapping[str, np.ndarray], true: Mapping[str, np.ndarray]
) -> dict[str, float]:
    """R² of every continuous factor: 1 - sum (pred - true)² / sum (true - mean)².

    For a circular factor both differences are circular distances and the mean is the circular
    mean of the true values, so a prediction of 0.99 for a true 0.01 counts as an error of 0.02.
    """
    out = {}
    for t in spec.continuous:
        p = np.asarray(predicted[t.name], dtype=np.float64)
        y = np.asarray(true[t.name], dtype=np.float64)
        if t.circular:
            period = t.high - t.low
            err = circular_distance(p, y, period)
            dev = circular_distance(y, circular_mean(y - t.low, period) + t.low, period)
        else:
            err, dev = p - y, y - y.mean()
        denom = float((dev**2).sum())
        out[t.name] = float(1.0 - (err**2).sum() / denom) if denom > 0 else float("nan")
    return out
