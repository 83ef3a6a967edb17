"""The metric registry: metric names that state their protocol, and what each kind computes.

A metric name reads ``<kind><N>k_<extractor>``: ``fd10k_oracle`` is the Fréchet distance on the
oracle's features between 10,000 generated and 10,000 real images; ``kid2k_effnet`` is KID on
EfficientNet-Lite0 features of 2,000 + 2,000 images. A count that is not a multiple of 1000 is
written in full: ``pr64_effnet`` uses 64 + 64 images. The extractor token names a judge
(``ganatomy.metrics.judges``). Distribution kinds (``METRIC_KINDS``, :class:`MetricKind`), computed
from the features of a real and a generated set:

* ``fd``  - Fréchet distance (:mod:`ganatomy.metrics.frechet`), reported as ``FD-<extractor>``.
* ``fid`` - the same on the FID Inception-v3 (extractor ``inception`` only), reported as ``FID``.
* ``kid`` - KID mean and std over subsets (:mod:`ganatomy.metrics.kid`).
* ``pr``  - improved precision and recall with k nearest neighbours (:mod:`...precision_recall`).

The real set is N images drawn without replacement with the metric seed (all of them, with a
warning, when the dataset is smaller); the generated set is N fresh images. The caller maps
extractor names to factories (see :func:`ganatomy.metrics.compute.compute_metrics`), so tests
inject their own.

Generator kinds (``GENERATOR_METRIC_KINDS``, :class:`GeneratorMetricKind`), computed from the
generator itself and what its judge reads off N of its images (``ganatomy.metrics.generator``):

* ``cc``  - class consistency of a conditional generator (``cc10k_oracle``, ``cc10k_fmnist``).
* ``dis`` - disentanglement of the latent code against the oracle's factor readings (``dis10k_oracle``).

:func:`register_metric_kind` adds either sort; one name is one kind across both registries.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any

import torch

from ganatomy.errors import OptionsError
from ganatomy.metrics.frechet import FeatureStats, frechet_distance_from_stats
from ganatomy.metrics.generator import (
    class_consistency_protocol,
    disentanglement_protocol,
    generator_class_consistency,
    generator_disentanglement,
)
from ganatomy.metrics.kid import kernel_inception_distance
from ganatomy.metrics.precision_recall import precision_recall


@dataclasses.dataclass(frozen=True)
class MetricOptions:
    """Settings of the metric computations that are not in the name (recorded with each result)."""

    kid_subset_size: int = 1000
    kid_num_subsets: int = 100
    pr_k: int = 3
    fd_eps: float = 1e-6

    def for_kind(self, kind: str) -> dict:
        """The options a kind uses, for its record."""
        return {
            "fd": {"fd_eps": self.fd_eps},
            "fid": {"fd_eps": self.fd_eps},
            "kid": {"kid_subset_size": self.kid_subset_size, "kid_num_subsets": self.kid_num_subsets},
            "pr": {"pr_k": self.pr_k},
        }.get(kind, {})


@dataclasses.dataclass
class FeatureSet:
    """Features of one image set under one extractor, with their Gaussian statistics."""

    features: torch.Tensor  # float32 [N, D]
    stats: FeatureStats

    @classmethod
    def from_features(cls, features: torch.Tensor) -> FeatureSet:
        features = torch.as_tensor(features).to(torch.float32)
        return cls(features, FeatureStats.from_features(features))

    def __len__(self) -> int:
        return len(self.features)


@dataclasses.dataclass(frozen=True)
class MetricKind:
    """One kind of metric.

    Attributes:
        name: the prefix in metric names (``fd``).
        compute: (real, fake, seed, options) -> named values.
        primary: the key of the headline value.
        label: display name from the extractor's label (``FD-EffNetLite0``).
        extractors: the only extractor names allowed, or None for any.
        forbidden: extractor names not allowed (with the reason as the value).
    """

    name: str
    compute: Callable[[FeatureSet, FeatureSet, int, MetricOptions], dict[str, float]]
    primary: str
    label: Callable[[str, str], str]
    extractors: tuple[str, ...] | None = None
    forbidden: dict[str, str] = dataclasses.field(default_factory=dict)


def _fd(real: FeatureSet, fake: FeatureSet, seed: int, opts: MetricOptions) -> dict[str, float]:
    return {"fd": frechet_distance_from_stats(real.stats, fake.stats, eps=opts.fd_eps)}


def _fid(real: FeatureSet, fake: FeatureSet, seed: int, opts: MetricOptions) -> dict[str, float]:
    return {"fid": frechet_distance_from_stats(real.stats, fake.stats, eps=opts.fd_eps)}


def _kid(real: FeatureSet, fake: FeatureSet, seed: int, opts: MetricOptions) -> dict[str, float]:
    r = kernel_inception_distance(
        real.features, fake.features, num_subsets=opts.kid_num_subsets, subset_size=opts.kid_subset_size, seed=seed
    )
    return {"kid_mean": r.mean, "kid_std": r.std}


def _pr(real: FeatureSet, fake: FeatureSet, seed: int, opts: MetricOptions) -> dict[str, float]:
    r = precision_recall(real.features, fake.features, k=opts.pr_k)
    return {"precision": r.precision, "recall": r.recall}


@dataclasses.dataclass(frozen=True)
class GeneratorMetricKind:
    """One kind of metric computed from a generator and a judge.

    Attributes:
        name: the prefix in metric names (``cc``).
        compute: (G, judge, num, seed, batch_size) -> named values; ``judge`` is the loaded
            predictor of the name's judge (``ganatomy.metrics.judges.load_judge``); image j of the
            N it generates has seed ``seed + j``.
        primary: the key of the headline value.
        label: display name from the extractor token and the judge's name (``CC-world32``).
        extractors: the judges it accepts, or None for any judge that reads more than features.
        protocol: G -> what the record states beyond the common fields (how codes or classes are made).
        forbidden: judge names not allowed (with the reason as the value).
    """

    name: str
    compute: Callable[[Any, Any, int, int, int], dict[str, Any]]
    primary: str
    label: Callable[[str, str], str]
    extractors: tuple[str, ...] | None = None
    protocol: Callable[[Any], dict[str, Any]] = lambda G: {}
    forbidden: dict[str, str] = dataclasses.field(default_factory=dict)


AnyMetricKind = MetricKind | GeneratorMetricKind

# The registries: kind prefix -> kind. Extend with register_metric_kind.
METRIC_KINDS: dict[str, MetricKind] = {
    "fd": MetricKind(
        "fd",
        _fd,
        "fd",
        lambda ext, label: f"FD-{label}",
        forbidden={"inception": "the Fréchet distance on Inception-v3 is FID; name it fid<N>k_inception"},
    ),
    "fid": MetricKind("fid", _fid, "fid", lambda ext, label: "FID", extractors=("inception",)),
    "kid": MetricKind("kid", _kid, "kid_mean", lambda ext, label: "KID" if ext == "inception" else f"KID-{label}"),
    "pr": MetricKind("pr", _pr, "precision", lambda ext, label: f"PR-{label}"),
}


GENERATOR_METRIC_KINDS: dict[str, GeneratorMetricKind] = {
    "cc": GeneratorMetricKind(
        "cc",
        generator_class_consistency,
        "class_consistency",
        lambda ext, label: f"CC-{label}",
        extractors=("oracle", "fmnist"),
        protocol=class_consistency_protocol,
    ),
    "dis": GeneratorMetricKind(
        "dis",
        generator_disentanglement,
        "mig",
        lambda ext, label: f"Disentanglement-{label}",
        extractors=("oracle",),
        protocol=disentanglement_protocol,
    ),
}


def all_metric_kinds() -> dict[str, AnyMetricKind]:
    """Every kind by name, distribution and generator kinds together (a fresh dict)."""
    return {**METRIC_KINDS, **GENERATOR_METRIC_KINDS}


def register_metric_kind(kind: AnyMetricKind, registry: dict[str, Any] | None = None) -> None:
    """Add a kind to ``registry`` (by default ``METRIC_KINDS`` or ``GENERATOR_METRIC_KINDS``, by its
    type); names are lowercase letters, and one name is one kind across both registries."""
    if not isinstance(kind, (MetricKind, GeneratorMetricKind)):
        raise OptionsError(f"register_metric_kind: {kind!r} is neither a MetricKind nor a GeneratorMetricKind")
    if registry is None:
        registry = GENERATOR_METRIC_KINDS if isinstance(kind, GeneratorMetricKind) else METRIC_KINDS
        taken = all_metric_kinds()
    else:
        taken = registry
    if not re.fullmatch(r"[a-z]+", kind.name):
        raise OptionsError(f"metric kind {kind.name!r}: use lowercase letters only")
    if kind.name in taken:
        raise OptionsError(f"metric kind {kind.name!r} is already registered")
    registry[kind.name] = kind


@dataclasses.dataclass(frozen=True)
class MetricName:
    """A parsed metric name: ``fd10k_effnet`` -> kind ``fd``, num 10000, extractor ``effnet``."""

    name: str
    kind: str
    num: int
    extractor: str


# N in thousands (``10k``), or in full when it is not a multiple of 1000 (``fd64_effnet``: 64 images).
_NAME_RE = re.compile(r"(?P<kind>[a-z]+?)(?P<num>[1-9][0-9]*)(?P<k>k?)_(?P<extractor>[a-z][a-z0-9-]*)")


def metric_name(kind: str, num: int, extractor: str) -> str:
    """The canonical name of a metric of ``num`` images: ``fd10k_oracle``, ``kid64_effnet``."""
    count = f"{num // 1000}k" if num % 1000 == 0 else str(num)
    return f"{kind}{count}_{extractor}"


def parse_metric_name(name: str, registry: dict[str, AnyMetricKind] | None = None) -> MetricName:
    """Parse ``<kind><N>k_<extractor>``; a bad name raises a one-line ``OptionsError``."""
    registry = METRIC_KINDS if registry is None else registry
    kinds = ", ".join(sorted(registry))
    m = _NAME_RE.fullmatch(name) if isinstance(name, str) else None
    if m is None:
        raise OptionsError(
            f"metric name {name!r}: expected <kind><N>k_<extractor> with kind in {kinds} (e.g. fd10k_effnet)"
        )
    kind_name, extractor = m["kind"], m["extractor"]
    num = int(m["num"]) * (1000 if m["k"] else 1)
    if not m["k"] and num % 1000 == 0:
        canonical = metric_name(kind_name, num, extractor)
        raise OptionsError(f"metric name {name!r}: write a multiple of 1000 in thousands ({canonical})")
    kind = registry.get(kind_name)
    if kind is None:
        raise OptionsError(f"metric name {name!r}: unknown kind {kind_name!r}; known kinds: {kinds}")
    if kind.extractors is not None and extractor not in kind.extractors:
        raise OptionsError(
            f"metric name {name!r}: {kind_name} needs extractor {' or '.join(kind.extractors)}, not {extractor!r}"
        )
    if extractor in kind.forbidden:
        raise OptionsError(f"metric name {name!r}: {kind.forbidden[extractor]}")
    return MetricName(name, kind_name, num, extractor)
