"""Labels inferred from a representation, before GAN training (the paper's "pre-trained" family).

- ``cluster_labels`` (Clustering): k-means on the standardised features; an image's label is its
  cluster. Its accuracy is read after matching clusters to classes one to one (Hungarian).
- ``classifier_labels`` (S2GAN): a linear (multinomial logistic) classifier on the features,
  fitted on the labelled subset; unlabelled images get its hard prediction (hard labels beat soft
  ones in the paper, Table 5), labelled ones keep their true label.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from ganatomy.errors import OptionsError

KMEANS_RESTARTS = 4  # k-means from several seeded starts, the best kept
CLASSIFIER_ITERATIONS = 1000  # L-BFGS iterations for the linear classifier


def standardise(features: np.ndarray) -> np.ndarray:
    """Zero mean, unit variance per feature (constant features stay 0)."""
    features = np.asarray(features, dtype=np.float64)
    std = features.std(axis=0)
    return (features - features.mean(axis=0)) / np.where(std > 0, std, 1.0)


def cluster_labels(features: np.ndarray, num_clusters: int, seed: int = 0) -> np.ndarray:
    """k-means cluster index [N] of each row of ``features`` [N, F]."""
    from sklearn.cluster import KMeans

    if not 1 <= num_clusters <= len(features):
        raise OptionsError(f"clustering: {num_clusters} clusters for {len(features)} images")
    km = KMeans(n_clusters=num_clusters, n_init=KMEANS_RESTARTS, random_state=seed)
    return km.fit_predict(standardise(features)).astype(np.int64)


def classifier_labels(features: np.ndarray, subset: np.ndarray, seed: int = 0) -> np.ndarray:
    """The true label where ``subset`` [N] has one (>= 0), else the prediction of a linear classifier
    fitted on those rows of ``features`` [N, F]."""
    from sklearn.linear_model import LogisticRegression

    subset = np.asarray(subset, dtype=np.int64)
    labelled = subset >= 0
    if len(np.unique(subset[labelled])) < 2:
        raise OptionsError("S2GAN's classifier needs labelled images of at least two classes")
    x = standardise(features)
    clf = LogisticRegression(max_iter=CLASSIFIER_ITERATIONS, random_state=seed)
    clf.fit(x[labelled], subset[labelled])
    out = subset.copy()
    if (~labelled).any():
        out[~labelled] = clf.predict(x[~labelled])
    return out


def accuracy(predicted: np.ndarray, true: np.ndarray, where: np.ndarray | None = None) -> float | None:
    """Share of ``predicted == true`` over the images ``where`` selects that have a true label (None if none)."""
    predicted, true = np.asarray(predicted), np.asarray(true)
    mask = true >= 0 if where is None else (true >= 0) & np.asarray(where, dtype=bool)
    return float((predicted[mask] == true[mask]).mean()) if mask.any() else None


def matched_accuracy(clusters: np.ndarray, true: np.ndarray) -> float | None:
    """Accuracy of cluster indices after the one-to-one cluster-to-class matching that maximises it
    (clusters without a partner count as wrong); None without true labels."""
    clusters, true = np.asarray(clusters, dtype=np.int64), np.asarray(true, dtype=np.int64)
    mask = true >= 0
    if not mask.any():
        return None
    k, c = int(clusters.max()) + 1, int(true[mask].max()) + 1
    counts = np.zeros((k, c), dtype=np.int64)
    np.add.at(counts, (clusters[mask], true[mask]), 1)
    rows, cols = linear_sum_assignment(counts, maximize=True)
    return float(counts[rows, cols].sum() / mask.sum())
