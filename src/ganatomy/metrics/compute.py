"""Compute named metrics for generated images against a real set, with cached real features.

:func:`compute_metrics` parses the names (``fd10k_oracle``, ``kid2k_effnet``, ...), builds the
extractors they need from the caller's factories, takes the real features from the cache or
extracts and caches them, extracts features of freshly generated images, and returns one record
per metric. A record holds the value(s) and the full protocol (metric, extractor and its weights'
hash, numbers of real and generated images, seeds, options, ganatomy and torch versions), so a
number can be reproduced, or told apart from a different protocol, from the record alone; append
the records to ``metrics.jsonl`` with :func:`append_metric_records`.

Generated images come from a source with ``images_for_seeds(seeds)`` (a generator's, e.g.
:class:`ganatomy.latent.sampling.SeededImages`): generated image j has its own seed
``fake_seed + j``, so the set, and the metric, do not depend on ``batch_size``. A plain callable
``fake(n, seed)`` is called in batches of ``batch_size`` with seeds ``fake_seed + i`` for batch
i = 0, 1, ...: its set does depend on ``batch_size``. When several metrics need different N, the
larger set is generated once and the smaller metrics use its first N images.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganatomy.errors import OptionsError
from ganatomy.metrics.cache import FeatureCache, cache_key, dataset_identity, images_fingerprint
from ganatomy.metrics.extractors import EfficientNetLite0Extractor, FeatureExtractor
from ganatomy.metrics.inception import InceptionExtractor
from ganatomy.metrics.records import make_record
from ganatomy.metrics.registry import METRIC_KINDS, FeatureSet, MetricKind, MetricName, MetricOptions, parse_metric_name

ExtractorFactory = Callable[[], FeatureExtractor] | FeatureExtractor
ImageSource = Any  # an ImageDataset (anything with get_images and __len__), or a uint8/float tensor [N, C, H, W]
Progress = Callable[[str, int, int], None]  # (stage, done, total), called as each batch is done
OnError = Callable[[str, Exception], None]  # (metric name, what went wrong)


class _TensorImages:
    """An in-memory image tensor seen through the dataset interface."""

    def __init__(self, images: torch.Tensor | np.ndarray, name: str):
        self.images = torch.as_tensor(images)
        if self.images.ndim != 4:
            raise OptionsError(f"{name}: images must be [N, C, H, W], got shape {tuple(self.images.shape)}")
        self.name = name
        self.resolution = int(self.images.shape[-1])
        self.channels = int(self.images.shape[1])

    def __len__(self) -> int:
        return len(self.images)

    def get_images(self, indices: np.ndarray) -> torch.Tensor:
        return self.images[torch.as_tensor(np.asarray(indices, dtype=np.int64))]


def _as_dataset(source: Any, what: str):
    if hasattr(source, "get_images") and hasattr(source, "__len__"):
        return source
    if isinstance(source, (torch.Tensor, np.ndarray)):
        return _TensorImages(source, what)
    return None


def _sample_indices(total: int, n: int, seed: int) -> np.ndarray:
    """n sorted indices out of ``total`` without replacement (all of them when n >= total)."""
    if n >= total:
        return np.arange(total, dtype=np.int64)
    return np.sort(np.random.default_rng(seed).choice(total, n, replace=False)).astype(np.int64)


def _build_extractor(name: str, extractors: Mapping[str, ExtractorFactory]) -> FeatureExtractor:
    if name not in extractors:
        hint = " (pass the pytorch-fid weights file to enable it)" if name == "inception" else ""
        known = ", ".join(sorted(extractors)) or "none"
        raise OptionsError(f"metrics: no feature extractor {name!r}{hint}; available: {known}")
    factory = extractors[name]
    ext = factory if isinstance(factory, FeatureExtractor) else factory()
    if not isinstance(ext, FeatureExtractor):
        raise OptionsError(f"metrics: the factory for {name!r} did not return a FeatureExtractor")
    return ext


def _real_features(
    real: Any,
    n: int,
    exts: dict[str, FeatureExtractor],
    cache: FeatureCache | None,
    seed: int,
    batch_size: int,
    fingerprint: str | None,
    progress: Progress | None = None,
) -> dict[str, tuple[FeatureSet, dict[str, Any]]]:
    """Real features per extractor at size n, from the cache when possible."""
    if isinstance(real, Mapping):  # precomputed features by extractor name: used as given, not cached
        out = {}
        for name in exts:
            if name not in real:
                raise OptionsError(f"metrics: the real features have no entry for extractor {name!r}")
            feats = torch.as_tensor(real[name]).to(torch.float32)
            idx = _sample_indices(len(feats), n, seed)
            out[name] = (FeatureSet.from_features(feats[torch.from_numpy(idx)]), {"source": "features", "cache": "off"})
        return out
    dataset = _as_dataset(real, "real")
    if dataset is None:
        raise OptionsError(
            f"metrics: real must be an image dataset, an image tensor or a dict of features, got {type(real).__name__}"
        )
    total = len(dataset)
    if total < n:
        warnings.warn(
            f"metrics: the real set has {total} images, fewer than {n}; using all of them", RuntimeWarning, stacklevel=3
        )
    idx = _sample_indices(total, n, seed)
    identity = dataset_identity(dataset)
    data_id = fingerprint or images_fingerprint(dataset, idx, batch_size)
    out: dict[str, tuple[FeatureSet, dict[str, Any]]] = {}
    keys = {}
    label = {name: f"{identity['name']}-{name}-n{len(idx)}" for name in exts}  # readable file names
    for name, ext in exts.items():
        # the extractor's identity: its weights and the options that change its features
        ext_id = {"name": ext.name, "weights_sha256": ext.weights_sha256, "config": ext.config()}
        keys[name] = cache_key(
            {"data": data_id, "dataset": identity, "num": len(idx), "seed": seed, "extractor": ext_id}
        )
        hit = cache.load(keys[name], label[name]) if cache else None
        if hit is not None:
            out[name] = (hit, {"cache": "hit"})
    missing = [name for name in exts if name not in out]
    if missing:
        chunks: dict[str, list[torch.Tensor]] = {name: [] for name in missing}
        stage = f"real features ({', '.join(missing)}, {len(idx)} images)"
        for start in range(0, len(idx), batch_size):
            images = dataset.get_images(idx[start : start + batch_size])
            for name in missing:
                chunks[name].append(exts[name](images))
            if progress is not None:
                progress(stage, min(start + batch_size, len(idx)), len(idx))
        for name in missing:
            fs = FeatureSet.from_features(torch.cat(chunks[name]))
            if cache:
                meta = {"dataset": identity, "num": len(idx), "seed": seed, "extractor": exts[name].describe()}
                cache.save(keys[name], label[name], fs, meta)
            out[name] = (fs, {"cache": "miss" if cache else "off"})
    for name in out:
        out[name][1].update({"source": identity["name"], "dataset": identity, "fingerprint": data_id})
    return out


def _seeds_per_image(fake: Any) -> bool:
    return callable(getattr(fake, "images_for_seeds", None))


def fake_seeds_description(fake: Any, seed: int) -> str:
    """How the generated images were seeded, for the records' protocol."""
    return f"{seed}+image index" if _seeds_per_image(fake) else f"{seed}+batch index"


