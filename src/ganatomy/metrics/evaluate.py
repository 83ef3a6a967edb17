"""Evaluate a generator by metric names: distribution metrics plus the generator metrics.

:func:`evaluate_generator` is what ``ganatomy evaluate`` and the training loop call. Names read
``<kind><N>k_<extractor>`` as everywhere (``ganatomy.metrics.registry``): distribution kinds (fd,
kid, pr, fid) go through :func:`ganatomy.metrics.compute.compute_metrics`; generator kinds (cc,
dis, and any registered ``GeneratorMetricKind``) get the generator and the judge the name's
extractor token names (``ganatomy.metrics.judges``), loaded for the generator's resolution.

Generated images: image j has its own seed ``seed + j`` and comes from the one seeded sampler
(:mod:`ganatomy.latent.sampling`: z, and for a conditional generator its label, from that seed;
random noise from the seed's own noise stream), so a metric is a deterministic function of
(generator, seed) and does not depend on ``batch_size``. Images are quantised to uint8 like the
real ones before any extractor sees them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

from ganatomy.errors import OptionsError
from ganatomy.latent.sampling import SeededImages
from ganatomy.metrics.compute import ExtractorFactory, OnError, Progress, compute_metrics
from ganatomy.metrics.generator import judge_info, to_uint8_images
from ganatomy.metrics.inception import InceptionExtractor
from ganatomy.metrics.judges import judge_extractor_factories, judge_of, load_judge
from ganatomy.metrics.records import make_record
from ganatomy.metrics.registry import (
    GENERATOR_METRIC_KINDS,
    MetricName,
    MetricOptions,
    all_metric_kinds,
    metric_name,
    parse_metric_name,
)


def parse_metric_names(names: str | Sequence[str]) -> list[MetricName]:
    """Parse a comma-separated string or a list of names; one-line OptionsError for a bad one."""
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    names = list(names)
    if not names:
        raise OptionsError("metrics: no metric names given")
    kinds = all_metric_kinds()
    parsed = [parse_metric_name(n, kinds) for n in names]
    if len({p.name for p in parsed}) != len(parsed):
        raise OptionsError("metrics: a metric name is repeated")
    return parsed


def default_metric_names(real_dataset: Any, num: int = 10_000) -> list[str]:
    """FD, KID and precision/recall of ``num`` images on the judge the dataset declares (``fd10k_oracle``)."""
    judge = judge_of(real_dataset)
    return [metric_name(kind, num, judge) for kind in ("fd", "kid", "pr")]


def with_num(names: str | Sequence[str], num: int) -> list[str]:
    """The metrics ``names`` with ``num`` images each: ``with_num("fd10k_oracle", 64) == ["fd64_oracle"]``."""
    if num < 1:
        raise OptionsError(f"--num must be >= 1, got {num}")
    return [metric_name(p.kind, num, p.extractor) for p in parse_metric_names(names)]


def generator_sampler(G: Any) -> SeededImages:
    """The generated-image source (uint8, one seed per image) for :func:`ganatomy.metrics.compute.compute_metrics`."""
    return SeededImages(G, transform=to_uint8_images)


def _generator_metric(
    name: MetricName, G: Any, judge: Any, seed: int, batch_size: int, fake_info: dict[str, Any] | None
) -> dict[str, Any]:
    kind = GENERATOR_METRIC_KINDS[name.kind]
    t0 = time.perf_counter()
    values = kind.compute(G, judge, name.num, seed, batch_size)
    protocol = {
        "num_fake": name.num,
        "judge": judge_info(judge),
        "fake": {"seeds": f"{seed}+image index", "batch_size": batch_size, **(fake_info or {})},
        "seed": seed,
        **kind.protocol(G),
    }
    return make_record(
        name, kind.label(name.extractor, judge.name), values, kind.primary, protocol, time.perf_counter() - t0
    )


def extractor_factories(
    real_dataset: Any,
    device: str | torch.device = "cpu",
    bf16: bool = False,
    inception_weights: str | None = None,
) -> dict[str, ExtractorFactory]:
    """Extractors by name for images like ``real_dataset``'s: every registered judge (``effnet``,
    ``oracle`` (the world oracle of the dataset's resolution), ``fmnist``, ...) and, with a
    weights file, ``inception``."""
    factories = judge_extractor_factories(getattr(real_dataset, "resolution", None), device, bf16)
    if inception_weights is not None:
        factories["inception"] = lambda: InceptionExtractor(inception_weights, bf16=bf16, device=device)
    return factories


# Kinds whose headline is one of several peers: it is also listed under its own name, so that
# ``pr10k_oracle_precision`` sits beside ``pr10k_oracle_recall``.
_PEER_HEADLINES = ("pr",)


def flat_results(record: dict[str, Any]) -> dict[str, Any]:
    """Flat name -> number: the headline under the metric name, other numbers as ``<metric>_<key>``."""
    kind = record["protocol"]["kind"]
    primary = all_metric_kinds()[kind].primary
    out = {record["metric"]: record["value"]}
    for k, v in record["values"].items():
        if (k != primary or kind in _PEER_HEADLINES) and isinstance(v, (int, float)) and not isinstance(v, bool):
            out[f"{record['metric']}_{k}"] = v
    return out


def _record_sink(on_record: Callable[[dict[str, Any]], None] | None) -> Callable[[dict[str, Any]], None]:
    """Adds ``results`` to each record as it is computed, then hands it on to ``on_record``."""

    def finished(record: dict[str, Any]) -> None:
        record["results"] = flat_results(record)
        if on_record is not None:
            on_record(record)

    return finished


def evaluate_generator(
    G: Any,
    metric_names: str | Sequence[str],
    real_dataset: Any,
    cache_dir: str | None = None,
    seed: int = 0,
    *,
    batch_size: int = 64,
    extractors: Mapping[str, ExtractorFactory] | None = None,
    device: str | torch.device = "cpu",
    bf16: bool = False,
    options: MetricOptions | None = None,
    use_cache: bool = True,
    fake_info: dict[str, Any] | None = None,
    adapt_kid_subset: bool = False,
    on_record: Callable[[dict[str, Any]], None] | None = None,
    on_error: OnError | None = None,
    progress: Progress | None = None,
) -> list[dict[str, Any]]:
    """Compute ``metric_names`` for generator ``G`` against ``real_dataset``; one record per metric.

    Distribution metrics (fd, kid, pr, fid) go through :func:`ganatomy.metrics.compute.compute_metrics`
    (real features cached under ``cache_dir``); generator kinds (cc, dis) from G and their judge.
    Records keep the metric core's schema (metric, label, value, values, protocol, versions, times)
    plus ``results``, a flat name -> number dict (``pr10k_oracle_recall``...). ``extractors``
    replaces or adds extractor factories (tests inject small ones). ``adapt_kid_subset``,
    ``on_record``, ``on_error`` and ``progress`` are :func:`~ganatomy.metrics.compute.compute_metrics`'s
    (``on_record`` and ``on_error`` cover the generator kinds too); the result holds the records
    that succeeded, in the order of ``metric_names``.

        >>> records = evaluate_generator(G, "fd10k_oracle,pr10k_oracle", open_dataset("world:32"))  # doctest: +SKIP
    """
    parsed = parse_metric_names(metric_names)
    res = getattr(real_dataset, "resolution", None)
    if res is not None and res != G.img_resolution:
        raise OptionsError(
            f"the generator makes {G.img_resolution}x{G.img_resolution} images but the real data "
            f"({getattr(real_dataset, 'name', 'dataset')}) is {res}x{res}"
        )
    finished = _record_sink(on_record)
    was_training = bool(getattr(G, "training", False))
    if hasattr(G, "eval"):
        G.eval()
    try:
        factories = {**extractor_factories(real_dataset, device, bf16), **(extractors or {})}
        dist = [p for p in parsed if p.kind not in GENERATOR_METRIC_KINDS]
        by_name: dict[str, dict[str, Any]] = {}
        if dist:
            records = compute_metrics(
                [p.name for p in dist],
                real_dataset,
                generator_sampler(G),
                factories,
                cache_dir,
                seed=seed,
                batch_size=batch_size,
                options=options,
                use_cache=use_cache,
                fake_info=fake_info,
                adapt_kid_subset=adapt_kid_subset,
                on_record=finished,
                on_error=on_error,
                progress=progress,
            )
            by_name.update({r["metric"]: r for r in records})
        judges: dict[str, Any] = {}
        for p in parsed:
            if p.kind not in GENERATOR_METRIC_KINDS:
                continue
            try:
                if p.extractor not in judges:
                    judges[p.extractor] = load_judge(p.extractor, G.img_resolution, device=device, bf16=bf16)
                record = _generator_metric(p, G, judges[p.extractor], seed, batch_size, fake_info)
            except Exception as e:  # noqa: BLE001 - with on_error, one failing metric does not stop the others
                if on_error is None:
                    raise
                on_error(p.name, e)
                continue
            finished(record)
            by_name[p.name] = record
    finally:
        if was_training and hasattr(G, "train"):
            G.train()
    return [by_name[p.name] for p in parsed if p.name in by_name]


def evaluate_image_sets(
    real_dataset: Any,
    fake_dataset: Any,
    metric_names: str | Sequence[str] | None = None,
    cache_dir: str | None = None,
    seed: int = 0,
    *,
    batch_size: int = 64,
    extractors: Mapping[str, ExtractorFactory] | None = None,
    device: str | torch.device = "cpu",
    bf16: bool = False,
    use_cache: bool = True,
    on_record: Callable[[dict[str, Any]], None] | None = None,
    on_error: OnError | None = None,
    progress: Progress | None = None,
) -> list[dict[str, Any]]:
    """Distribution metrics between two image sets (folders, zips, any datasets), like torch-fidelity's
    ``calculate_metrics``. ``fake_dataset`` plays the generated images: precision is the share of
    its images on the real manifold, recall the share of real images on its manifold.

    Default metrics: fd, kid, pr of N = min(both sizes, 10k) images on the real set's judge. KID's
    subset size adapts to small sets. Generator kinds (cc, dis) need a generator and are refused.
    """
    if metric_names is None:
        metric_names = default_metric_names(real_dataset, min(len(real_dataset), len(fake_dataset), 10_000))
    parsed = parse_metric_names(metric_names)
    for p in parsed:
        if p.kind in GENERATOR_METRIC_KINDS:
            raise OptionsError(f"{p.name}: {p.kind} needs a generator (--network), not a folder of images")
    factories = {**extractor_factories(real_dataset, device, bf16), **(extractors or {})}
    fake_info = {"images": str(getattr(fake_dataset, "path", getattr(fake_dataset, "name", "fake")))}
    return compute_metrics(
        [p.name for p in parsed],
        real_dataset,
        fake_dataset,
        factories,
        cache_dir,
        seed=seed,
        batch_size=batch_size,
        use_cache=use_cache,
        fake_info=fake_info,
        adapt_kid_subset=True,
        on_record=_record_sink(on_record),
        on_error=on_error,
        progress=progress,
    )
