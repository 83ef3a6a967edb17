"""Evaluate a generator by metric names: distribution metrics plus the generator-facing ones.

:func:`evaluate_generator` is what ``ganatomy evaluate`` and the training loop call. Names read
``<kind><N>k_<extractor>`` as everywhere (``ganatomy.metrics.registry``). Two kinds need the
generator itself, not only its images, and are added here (:data:`GENERATOR_KINDS`):

* ``cc`` - class consistency of a conditional generator (``cc10k_oracle``, ``cc10k_fmnist``):
  N samples with requested classes ``i mod c_dim`` (balanced), judged by the world oracle's
  label-factor head (world data) or the Fashion-MNIST classifier; values as
  :func:`ganatomy.metrics.classes.class_consistency`. The record carries the judge's own held-out
  accuracy: read the number against it.
* ``dis`` - disentanglement of the latent code (``dis10k_oracle``): N samples; codes are the
  generator's z (plus the class index as one more column for a conditional generator), factors
  are what the world oracle reads off the images (continuous in registry units, categorical as
  class indices); MIG, DCI (gradient-boosted trees) and SAP from
  :mod:`ganatomy.metrics.disentanglement`. A factor the generator never varies (the oracle reads
  one value for all samples) cannot be scored and is listed in the record instead.

Generated images: image j has its own seed ``seed + j`` and comes from the one seeded sampler
(:mod:`ganatomy.latent.sampling`: z, and for a conditional generator its label, from that seed;
constant noise), so a metric is a deterministic function of (generator, seed) and does not
depend on ``batch_size``. Images are quantised to uint8 like the real ones before any extractor
sees them.
"""

from __future__ import annotations

import datetime
import time
from typing import Any, Mapping, Sequence

import numpy as np
import torch

import ganatomy
from ganatomy.errors import OptionsError
from ganatomy.latent.sampling import SeededImages, seeded_latents
from ganatomy.metrics.classes import class_consistency
from ganatomy.metrics.compute import ExtractorFactory, compute_metrics, default_extractors
from ganatomy.metrics.disentanglement import disentanglement_scores
from ganatomy.metrics.registry import METRIC_KINDS, FeatureSet, MetricKind, MetricName, MetricOptions, parse_metric_name

def _needs_generator(real: FeatureSet, fake: FeatureSet, seed: int, opts: MetricOptions) -> dict[str, float]:
    raise OptionsError("class consistency and disentanglement need the generator: use evaluate_generator")


# Kinds computed from the generator rather than from two feature sets.
GENERATOR_KINDS: dict[str, MetricKind] = {
    "cc": MetricKind("cc", _needs_generator, "class_consistency", lambda ext, label: f"CC-{label}",
                     extractors=("oracle", "fmnist")),
    "dis": MetricKind("dis", _needs_generator, "mig", lambda ext, label: f"Disentanglement-{label}",
                      extractors=("oracle",)),
}


def metric_kinds() -> dict[str, MetricKind]:
    """All kinds ``evaluate_generator`` accepts (a fresh dict: the distribution kinds plus cc and dis)."""
    return {**METRIC_KINDS, **GENERATOR_KINDS}


def parse_metric_names(names: str | Sequence[str]) -> list[MetricName]:
    """Parse a comma-separated string or a list of names; one-line OptionsError for a bad one."""
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    names = list(names)
    if not names:
        raise OptionsError("metrics: no metric names given")
    parsed = [parse_metric_name(n, metric_kinds()) for n in names]
    if len({p.name for p in parsed}) != len(parsed):
        raise OptionsError("metrics: a metric name is repeated")
    return parsed


def default_metric_names(real_dataset: Any, num: int = 10) -> list[str]:
    """FD, KID and precision/recall on the dataset's default extractor (``fd10k_oracle`` for the world)."""
    from ganatomy.metrics.oracle.extractors import default_judge

    ext = default_judge(real_dataset)
    return [f"fd{num}k_{ext}", f"kid{num}k_{ext}", f"pr{num}k_{ext}"]


