"""``ganatomy bench zoo``: each shipped world generator measured now, against the world's ground truth.

For every shipped world generator: Fréchet distance, KID, precision and recall of 10k generated
images (``--quick``: 1k) against the world it was trained on, all on world-oracle features, next to
the same metrics between two disjoint real sets (what a perfect generator scores); for the
class-conditional ones (the fewer-labels pair) also the class consistency of conditional samples
as the oracle reads them. The numbers are measured at run time on the shipped float16 files, never read from their
metadata; the metadata's numbers (measured at training time on the float32 snapshot) are shown
beside them as a cross-check.
"""

from __future__ import annotations

from ganatomy.bench.reference import headline, headline_metric_names, measure_generator, real_vs_real
from ganatomy.bench.result import BenchResult, Target

# JSON key prefix -> zoo name (the keys the issue names: world32_fd, world64_recall, ...)
_SHIPPED = {
    "world32": "world32-stylegan2",
    "world64": "world64-stylegan2",
    "s3gan10": "world32-s3gan10",
    "supervised": "world32-supervised",
}
_TARGETS = [
    Target("world32_fd", "<=", 2.0),
    Target("world32_precision", ">=", 0.8),
    Target("world32_recall", ">=", 0.6),
    Target("world64_fd", "<=", 4.0),
    Target("world64_recall", ">=", 0.4),
]


def run(quick: bool) -> BenchResult:
    from ganatomy.zoo import ZOO, load_pretrained

    n = 1 if quick else 10
    rows, summary, notes = [], {}, []
    references: dict[str, dict] = {}  # per dataset: three models share world:32's
    for prefix, zoo_name in _SHIPPED.items():
        entry = ZOO.get(zoo_name)
        if entry is None or not entry.installed():
            notes.append(f"{zoo_name}: not shipped yet")
            continue
        meta = entry.metadata()
        data = meta.get("options", {}).get("data", f"world:{prefix[5:]}")
        measured = measure_generator(load_pretrained(zoo_name), data, n, kid=True)
        if data not in references:
            names = headline_metric_names(n, "oracle", conditional=False, kid=True)
            references[data] = headline(real_vs_real(names, data, n * 1000), n, "oracle")
        reference = references[data]
        at_training = headline(meta.get("training_metrics", meta.get("metrics", {})), 10, "oracle")
        for quantity, value in measured.items():
            if value is None:  # consistency of an unconditional generator
                continue
            rows.append(
                {
                    "model": zoo_name,
                    "kimg": meta.get("kimg"),
                    "quantity": f"{quantity} ({n}k)",
                    "value": value,
                    "real vs real": reference[quantity],
                    "logged during training (10k)": at_training[quantity],
                }
            )
            summary[f"{prefix}_{quantity}"] = value
            summary[f"{prefix}_{quantity}_real_vs_real"] = reference[quantity]
        summary[f"{prefix}_kimg"] = meta.get("kimg")
    notes.append(
        "metrics on world-oracle features (not comparable with FID); real vs real: the same "
        "metrics between the world and other world images (a perfect generator's score)"
    )
    return BenchResult(
        name="zoo",
        title="Zoo: shipped world generators against the world's ground truth",
        rows=rows,
        summary=summary,
        targets=_TARGETS,
        notes=notes,
        quick=quick,
    )
