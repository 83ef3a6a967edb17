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

from ganatomy.bench.reference import real_vs_real
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


def _metric_names(n: int, conditional: bool = False) -> list[str]:
    return [f"fd{n}k_oracle", f"kid{n}k_oracle", f"pr{n}k_oracle"] + ([f"cc{n}k_oracle"] if conditional else [])


def _short(results: dict, n: int) -> dict:
    """fd / kid / precision / recall out of the flat metric results."""
    return {
        "fd": results.get(f"fd{n}k_oracle"),
        "kid": results.get(f"kid{n}k_oracle"),
        "precision": results.get(f"pr{n}k_oracle_precision", results.get(f"pr{n}k_oracle")),
        "recall": results.get(f"pr{n}k_oracle_recall"),
        "consistency": results.get(f"cc{n}k_oracle"),
    }


def run(quick: bool) -> BenchResult:
    from ganatomy.data.resolve import open_dataset
    from ganatomy.metrics.evaluate import evaluate_generator
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
        G = load_pretrained(zoo_name)
        records = evaluate_generator(G, _metric_names(n, G.c_dim > 1), open_dataset(data), seed=0)
        measured = _short({k: v for r in records for k, v in r["results"].items()}, n)
        if data not in references:
            references[data] = _short(real_vs_real(_metric_names(n), data, n * 1000), n)
        reference = references[data]
        at_training = _short(meta.get("training_metrics", meta.get("metrics", {})), 10)
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