def _fake_features(
    fake: Any,
    needs: dict[str, int],
    exts: dict[str, FeatureExtractor],
    seed: int,
    batch_size: int,
    progress: Progress | None = None,
) -> dict[str, torch.Tensor]:
    """Features of max(needs) generated images; extractor e sees the first needs[e] of them."""
    total = max(needs.values())
    chunks: dict[str, list[torch.Tensor]] = {name: [] for name in needs}
    dataset = _as_dataset(fake, "fake")
    if dataset is not None:
        if len(dataset) < total:
            raise OptionsError(f"metrics: needs {total} generated images, the fake set has {len(dataset)}")
        idx = _sample_indices(len(dataset), total, seed)
        get = lambda i, start, b: dataset.get_images(idx[start : start + b])  # noqa: E731
    elif _seeds_per_image(fake):
        get = lambda i, start, b: fake.images_for_seeds(range(seed + start, seed + start + b))  # noqa: E731
    elif callable(fake):
        get = lambda i, start, b: fake(b, seed + i)  # noqa: E731
    else:
        raise OptionsError(
            "metrics: fake must have images_for_seeds(seeds), be a callable (n, seed) -> images, an image dataset "
            f"or tensor, got {type(fake).__name__}"
        )
    for i, start in enumerate(range(0, total, batch_size)):
        b = min(batch_size, total - start)
        images = get(i, start, b)
        if len(images) != b:
            raise OptionsError(f"metrics: the fake source returned {len(images)} images when asked for {b}")
        for name, n in needs.items():
            if start < n:
                chunks[name].append(exts[name](images[: n - start]))
        if progress is not None:
            progress(f"generated images ({', '.join(needs)})", start + b, total)
    return {name: torch.cat(c) for name, c in chunks.items()}


