"""Class consistency of a conditional generator: are samples of the class they were asked for?

A judge (the world oracle, or any classifier) labels each generated image; with requested
classes y_i and judged classes y'_i::

    consistency      = (1/N) sum_i [y'_i == y_i]
    consistency_c    = share of the samples requested as class c that the judge assigns to c
    balanced         = mean of consistency_c over the requested classes

The judge's own errors lower the number, so read it against the judge's accuracy on real images.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from ganatomy.errors import OptionsError


@dataclasses.dataclass
class ClassConsistency:
    overall: float
    balanced: float
    per_class: np.ndarray  # [C]; NaN for classes never requested
    counts: np.ndarray  # [C] samples requested per class
    confusion: np.ndarray  # [C, C]: requested class x judged class

    def as_dict(self) -> dict:
        return {
            "class_consistency": self.overall,
            "class_consistency_balanced": self.balanced,
            "per_class": [None if np.isnan(v) else float(v) for v in self.per_class],
            "counts": self.counts.tolist(),
        }


def class_consistency(
    requested: np.ndarray | torch.Tensor,
    judged: np.ndarray | torch.Tensor,
    num_classes: int | None = None,
) -> ClassConsistency:
    """Class consistency from requested labels [N] and the judge's labels [N] or logits [N, C]."""
    req = torch.as_tensor(requested).detach().cpu()
    jud = torch.as_tensor(judged).detach().cpu()
    if jud.ndim == 2:
        if num_classes is not None and jud.shape[1] != num_classes:
            raise OptionsError(f"class consistency: logits have {jud.shape[1]} classes, expected {num_classes}")
        num_classes = jud.shape[1] if num_classes is None else num_classes
        jud = jud.argmax(dim=1)
    req = req.reshape(-1).to(torch.int64)
    jud = jud.reshape(-1).to(torch.int64)
    if req.numel() == 0 or req.shape != jud.shape:
        raise OptionsError(
            f"class consistency: needs as many judged as requested labels (>0), got {jud.numel()} and {req.numel()}"
        )
    if num_classes is None:
        num_classes = int(max(req.max(), jud.max())) + 1
    for what, t in (("requested", req), ("judged", jud)):
        if int(t.min()) < 0 or int(t.max()) >= num_classes:
            raise OptionsError(f"class consistency: {what} labels must lie in 0..{num_classes - 1}")
    confusion = torch.bincount(req * num_classes + jud, minlength=num_classes * num_classes)
    confusion = confusion.reshape(num_classes, num_classes).numpy()
    counts = confusion.sum(axis=1)
    per_class = np.divide(
        np.diag(confusion).astype(np.float64), counts, out=np.full(num_classes, np.nan), where=counts > 0
    )
    overall = float(np.trace(confusion) / counts.sum())
    return ClassConsistency(overall, float(np.nanmean(per_class)), per_class, counts, confusion)
