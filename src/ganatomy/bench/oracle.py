"""``ganatomy bench oracle``: how well the shipped oracles read held-out data.

Loads the oracles that ship in the package (``world32``, ``world64``, ``fmnist``) and measures
them now, on data none of them was trained on:

* world oracles: 2,000 world images per resolution of the held-out dataset seed (``--quick``:
  256), R² per continuous factor (circular R² for the full-circle hue), accuracy per categorical
  factor, part-mask mIoU;
* Fashion-MNIST classifier: accuracy on the 10,000-image test split (``--quick``: the first 1,000).

Headline keys: ``min_factor_r2``, ``min_class_acc`` and ``mask_miou`` (the worse of the two
resolutions; per resolution with suffix ``_32`` / ``_64``) and ``fmnist_acc``.
"""

from __future__ import annotations

import time

from ganatomy.bench.result import BenchResult, Target
from ganatomy.oracle import evaluate_fashion_classifier, evaluate_world_oracle, load_oracle

_RESOLUTIONS = (32, 64)


def run(quick: bool) -> BenchResult:
    num_world = 256 if quick else 2000
    num_fashion = 1000 if quick else None
    rows: list[dict] = []
    summary: dict = {}
    notes = []
    for res in _RESOLUTIONS:
        oracle = load_oracle(f"world{res}")
        t0 = time.perf_counter()
        scores = evaluate_world_oracle(oracle, num_world)
        elapsed = time.perf_counter() - t0
        for name, v in scores.r2.items():
            rows.append({"oracle": oracle.name, "quantity": name, "measure": "R²", "value": v, "target": ">= 0.95"})
        for name, v in scores.accuracy.items():
            rows.append(
                {"oracle": oracle.name, "quantity": name, "measure": "accuracy", "value": v, "target": ">= 0.98"}
            )
        for name, v in scores.part_iou.items():
            rows.append(
                {"oracle": oracle.name, "quantity": f"mask: {name}", "measure": "IoU", "value": v, "target": ""}
            )
        rows.append(
            {
                "oracle": oracle.name,
                "quantity": "mask",
                "measure": "mIoU",
                "value": scores.mask_miou,
                "target": ">= 0.90",
            }
        )
        summary[f"min_factor_r2_{res}"] = scores.min_factor_r2
        summary[f"min_class_acc_{res}"] = scores.min_class_acc
        summary[f"mask_miou_{res}"] = scores.mask_miou
        notes.append(
            f"{oracle.name}: {scores.num_images} held-out images scored in {elapsed:.1f} s; "
            f"made by `{oracle.meta.get('command', '?')}`"
        )
    summary["min_factor_r2"] = min(summary[f"min_factor_r2_{r}"] for r in _RESOLUTIONS)
    summary["min_class_acc"] = min(summary[f"min_class_acc_{r}"] for r in _RESOLUTIONS)
    summary["mask_miou"] = min(summary[f"mask_miou_{r}"] for r in _RESOLUTIONS)

    classifier = load_oracle("fmnist")
    fashion = evaluate_fashion_classifier(classifier, num_fashion)
    for name, v in fashion["per_class"].items():
        rows.append({"oracle": "fmnist", "quantity": name, "measure": "accuracy", "value": v, "target": ""})
    rows.append(
        {
            "oracle": "fmnist",
            "quantity": "all classes",
            "measure": "accuracy",
            "value": fashion["accuracy"],
            "target": ">= 0.90",
        }
    )
    summary["fmnist_acc"] = fashion["accuracy"]
    notes.append(
        f"fmnist: {fashion['num_images']} Fashion-MNIST test images; made by `{classifier.meta.get('command', '?')}`"
    )
    notes.append(
        "every number is measured now on the shipped checkpoints (float16 weights), on data disjoint "
        "from their training data"
    )
    return BenchResult(
        name="oracle",
        title="Oracles on held-out data: R² per factor, accuracy per class factor, part-mask mIoU, Fashion-MNIST",
        rows=rows,
        summary=summary,
        targets=[
            Target("min_factor_r2", ">=", 0.95),
            Target("min_class_acc", ">=", 0.98),
            Target("mask_miou", ">=", 0.90),
            Target("fmnist_acc", ">=", 0.90),
        ],
        notes=notes,
        quick=quick,
    )
