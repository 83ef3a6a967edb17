"""How good the oracles are, measured on data they never saw.

World oracle: ``num_images`` world images of dataset seed :data:`EVAL_DATA_SEED` (world seeds
``EVAL_DATA_SEED * 2**32 + i``; training draws from dataset seed :data:`TRAIN_DATA_SEED`, so the
two never share an image). Scores: R² per continuous factor (circular R² for full-circle hues,
see ``spec.r2_scores``), accuracy per categorical factor, and the part-mask mIoU over all part
labels (dataset-level IoU from one confusion matrix, background included).

Fashion-MNIST classifier: accuracy on the 10,000 images of the official test split (training
uses only the train split).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ganatomy.metrics.segmentation import SegmentationConfusion, iou_matrix, mean_iou, pixel_accuracy
from ganatomy.oracle.predictor import FashionClassifier, WorldOracle
from ganatomy.oracle.spec import r2_scores

# Dataset seeds of the world oracle's data (WorldDataset(seed=...)): disjoint image sets.
TRAIN_DATA_SEED = 1
EVAL_DATA_SEED = 2


@dataclasses.dataclass
class WorldOracleScores:
    """Held-out scores of a world oracle."""

    r2: dict[str, float]
    accuracy: dict[str, float]
    part_iou: dict[str, float]
    mask_miou: float
    pixel_accuracy: float
    num_images: int
    resolution: int

    @property
    def min_factor_r2(self) -> float:
        return min(self.r2.values())

    @property
    def min_class_acc(self) -> float:
        return min(self.accuracy.values())

    def as_dict(self) -> dict:
        return {
            "r2": dict(self.r2),
            "accuracy": dict(self.accuracy),
            "part_iou": dict(self.part_iou),
            "mask_miou": self.mask_miou,
            "pixel_accuracy": self.pixel_accuracy,
            "min_factor_r2": self.min_factor_r2,
            "min_class_acc": self.min_class_acc,
            "num_images": self.num_images,
            "resolution": self.resolution,
            "data_seed": EVAL_DATA_SEED,
        }


def evaluate_world_oracle(
    oracle: WorldOracle, num_images: int = 2000, seed: int = EVAL_DATA_SEED, batch_size: int = 256
) -> WorldOracleScores:
    """Score ``oracle`` on ``num_images`` held-out world images at its resolution."""
    from ganatomy.data.world import WorldDataset

    data = WorldDataset(res=oracle.resolution, size=num_images, seed=seed)
    spec = oracle.spec
    confusion = SegmentationConfusion(spec.num_parts, spec.num_parts)
    predicted: dict[str, list[np.ndarray]] = {n: [] for n in spec.factor_names}
    true: dict[str, list[np.ndarray]] = {n: [] for n in spec.factor_names}
    for start in range(0, num_images, batch_size):
        images, masks, factors = data.get_ground_truth(np.arange(start, min(start + batch_size, num_images)))
        pred = oracle.predict(images, masks=True)
        confusion.update(pred.masks, masks)
        for n in spec.factor_names:
            predicted[n].append(pred.factors[n])
            true[n].append(factors[n])
    pred_all = {n: np.concatenate(v) for n, v in predicted.items()}
    true_all = {n: np.concatenate(v) for n, v in true.items()}
    r2 = r2_scores(spec, pred_all, true_all)
    acc = {t.name: float((pred_all[t.name] == true_all[t.name]).mean()) for t in spec.categorical}
    ious = np.diag(iou_matrix(confusion.matrix))  # predictions are labels: the diagonal is each part's IoU
    return WorldOracleScores(
        r2=r2,
        accuracy=acc,
        part_iou={p: float(v) for p, v in zip(spec.parts, ious)},
        mask_miou=mean_iou(confusion.matrix, matching="identity"),
        pixel_accuracy=pixel_accuracy(confusion.matrix, matching="identity"),
        num_images=int(num_images),
        resolution=oracle.resolution,
    )


def evaluate_fashion_classifier(
    classifier: FashionClassifier, num_images: int | None = None, root: str | None = None
) -> dict:
    """Accuracy (overall and per class) on the Fashion-MNIST test split (its first ``num_images``)."""
    from ganatomy.data.fashion_mnist import CLASS_NAMES, FashionMNIST

    test = FashionMNIST(root=root, split="test")
    n = len(test) if num_images is None else min(int(num_images), len(test))
    idx = np.arange(n)
    images, labels = test.get_batch(idx)
    pred = classifier.classify(images).argmax(axis=1)
    labels = labels.numpy()
    per_class = {
        name: float((pred[labels == c] == c).mean()) for c, name in enumerate(CLASS_NAMES) if (labels == c).any()
    }
    return {"accuracy": float((pred == labels).mean()), "per_class": per_class, "num_images": n, "split": "test"}
