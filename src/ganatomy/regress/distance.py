"""The distance of a latent along a direction (LARGE's feature), and the calibration y = a·d + b.

Distances are projections, d = lᵀn, without dividing by |n| (the calibration's slope absorbs the
scale, and the intercept any offset of the hyperplane):

- Z or W latents [N, D]: one distance per latent;
- W+ latents [N, L, D] with a W direction [D] (or a W+ one restricted to some rows): per row,
  d_r = l_rᵀn over the rows the direction moves; ``mode="projection"`` sums them (the flattened
  W+ latent against the tiled direction), ``mode="per_layer"`` keeps one feature per row (a
  multivariate calibration).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ganatomy.errors import OptionsError

MODES = ("projection", "per_layer")


def distance_features(
    latents: torch.Tensor, vector: torch.Tensor, rows: Sequence[int] | None = None, mode: str = "projection"
) -> np.ndarray:
    """Distances [N, 1] (``projection``) or [N, rows] (``per_layer``, W+ only) of ``latents`` along ``vector`` [D]."""
    if mode not in MODES:
        raise OptionsError(f"distance: mode must be one of {', '.join(MODES)}, got {mode!r}")
    latents = torch.as_tensor(latents).double().cpu()
    vector = torch.as_tensor(vector).double().cpu().reshape(-1)
    if latents.ndim not in (2, 3) or latents.shape[-1] != len(vector):
        raise OptionsError(
            f"distance: latents of shape {tuple(latents.shape)} do not match a {len(vector)}-d direction"
        )
    if latents.ndim == 2:
        if mode == "per_layer":
            raise OptionsError("distance: per_layer distances need W+ latents [N, L, D]")
        return (latents @ vector)[:, None].numpy()
    per_row = latents @ vector  # [N, L]
    if rows is not None:
        per_row = per_row[:, list(rows)]
    return (per_row.sum(1, keepdim=True) if mode == "projection" else per_row).numpy()


def check_labels(labels: Sequence[float] | np.ndarray, n: int, where: str) -> np.ndarray:
    """Labels as float64 [n]: at least two, finite, not all equal (else the slope is undefined)."""
    y = np.asarray(labels, dtype=np.float64).reshape(-1)
    if len(y) != n:
        raise OptionsError(f"{where}: {len(y)} labels for {n} images")
    if len(y) < 2:
        raise OptionsError(f"{where}: needs at least 2 labelled images to fix a slope and an offset, got {len(y)}")
    if not np.isfinite(y).all():
        raise OptionsError(f"{where}: labels hold NaN or Inf")
    if np.ptp(y) == 0:
        raise OptionsError(f"{where}: every label is {y[0]:g}; two different values are needed to fix the slope")
    return y


def calibrate(features: np.ndarray, labels: np.ndarray, where: str = "calibration") -> tuple[np.ndarray, float]:
    """(coefficients [F], intercept) of y = a·d + b by least squares (exact through two points).

    With more features than labels (per-layer distances from few labels) the minimum-norm solution
    is taken. Labelled images at one distance along a 1-D direction cannot fix a slope: a one-line
    error says so.
    """
    X = np.asarray(features, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    spread = np.ptp(X, axis=0)
    if not (spread > 0).any():
        raise OptionsError(
            f"{where}: the labelled images lie at the same distance along the direction; "
            "label images that differ in the attribute, or use another direction"
        )
    centre = X.mean(0)
    coef = np.linalg.lstsq(X - centre, y - y.mean(), rcond=None)[0]
    return coef, float(y.mean() - centre @ coef)
