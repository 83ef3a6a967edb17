"""Improved precision and recall (Kynkäänniemi et al., 2019, "Improved Precision and Recall
Metric for Assessing Generative Models").

Each set's manifold is estimated as the union of balls around its samples, the ball of sample
phi having the radius r_k(phi) = distance to its k-th nearest neighbour in the same set (the
sample itself excluded; k = 3 by default, as in the paper and in NVIDIA's ``pr50k3``)::

    f(phi, Phi) = 1 if ||phi - phi'|| <= r_k(phi') for some phi' in Phi, else 0
    precision   = mean over fakes phi_g of f(phi_g, Phi_real)
    recall      = mean over reals phi_r of f(phi_r, Phi_fake)

Precision is the share of generated samples that fall on the real manifold (quality); recall
the share of real samples covered by the generated manifold (coverage). Distances are Euclidean
on the features, computed with ``torch.cdist`` in row chunks so that memory stays at
``chunk_size x N`` floats.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from ganatomy.errors import OptionsError
from ganatomy.metrics.features import feature_pair


@dataclasses.dataclass(frozen=True)
class PrecisionRecall:
    precision: float
    recall: float
    k: int


def knn_radii(features: torch.Tensor, k: int = 3, chunk_size: int = 1024) -> torch.Tensor:
    """Distance from each sample to its k-th nearest neighbour in the same set (itself excluded)."""
    n = len(features)
    if n < k + 1:
        raise OptionsError(f"precision/recall: k={k} needs at least {k + 1} samples per set, got {n}")
    radii = torch.empty(n)
    for start in range(0, n, chunk_size):
        d = torch.cdist(features[start : start + chunk_size], features)
        # the k+1 smallest include the sample itself at distance 0
        radii[start : start + chunk_size] = d.topk(k + 1, dim=1, largest=False).values[:, k]
    return radii


def manifold_coverage(
    queries: torch.Tensor, support: torch.Tensor, radii: torch.Tensor, chunk_size: int = 1024
) -> float:
    """Share of ``queries`` inside the union of balls (``support`` centres, ``radii``)."""
    inside = 0
    for start in range(0, len(queries), chunk_size):
        d = torch.cdist(queries[start : start + chunk_size], support)
        inside += int((d <= radii[None, :]).any(dim=1).sum())
    return inside / len(queries)


def precision_recall(
    real: np.ndarray | torch.Tensor,
    fake: np.ndarray | torch.Tensor,
    k: int = 3,
    chunk_size: int = 1024,
) -> PrecisionRecall:
    """Improved precision and recall of ``fake`` [N2, D] against ``real`` [N1, D]."""
    x, y = feature_pair(real, fake, "precision/recall")
    if k < 1:
        raise OptionsError(f"precision/recall: k must be >= 1, got {k}")
    real_radii = knn_radii(x, k, chunk_size)
    fake_radii = knn_radii(y, k, chunk_size)
    precision = manifold_coverage(y, x, real_radii, chunk_size)
    recall = manifold_coverage(x, y, fake_radii, chunk_size)
    return PrecisionRecall(precision, recall, k)
