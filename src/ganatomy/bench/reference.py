"""Reference points for reading a generator's metrics: real vs real (what a perfect generator scores), and
the headline metrics of one generator against its data on its judge's features."""

from __future__ import annotations

from typing import Any

from ganatomy.data.resolve import open_dataset

REFERENCE_SEED = 3  # world dataset seeds 1 and 2 are the oracle's training and held-out data


def real_vs_real(names: list[str], data: str, num: int) -> dict:
    """``names`` computed between ``data`` and ``num`` other world images in the generator's place.

    The second set is the world rendered from another dataset seed, disjoint from the real one:
    the floor (fd, kid) and ceiling (precision, recall) of these metrics at this sample size.
    """
    from ganatomy.data.world import WorldDataset
    from ganatomy.metrics.compute import compute_metrics
    from ganatomy.metrics.evaluate import extractor_factories, flat_results

    real = open_dataset(data)
    other = WorldDataset(real.resolution, size=num, seed=REFERENCE_SEED)
    records = compute_metrics(names, real, other, extractor_factories(real), seed=0)
    return {k: v for r in records for k, v in flat_results(r).items()}


def headline_metric_names(n: int, judge: str, conditional: bool = True, kid: bool = False) -> list[str]:
    """fd, precision/recall (and KID) of ``n`` k samples on ``judge``'s features; class consistency
    when there are classes to ask for (unconditional and single-label variants have none)."""
    return (
        [f"fd{n}k_{judge}"]
        + ([f"kid{n}k_{judge}"] if kid else [])
        + [f"pr{n}k_{judge}"]
        + ([f"cc{n}k_{judge}"] if conditional else [])
    )


def headline(results: dict[str, Any], n: int, judge: str) -> dict[str, Any]:
    """fd / kid / precision / recall / consistency out of flat metric results (None where not measured)."""
    return {
        "fd": results.get(f"fd{n}k_{judge}"),
        "kid": results.get(f"kid{n}k_{judge}"),
        "precision": results.get(f"pr{n}k_{judge}_precision", results.get(f"pr{n}k_{judge}")),
        "recall": results.get(f"pr{n}k_{judge}_recall"),
        "consistency": results.get(f"cc{n}k_{judge}"),
    }


def measure_generator(G, data: str, n: int, seed: int = 0, kid: bool = False) -> dict[str, Any]:
    """FD, precision, recall (KID if asked) and class consistency of ``G`` against ``data`` on its judge's features."""
    from ganatomy.metrics.evaluate import evaluate_generator
    from ganatomy.metrics.judges import judge_of

    dataset = open_dataset(data)
    judge = judge_of(dataset)
    names = headline_metric_names(n, judge, conditional=G.c_dim > 1, kid=kid)
    records = evaluate_generator(G, names, dataset, seed=seed)
    measured = headline({k: v for r in records for k, v in r["results"].items()}, n, judge)
    return {k: v for k, v in measured.items() if k != "kid" or kid}
