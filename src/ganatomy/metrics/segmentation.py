"""Mean IoU and pixel accuracy of an unsupervised segmentation against ground-truth labels.

Predicted masks hold cluster ids 0..P-1 whose meaning is unknown, so they are matched to the G
ground-truth labels first. Both matchings used in the literature are computed from one
confusion matrix C[p, g] (pixel counts of cluster p over label g, summed over all pixels of all
images, i.e. dataset-level IoU rather than a per-image average):

* one-to-one (Hungarian): IoU[p, g] = C[p, g] / (|pred = p| + |gt = g| - C[p, g]); the assignment
  maximising the total IoU (``scipy.optimize.linear_sum_assignment``) pairs each label with at
  most one cluster. A label left without a cluster (P < G) scores 0; clusters left without a
  label count as wrong pixels.
* many-to-one, majority vote (``many_to_one``): each cluster is mapped to the label it overlaps
  most, argmax_g C[p, g]; the clusters mapped to one label are merged, and IoU is taken per label
  on the merged prediction. A label that no cluster maps to scores 0. A label split into several
  clusters is fully recovered here but only partly by the one-to-one matching.
* many-to-one, greedy on the mIoU (``greedy``, KLiSH's evaluation): starting with no cluster
  mapped, repeatedly map the (cluster, label) pair that leaves the highest mIoU, until every
  cluster is mapped. A small part that no cluster holds a majority of (eyes whose cluster also
  covers skin at its edges) still gets its cluster when that raises the mean, which majority
  vote never allows. Clusters go to labels present in the ground truth only.

mIoU is the mean over the labels present in the ground truth. Each matching is reported with
and without the background label (``background``, 0 by default): "without background" leaves the
background out of the mean only (its pixels stay in the matrix, so a cluster that spills into the
background is still penalised), like ``torchmetrics``' old ``ignore_index`` for IoU. Pixel
accuracy is the share of pixels whose matched label is right.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from ganatomy.errors import OptionsError


class SegmentationConfusion:
    """Confusion matrix C[p, g] between predicted clusters and ground-truth labels, over batches.

    Args:
        num_clusters: predicted ids are 0..num_clusters-1.
        num_labels: ground-truth labels are 0..num_labels-1.
        ignore_label: ground-truth value whose pixels are skipped entirely (e.g. 255 for "unknown"),
            or None.
    """

    def __init__(self, num_clusters: int, num_labels: int, ignore_label: int | None = None):
        if num_clusters < 1 or num_labels < 1:
            raise OptionsError(f"segmentation: needs >= 1 cluster and label, got {num_clusters} and {num_labels}")
        self.num_clusters = int(num_clusters)
        self.num_labels = int(num_labels)
        self.ignore_label = ignore_label
        self.matrix = np.zeros((self.num_clusters, self.num_labels), dtype=np.int64)

    def update(self, pred: np.ndarray | torch.Tensor, gt: np.ndarray | torch.Tensor) -> None:
        """Add a batch of predicted ids and ground-truth labels of one shape (e.g. [B, H, W])."""
        pred = torch.as_tensor(pred).reshape(-1).to(torch.int64)
        gt = torch.as_tensor(gt).reshape(-1).to(torch.int64)
        if pred.shape != gt.shape:
            raise OptionsError(
                f"segmentation: prediction and ground truth sizes differ ({pred.numel()} vs {gt.numel()})"
            )
        if self.ignore_label is not None:
            keep = gt != self.ignore_label
            pred, gt = pred[keep], gt[keep]
        if pred.numel() == 0:
            return
        if int(pred.min()) < 0 or int(pred.max()) >= self.num_clusters:
            raise OptionsError(f"segmentation: predicted ids must lie in 0..{self.num_clusters - 1}")
        if int(gt.min()) < 0 or int(gt.max()) >= self.num_labels:
            raise OptionsError(f"segmentation: ground-truth labels must lie in 0..{self.num_labels - 1}")
        counts = torch.bincount(pred * self.num_labels + gt, minlength=self.num_clusters * self.num_labels)
        self.matrix += counts.reshape(self.num_clusters, self.num_labels).numpy()

    def scores(self, background: int | None = 0) -> dict[str, float]:
        """All numbers of :func:`segmentation_scores` for the accumulated matrix."""
        return segmentation_scores(self.matrix, background=background)


def _iou(tp: np.ndarray, predicted: np.ndarray, actual: np.ndarray) -> np.ndarray:
    """tp / (predicted + actual - tp), 0 where the union is empty (the arrays broadcast)."""
    tp = np.asarray(tp, dtype=np.float64)
    union = predicted + actual - tp
    return np.divide(tp, union, out=np.zeros_like(union), where=union > 0)


def iou_matrix(confusion: np.ndarray) -> np.ndarray:
    """IoU[p, g] of every cluster with every label."""
    c = np.asarray(confusion, dtype=np.float64)
    return _iou(c, c.sum(axis=1, keepdims=True), c.sum(axis=0, keepdims=True))


def hungarian_mapping(confusion: np.ndarray) -> np.ndarray:
    """Label of each cluster under the one-to-one matching (-1: no label)."""
    rows, cols = linear_sum_assignment(iou_matrix(confusion), maximize=True)
    mapping = np.full(confusion.shape[0], -1, dtype=np.int64)
    mapping[rows] = cols
    return mapping


def many_to_one_mapping(confusion: np.ndarray) -> np.ndarray:
    """Label of each cluster under the majority vote (ties: the lower label; empty clusters: -1)."""
    c = np.asarray(confusion)
    mapping = c.argmax(axis=1).astype(np.int64)
    mapping[c.sum(axis=1) == 0] = -1
    return mapping


def merge_clusters(confusion: np.ndarray, mapping: np.ndarray) -> np.ndarray:
    """Label-by-label confusion [G, G] after relabelling clusters by ``mapping`` (-1 dropped)."""
    c = np.asarray(confusion, dtype=np.int64)
    g = c.shape[1]
    merged = np.zeros((g, g), dtype=np.int64)
    for p, label in enumerate(mapping):
        if label >= 0:
            merged[label] += c[p]
    return merged


def _per_label_iou(confusion: np.ndarray, mapping: np.ndarray) -> np.ndarray:
    """IoU of each label after matching; the union counts every gt pixel, matched or not."""
    c = np.asarray(confusion, dtype=np.int64)
    merged = merge_clusters(c, mapping)
    # predicted: pixels assigned to each label; actual: all gt pixels of each label
    return _iou(np.diag(merged), merged.sum(axis=1), c.sum(axis=0))


def mean_iou(
    confusion: np.ndarray,
    matching: str = "hungarian",
    background: int | None = 0,
    include_background: bool = True,
) -> float:
    """mIoU over labels present in the ground truth, after ``matching`` ('hungarian', 'many_to_one',
    'greedy', or 'identity' for predictions that already are labels)."""
    c = np.asarray(confusion, dtype=np.int64)
    present = c.sum(axis=0) > 0
    if not present.any():
        raise OptionsError("segmentation: no pixels were accumulated")
    if not include_background and background is not None and 0 <= background < len(present):
        present[background] = False
    iou = _per_label_iou(c, _mapping(c, matching, scored=present))
    # NaN when the ground truth holds nothing but background
    return float(iou[present].mean()) if present.any() else float("nan")


def pixel_accuracy(confusion: np.ndarray, matching: str = "hungarian") -> float:
    """Share of pixels whose matched label equals the ground truth."""
    c = np.asarray(confusion, dtype=np.int64)
    total = c.sum()
    if total == 0:
        raise OptionsError("segmentation: no pixels were accumulated")
    return float(np.trace(merge_clusters(c, _mapping(c, matching))) / total)


def greedy_mapping(confusion: np.ndarray, scored: np.ndarray | None = None) -> np.ndarray:
    """Label of each cluster under the greedy many-to-one matching that maximises the mIoU over the
    ``scored`` labels (bool [G]; default: those present in the ground truth). Empty clusters: -1.

    Each step maps the unmapped cluster and present label whose pairing raises the mean most (or
    lowers it least: every non-empty cluster is mapped in the end); ties go to the lower cluster,
    then the lower label. Only the chosen label's IoU changes, so a step costs O(P * G).
    """
    c = np.asarray(confusion, dtype=np.float64)
    n_clusters, n_labels = c.shape
    actual = c.sum(axis=0)
    present = actual > 0
    scored = present if scored is None else np.asarray(scored, dtype=bool) & present
    weight = scored / max(int(scored.sum()), 1)
    tp, predicted = np.zeros(n_labels), np.zeros(n_labels)
    mapping = np.full(n_clusters, -1, dtype=np.int64)
    size = c.sum(axis=1)
    open_ = size > 0
    while open_.any():
        new_tp, new_pred = tp[None, :] + c, predicted[None, :] + size[:, None]  # [P, G]: cluster p joins g
        gain = (_iou(new_tp, new_pred, actual) - _iou(tp, predicted, actual)[None, :]) * weight[None, :]
        gain[~open_] = -np.inf
        gain[:, ~present] = -np.inf
        p, g = np.unravel_index(int(np.argmax(gain)), gain.shape)
        mapping[p] = g
        tp[g] += c[p, g]
        predicted[g] += size[p]
        open_[p] = False
    return mapping


def _mapping(confusion: np.ndarray, matching: str, scored: np.ndarray | None = None) -> np.ndarray:
    if matching == "hungarian":
        return hungarian_mapping(confusion)
    if matching == "many_to_one":
        return many_to_one_mapping(confusion)
    if matching == "greedy":
        return greedy_mapping(confusion, scored)
    if matching == "identity":
        p, g = confusion.shape
        return np.where(np.arange(p) < g, np.arange(p), -1)
    raise OptionsError(
        f"segmentation: unknown matching {matching!r}; use 'hungarian', 'many_to_one', 'greedy' or 'identity'"
    )


def segmentation_scores(confusion: np.ndarray, background: int | None = 0) -> dict[str, float]:
    """mIoU (both matchings, with and without background) and pixel accuracy (both matchings)."""
    out: dict[str, float] = {}
    for matching in ("hungarian", "many_to_one"):
        out[f"miou_{matching}"] = mean_iou(confusion, matching, background, include_background=True)
        if background is not None:
            out[f"miou_{matching}_nobg"] = mean_iou(confusion, matching, background, include_background=False)
        out[f"pixel_acc_{matching}"] = pixel_accuracy(confusion, matching)
    return out
