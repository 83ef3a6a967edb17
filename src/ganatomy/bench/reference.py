"""The real-vs-real reference: what a perfect generator scores, to read a generator's metrics against."""

from __future__ import annotations

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
