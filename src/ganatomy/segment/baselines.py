"""The paper's baselines on the same pixel features: k-means at K, and agglomerative (Ward) or
spectral clustering of the K0 k-means centroids.

Each gives a nearest-centre classifier: ``centres`` [M, C] and ``groups`` [M] (the cluster 0..K-1
of each centre), so that a pixel's cluster is the group of its nearest centre, on any image.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from ganatomy.errors import OptionsError
from ganatomy.segment.kmeans import kmeans, nearest

BASELINES = ("kmeans", "ahc", "spectral")


@dataclasses.dataclass
class CentreClustering:
    """Pixels go to the group of their nearest centre."""

    centres: torch.Tensor
    groups: np.ndarray

    def predict_features(self, x: torch.Tensor) -> torch.Tensor:
        labels, _ = nearest(x.to(self.centres), self.centres)
        return torch.as_tensor(self.groups, device=labels.device)[labels]


def kmeans_baseline(x: torch.Tensor, k: int, seed: int = 0) -> CentreClustering:
    centres, _ = kmeans(x, k, seed=seed)
    return CentreClustering(centres, np.arange(k))


def ahc_baseline(centroids: torch.Tensor, k: int) -> CentreClustering:
    """Ward agglomerative clustering of the k-means centroids into k groups."""
    from sklearn.cluster import AgglomerativeClustering

    _check_k(centroids, k)
    groups = AgglomerativeClustering(n_clusters=k, linkage="ward").fit_predict(centroids.double().cpu().numpy())
    return CentreClustering(centroids, groups.astype(np.int64))


def spectral_baseline(centroids: torch.Tensor, k: int, seed: int = 0, neighbours: int = 3) -> CentreClustering:
    """Spectral clustering (nearest-neighbour affinity, discretised) of the centroids, as KASP."""
    import warnings

    from sklearn.cluster import SpectralClustering

    _check_k(centroids, k)
    model = SpectralClustering(
        n_clusters=k,
        affinity="nearest_neighbors",
        n_neighbors=min(neighbours, len(centroids) - 1),
        assign_labels="discretize",
        random_state=seed,
    )
    with warnings.catch_warnings():  # a 3-NN graph of 100 points is often not connected: sklearn warns
        warnings.simplefilter("ignore")
        groups = model.fit_predict(centroids.double().cpu().numpy())
    return CentreClustering(centroids, groups.astype(np.int64))


def _check_k(centroids: torch.Tensor, k: int) -> None:
    if not 1 <= k <= len(centroids):
        raise OptionsError(f"segment baselines: K must lie in 1..{len(centroids)} (the centroids), got {k}")