def adapted_kid_options(options: MetricOptions, num_real: int, num_fake: int) -> MetricOptions:
    """KID's subset size for small sets: the requested one, or all of the smaller set when it has fewer
    (stylegan3's rule); the record states both."""
    return dataclasses.replace(options, kid_subset_size=min(options.kid_subset_size, num_real, num_fake))


def compute_metrics(
    names: str | Sequence[str],
    real: ImageSource | Mapping[str, torch.Tensor | np.ndarray],
    fake: Callable[[int, int], torch.Tensor] | ImageSource,
    extractors: Mapping[str, ExtractorFactory],
    cache_dir: str | os.PathLike | None = None,
    *,
    seed: int = 0,
    batch_size: int = 64,
    real_fingerprint: str | None = None,
    options: MetricOptions | None = None,
    use_cache: bool = True,
    fake_info: dict[str, Any] | None = None,
    registry: dict[str, MetricKind] | None = None,
    adapt_kid_subset: bool = False,
    on_record: Callable[[dict[str, Any]], None] | None = None,
    on_error: OnError | None = None,
    progress: Progress | None = None,
) -> list[dict[str, Any]]:
    """Compute metrics by name and return one record per metric (see the module doc).

    Args:
        names: metric names, ``<kind><N>k_<extractor>`` (or ``<kind><N>_<extractor>`` below 1000).
        real: an image dataset (uint8 images via ``get_images``), an image tensor, or a dict
            extractor name -> precomputed real features (used as given, not cached).
        fake: a source with ``images_for_seeds(seeds) -> images [len(seeds), C, H, W]`` (one seed
            per image), a callable ``fake(n, seed) -> images [n, C, H, W]`` (one seed per batch;
            images uint8 or [-1, 1] floats), or an image dataset / tensor of generated images.
        extractors: extractor name -> factory (called once, only for names in use) or instance.
        cache_dir: the cache root (else ``$GANATOMY_CACHE``, else ``~/.cache/ganatomy``).
        seed: seeds the real subset, the fake images (``seed + j``) or batches (``seed + i``) and KID's subsets.
        batch_size: images per extractor / generator call.
        real_fingerprint: the caller's identity of the real data; skips hashing the images.
        options: KID subset size, PR k, FD eps.
        use_cache: False computes the real features afresh and writes nothing.
        fake_info: what the generated images are (e.g. a snapshot path), copied into records.
        adapt_kid_subset: KID on sets smaller than its subset size uses all of the smaller set
            (:func:`adapted_kid_options`; the record says so) instead of raising.
        on_record: called with each record as soon as it is computed.
        on_error: with it, a metric that fails is reported here and the others go on (the result
            holds the metrics that succeeded); without it, the first failure raises.
        progress: called with (stage, done, total) as real and generated images are processed.
    """
    registry = METRIC_KINDS if registry is None else registry
    names = [names] if isinstance(names, str) else list(names)
    if not names:
        raise OptionsError("metrics: no metric names given")
    parsed = [parse_metric_name(name, registry) for name in names]
    if len({p.name for p in parsed}) != len(parsed):
        raise OptionsError("metrics: a metric name is repeated")
    options = options or MetricOptions()
    if batch_size < 1:
        raise OptionsError(f"metrics: batch_size must be >= 1, got {batch_size}")
    for p in parsed:  # sizes are checked before any image is generated
        if p.kind == "kid" and p.num < options.kid_subset_size and not adapt_kid_subset:
            raise OptionsError(
                f"{p.name}: KID subset size {options.kid_subset_size} needs at least {options.kid_subset_size} images; "
                f"lower kid_subset_size or use a larger N"
            )
    fake_dataset = _as_dataset(fake, "fake")
    largest = max(p.num for p in parsed)
    if fake_dataset is not None and len(fake_dataset) < largest:
        raise OptionsError(f"metrics: needs {largest} generated images, the fake set has {len(fake_dataset)}")

    failed: dict[str, Exception] = {}

    def attempt(metrics: Sequence[MetricName], step: Callable[[], Any]) -> Any:
        """Run ``step``; with ``on_error``, a failure fails ``metrics`` (and returns None) instead of raising."""
        if on_error is None:
            return step()
        try:
            return step()
        except Exception as e:  # noqa: BLE001 - any failure of one metric is reported, the others go on
            for p in metrics:
                if p.name not in failed:
                    failed[p.name] = e
                    on_error(p.name, e)
            return None

    def pending(metrics: Sequence[MetricName]) -> list[MetricName]:
        return [p for p in metrics if p.name not in failed]

    exts: dict[str, FeatureExtractor] = {}
    for name in sorted({p.extractor for p in parsed}):
        ext = attempt([p for p in parsed if p.extractor == name], lambda: _build_extractor(name, extractors))  # noqa: B023 (called at once)
        if ext is not None:
            exts[name] = ext
    for p in pending(parsed):
        if p.kind == "fid" and not getattr(exts[p.extractor], "is_standard", False):
            warnings.warn(
                f"{p.name}: the Inception weights are not the standard FID file; "
                "the value is not comparable with published FID",
                RuntimeWarning,
                stacklevel=2,
            )
    cache = FeatureCache(cache_dir) if use_cache else None

    real_sets: dict[tuple[str, int], tuple[FeatureSet, dict[str, Any]]] = {}
    for n in sorted({p.num for p in pending(parsed)}):
        group = [p for p in pending(parsed) if p.num == n]
        group_exts = {e: exts[e] for e in sorted({p.extractor for p in group})}
        got = attempt(
            group,
            lambda: _real_features(real, n, group_exts, cache, seed, batch_size, real_fingerprint, progress),  # noqa: B023
        )
        real_sets.update({(e, n): v for e, v in (got or {}).items()})

    records = []
    todo = pending(parsed)
    if not todo:
        return records
    needs = {e: max(p.num for p in todo if p.extractor == e) for e in sorted({p.extractor for p in todo})}
    t0 = time.perf_counter()
    fake_feats = attempt(
        todo, lambda: _fake_features(fake, needs, {e: exts[e] for e in needs}, seed, batch_size, progress)
    )
    fake_time = time.perf_counter() - t0

    for p in pending(parsed):
        kind = registry[p.kind]
        ext = exts[p.extractor]
        real_set, real_info = real_sets[(p.extractor, p.num)]
        fake_set = FeatureSet.from_features(fake_feats[p.extractor][: p.num])
        kind_options = options
        if p.kind == "kid" and adapt_kid_subset:
            kind_options = adapted_kid_options(options, len(real_set), len(fake_set))
        t0 = time.perf_counter()
        values = attempt([p], lambda: kind.compute(real_set, fake_set, seed, kind_options))  # noqa: B023 (called at once)
        if values is None:
            continue
        protocol = {
            "num_real": len(real_set),
            "num_fake": len(fake_set),
            "extractor": ext.describe(),
            "comparable_with_published_fid": bool(p.kind == "fid" and getattr(ext, "is_standard", False)),
            "real": real_info,
            "fake": {"seeds": fake_seeds_description(fake, seed), "batch_size": batch_size, **(fake_info or {})},
            "seed": seed,
            **kind_options.for_kind(p.kind),
        }
        if kind_options is not options:
            protocol["kid_subset_size_requested"] = options.kid_subset_size
        record = make_record(
            p,
            kind.label(p.extractor, ext.label),
            values,
            kind.primary,
            protocol,
            time.perf_counter() - t0,
            fake_features_time_s=round(fake_time, 4),
        )
        records.append(record)
        if on_record is not None:
            on_record(record)
    return records


def append_metric_records(path: str | os.PathLike, records: Sequence[dict[str, Any]]) -> None:
    """Append records to a JSONL file (``metrics.jsonl``), one line each, flushed and fsynced."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(r, sort_keys=True, default=str) + "\n" for r in records)
    with open(path, "a", encoding="utf-8") as f:
        f.write(text)  # one write: a crash leaves at most a partial last line
        f.flush()
        os.fsync(f.fileno())


def default_extractors(
    inception_weights: str | os.PathLike | None = None,
    effnet_resolution: int = 224,
    bf16: bool = False,
    device: str = "cpu",
) -> dict[str, Callable[[], FeatureExtractor]]:
    """Factories for the ImageNet extractors: ``effnet`` always, ``inception`` with a weights file."""
    factories: dict[str, Callable[[], FeatureExtractor]] = {
        "effnet": lambda: EfficientNetLite0Extractor(resolution=effnet_resolution, bf16=bf16, device=device),
    }
    if inception_weights is not None:
        factories["inception"] = lambda: InceptionExtractor(inception_weights, bf16=bf16, device=device)
    return factories
