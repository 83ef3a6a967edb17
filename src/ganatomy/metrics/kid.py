"""Kernel Inception Distance: the unbiased MMD^2 with a cubic polynomial kernel.

Bińkowski et al., 2018, "Demystifying MMD GANs". With the kernel k(x, y) = (x·y / d + 1)^3 on
d-dimensional features and two subsets X, Y of m samples each::

    MMD_u^2 = 1/(m(m-1)) sum_{i!=j} k(x_i, x_j) + 1/(m(m-1)) sum_{i!=j} k(y_i, y_j)
              - 2/m^2 sum_{i,j} k(x_i, y_j)

The estimate is unbiased, so it is near zero (and may be negative) for two samples of one
distribution. It is averaged over ``num_subsets`` random subsets of ``subset_size`` drawn without
replacement from each set (a fixed seed, so the number is reproducible); the standard deviation
over subsets is returned with it. The defaults (100 subsets of 1000) follow the stylegan2-ada /
stylegan3 metrics.

When a set has fewer samples than ``subset_size`` this raises ``OptionsError`` instead of
shrinking the subsets silently: the subset size is part of the protocol, and a changed one
gives a number that is not comparable.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from ganatomy.errors import OptionsError
from ganatomy.metrics.features import feature_pair


@dataclasses.dataclass(frozen=True)
class KIDResult:
    """Mean and standard deviation of MMD^2 over the subsets."""

    mean: float
    std: float
    num_subsets: int
    subset_size: int


def _cubic_kernel_sum(a: torch.Tensor, b: torch.Tensor, d: int, drop_diagonal: bool) -> float:
    """sum_ij (a_i·b_j / d + 1)^3; the dot products in float32, the kernel and the sum in float64."""
    k = (a @ b.T).double().div_(d).add_(1.0).pow_(3)
    total = float(k.sum())
    if drop_diagonal:
        total -= float(k.diagonal().sum())
    return total


def kernel_inception_distance(
    real: np.ndarray | torch.Tensor,
    fake: np.ndarray | torch.Tensor,
    num_subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 0,
) -> KIDResult:
    """KID between feature sets ``real`` [N1, D] and ``fake`` [N2, D] (formula in the module doc)."""
    x, y = feature_pair(real, fake, "KID")
    if num_subsets < 1 or subset_size < 2:
        raise OptionsError(f"KID: needs num_subsets >= 1 and subset_size >= 2, got {num_subsets} and {subset_size}")
    if len(x) < subset_size or len(y) < subset_size:
        raise OptionsError(
            f"KID: subset_size={subset_size} needs at least {subset_size} samples in each set, "
            f"got {len(x)} real and {len(y)} fake; lower the subset size or use more samples"
        )
    d = x.shape[1]
    m = subset_size
    rng = np.random.default_rng(seed)
    values = np.empty(num_subsets, dtype=np.float64)
    for s in range(num_subsets):
        xs = x[torch.from_numpy(rng.choice(len(x), m, replace=False))]
        ys = y[torch.from_numpy(rng.choice(len(y), m, replace=False))]
        kxx = _cubic_kernel_sum(xs, xs, d, drop_diagonal=True)
        kyy = _cubic_kernel_sum(ys, ys, d, drop_diagonal=True)
        kxy = _cubic_kernel_sum(xs, ys, d, drop_diagonal=False)
        values[s] = (kxx + kyy) / (m * (m - 1)) - 2.0 * kxy / (m * m)
    return KIDResult(float(values.mean()), float(values.std()), num_subsets, subset_size)
