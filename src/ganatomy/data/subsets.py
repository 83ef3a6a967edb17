"""Labelled subsets: keep a class-balanced fraction of the labels, mark the rest unlabelled (-1).

Used to train with fewer labels (S2GAN/S3GAN) and to compare label fractions. Subsets drawn with
one seed are nested: the 5% subset lies inside the 10% subset. This holds because every labelled
item gets one seeded random rank, independent of the fraction, and each class keeps its
lowest-ranked items; per-class counts only grow with the fraction.
"""

from __future__ import annotations

import numpy as np

from ganatomy.data.base import ImageDataset
from ganatomy.errors import OptionsError


def _per_class_counts(total: int, classes: np.ndarray, sizes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Split ``total`` equally over the classes; the remainder goes to classes in a seeded order."""
    c = len(classes)
    counts = np.full(c, total // c, dtype=np.int64)
    # One class order per seed, independent of the fraction, so counts never shrink as it grows.
    order = rng.permutation(c)
    counts[order[: total % c]] += 1
    # A class smaller than its share gives all it has (only possible for imbalanced sets).
    return np.minimum(counts, sizes)


def labelled_subset(labels: np.ndarray, fraction: float, seed: int = 0) -> np.ndarray:
    """Keep ``fraction`` of the labels, class-balanced and fixed by ``seed``; the rest become -1.

    Args:
        labels: int labels [N]; -1 (already unlabelled) stays -1 and does not count.
        fraction: in [0, 1], of the labelled items. The number kept is
            ``round(fraction * n_labelled)`` (halves round up), split equally over the classes
            present; the remainder of that division goes to one extra item for some classes, chosen
            in a seeded class order. A class with fewer items than its share keeps them all.
        seed: the same seed gives the same subset, and nested subsets for growing fractions.

    Returns:
        A new int64 array [N].
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise OptionsError(f"labels must be a 1-D integer array, got {labels.dtype} with shape {labels.shape}")
    if not 0.0 <= float(fraction) <= 1.0:
        raise OptionsError(f"label fraction {fraction} must be between 0 and 1 (e.g. 0.05 for 5%)")
    labels = labels.astype(np.int64)
    out = np.full_like(labels, -1)
    labelled = np.flatnonzero(labels >= 0)
    if labelled.size == 0:
        return out
    classes, sizes = np.unique(labels[labelled], return_counts=True)
    total = int(np.floor(float(fraction) * labelled.size + 0.5))

    rng = np.random.default_rng(seed)
    rank = rng.permutation(labels.size)  # one seeded rank per item, whatever the fraction
    counts = _per_class_counts(total, classes, sizes, rng)
    for cls, k in zip(classes, counts):
        members = np.flatnonzero(labels == cls)
        keep = members[np.argsort(rank[members], kind="stable")[:k]]
        out[keep] = cls
    return out


def with_label_fraction(dataset: ImageDataset, fraction: float, seed: int = 0) -> ImageDataset:
    """``dataset`` with only a class-balanced ``fraction`` of its labels (see ``labelled_subset``)."""
    return dataset.with_labels(labelled_subset(dataset.labels, fraction, seed))