def to_uint8_images(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] floats -> uint8 [N, C, H, W], the mapping inverse to u / 127.5 - 1."""
    return ((images.detach().float().cpu().clamp(-1.0, 1.0) + 1.0) * 127.5).round().to(torch.uint8)


def generate(G: Any, seeds: Sequence[int], c: torch.Tensor | None = None
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """(uint8 images, z, class indices) of one sample per seed (labels drawn from each seed when ``c`` is None)."""
    with torch.no_grad():
        batch = seeded_latents(G, seeds, "z", c)
        images = G.synthesize(batch.latents, "z", c=batch.c, noise_mode="const")
    labels = batch.c.argmax(dim=1).cpu() if batch.c is not None else None
    return to_uint8_images(images), batch.z.detach().cpu(), labels


def generator_sampler(G: Any) -> SeededImages:
    """The generated-image source (uint8, one seed per image) for :func:`ganatomy.metrics.compute.compute_metrics`."""
    return SeededImages(G, transform=to_uint8_images)


def _record(name: MetricName, label: str, values: dict[str, Any], primary: str, protocol: dict[str, Any],
            elapsed: float) -> dict[str, Any]:
    return {
        "metric": name.name,
        "label": label,
        "value": values[primary],
        "values": values,
        "protocol": {"kind": name.kind, "num": name.num, **protocol},
        "ganatomy_version": ganatomy.__version__,
        "torch_version": torch.__version__,
        "time_s": round(elapsed, 4),
        "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def _judge_info(judge: Any) -> dict[str, Any]:
    heldout = judge.meta.get("heldout", {}) if isinstance(judge.meta, dict) else {}
    return {"name": judge.name, "weights_sha256": judge.weights_sha256, "resolution": judge.resolution,
            "heldout": heldout, "made_by": judge.meta.get("command") if isinstance(judge.meta, dict) else None}


def generator_class_consistency(G: Any, judge: Any, num: int, seed: int = 0, batch_size: int = 64) -> dict[str, Any]:
    """Class consistency values of a conditional generator under ``judge`` (see the module doc)."""
    c_dim = int(getattr(G, "c_dim", 0))
    if not c_dim:
        raise OptionsError("class consistency needs a class-conditional generator; this one has c_dim = 0")
    if c_dim != judge.num_classes:
        raise OptionsError(f"class consistency: the generator has {c_dim} classes, the judge {judge.num_classes}")
    requested = np.arange(num) % c_dim
    judged = []
    for start in range(0, num, batch_size):
        c = torch.from_numpy(requested[start : start + batch_size])
        images, _, _ = generate(G, range(seed + start, seed + start + len(c)), c)
        judged.append(judge.classify(images).argmax(axis=1))
    r = class_consistency(requested, np.concatenate(judged), c_dim)
    return {"class_consistency": r.overall, "class_consistency_balanced": r.balanced,
            "per_class": [None if np.isnan(v) else float(v) for v in r.per_class]}


def generator_disentanglement(G: Any, oracle: Any, num: int, seed: int = 0, batch_size: int = 64) -> dict[str, Any]:
    """MIG, DCI and SAP of the generator's z (and class) against the oracle's reading of its images."""
    codes, read = [], []
    for start in range(0, num, batch_size):
        b = min(batch_size, num - start)
        images, z, c = generate(G, range(seed + start, seed + start + b))
        code = z.reshape(b, -1).double()
        if c is not None:
            code = torch.cat([code, c.double()[:, None]], dim=1)
        codes.append(code.numpy())
        read.append(oracle.predict(images).factors)
    factors = {k: np.concatenate([r[k] for r in read]) for k in read[0]}
    constant = [k for k, v in factors.items() if np.all(v == v[0])]
    varied = {k: v for k, v in factors.items() if k not in constant}
    if not varied:
        raise OptionsError("disentanglement: the oracle reads the same value of every factor on all samples")
    kinds = {k: v for k, v in oracle.spec.kinds().items() if k in varied}
    scores = disentanglement_scores(np.concatenate(codes), varied, kinds, max_samples=num, seed=seed)
    return {**scores, "constant_factors": constant}


def _generator_metric(name: MetricName, G: Any, judge: Any, seed: int, batch_size: int,
                      fake_info: dict[str, Any] | None) -> dict[str, Any]:
    kind = GENERATOR_KINDS[name.kind]
    t0 = time.perf_counter()
    if name.kind == "cc":
        values = generator_class_consistency(G, judge, name.num, seed, batch_size)
    else:
        values = generator_disentanglement(G, judge, name.num, seed, batch_size)
    protocol = {
        "num_fake": name.num,
        "judge": _judge_info(judge),
        "fake": {"seeds": f"{seed}+image index", "batch_size": batch_size, **(fake_info or {})},
        "seed": seed,
    }
    if name.kind == "dis":
        protocol["codes"] = "z" + (" + class index" if getattr(G, "c_dim", 0) else "")
        protocol["dci_model"] = "gbt"
    else:
        protocol["requested_classes"] = "i mod c_dim"
    return _record(name, kind.label(name.extractor, judge.name), values, kind.primary, protocol,
                   time.perf_counter() - t0)


def extractor_factories(
    real_dataset: Any, device: str | torch.device = "cpu", bf16: bool = False,
    inception_weights: str | None = None, effnet_resolution: int = 224,
) -> dict[str, ExtractorFactory]:
    """All extractors by name: ``effnet`` (and ``inception`` with a weights file), ``oracle`` (the world
    oracle of the dataset's resolution) and ``fmnist``."""
    from ganatomy.metrics.oracle.extractors import oracle_extractor_factories

    return {
        **default_extractors(inception_weights, effnet_resolution=effnet_resolution, bf16=bf16, device=str(device)),
        **oracle_extractor_factories(getattr(real_dataset, "resolution", None), device=device, bf16=bf16),
    }


def flat_results(record: dict[str, Any]) -> dict[str, Any]:
    """Flat name -> number: the headline under the metric name, other numbers as ``<metric>_<key>``."""
    primary = metric_kinds()[record["protocol"]["kind"]].primary
    out = {record["metric"]: record["value"]}
    for k, v in record["values"].items():
        if k != primary and isinstance(v, (int, float)) and not isinstance(v, bool):
            out[f"{record['metric']}_{k}"] = v
    return out


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
) -> list[dict[str, Any]]:
    """Compute ``metric_names`` for generator ``G`` against ``real_dataset``; one record per metric.

    Distribution metrics (fd, kid, pr, fid) go through :func:`ganatomy.metrics.compute.compute_metrics`
    (real features cached under ``cache_dir``); cc and dis are computed from the generator here.
    Records keep the metric core's schema (metric, label, value, values, protocol, versions, times)
    plus ``results``, a flat name -> number dict (``pr10k_oracle_recall``...). ``extractors``
    replaces or adds extractor factories (tests inject small ones).
    """
    parsed = parse_metric_names(metric_names)
    res = getattr(real_dataset, "resolution", None)
    if res is not None and res != G.img_resolution:
        raise OptionsError(
            f"the generator makes {G.img_resolution}x{G.img_resolution} images but the real data "
            f"({getattr(real_dataset, 'name', 'dataset')}) is {res}x{res}"
        )
    was_training = bool(getattr(G, "training", False))
    if hasattr(G, "eval"):
        G.eval()
    try:
        factories = {**extractor_factories(real_dataset, device, bf16), **(extractors or {})}
        dist = [p for p in parsed if p.kind not in GENERATOR_KINDS]
        by_name: dict[str, dict[str, Any]] = {}
        if dist:
            records = compute_metrics(
                [p.name for p in dist], real_dataset, generator_sampler(G), factories, cache_dir,
                seed=seed, batch_size=batch_size, options=options, use_cache=use_cache, fake_info=fake_info,
            )
            by_name.update({r["metric"]: r for r in records})
        judges: dict[str, Any] = {}
        for p in parsed:
            if p.kind in GENERATOR_KINDS:
                if p.extractor not in judges:
                    from ganatomy.metrics.oracle.extractors import judge_for

                    judges[p.extractor] = judge_for(p.extractor, G.img_resolution, device=device, bf16=bf16)
                by_name[p.name] = _generator_metric(p, G, judges[p.extractor], seed, batch_size, fake_info)
    finally:
        if was_training and hasattr(G, "train"):
            G.train()
    out = []
    for p in parsed:
        record = by_name[p.name]
        record["results"] = flat_results(record)
        out.append(record)
    return out
