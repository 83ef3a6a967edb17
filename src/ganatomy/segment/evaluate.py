"""Scores of a clustering against ground-truth part masks: mIoU (many-to-one, Hungarian), ARI, AMI.

The mIoU matchings are ``ganatomy.metrics.segmentation``'s (one confusion matrix over all pixels).
Many-to-one is the paper's greedy matching (``miou_m2o``: each step maps the cluster to the part
that raises the mIoU most), with majority vote beside it (``miou_majority``, what this project
reported before 2026-12-08); the paper averages IoU per image, here it is over all pixels at once;
ARI and AMI come from scikit-learn on the same pixels (AMI on a seeded subsample of at most
``AMI_PIXELS``, as its cost grows with the pixel count times the cluster count).
"""

from __future__ import annotations

import numpy as np

from ganatomy.metrics.segmentation import SegmentationConfusion, greedy_mapping, mean_iou

AMI_PIXELS = 200_000


def confusion(pred: np.ndarray, gt: np.ndarray, n_clusters: int, n_labels: int) -> np.ndarray:
    c = SegmentationConfusion(n_clusters, n_labels)
    c.update(np.asarray(pred), np.asarray(gt))
    return c.matrix


def clustering_scores(
    pred: np.ndarray, gt: np.ndarray, n_clusters: int, n_labels: int, seed: int = 0
) -> dict[str, float]:
    """miou_m2o (greedy), miou_majority, miou_hungarian (background included, as the paper's
    clustering table), ari, ami."""
    from sklearn.metrics import adjusted_mutual_info_score, adjusted_rand_score

    pred, gt = np.asarray(pred).reshape(-1), np.asarray(gt).reshape(-1)
    matrix = confusion(pred, gt, n_clusters, n_labels)
    pick = np.arange(len(pred))
    if len(pred) > AMI_PIXELS:
        pick = np.random.default_rng(seed).choice(len(pred), AMI_PIXELS, replace=False)
    return {
        "miou_m2o": mean_iou(matrix, "greedy"),
        "miou_majority": mean_iou(matrix, "many_to_one"),
        "miou_hungarian": mean_iou(matrix, "hungarian"),
        "ari": float(adjusted_rand_score(gt, pred)),
        "ami": float(adjusted_mutual_info_score(gt[pick], pred[pick])),
    }


def cluster_to_part(pred: np.ndarray, gt: np.ndarray, n_clusters: int, n_labels: int) -> np.ndarray:
    """The greedy many-to-one map cluster -> part found on (generated) images, for relabelling other
    masks (clusters without pixels go to part 0)."""
    mapping = greedy_mapping(confusion(pred, gt, n_clusters, n_labels))
    return np.where(mapping < 0, 0, mapping)


def largest_cluster_share(masks: np.ndarray) -> float:
    """Mean over images of the share of pixels in each image's largest cluster (masks [N, H, W]).

    Without ground truth (digiface) it tells whether the masks collapse: near 1, one cluster is the
    whole image; a face's background, skin and hair alone keep it well below.
    """
    flat = np.asarray(masks).reshape(len(masks), -1)
    return float(np.mean([np.bincount(row).max() / row.size for row in flat]))
