"""Judges by name: the networks that metrics consult, and the judge a dataset declares.

A judge is what the extractor token of a metric name names (``fd10k_oracle`` -> ``oracle``):

* ``features(resolution, device, bf16)`` builds its feature extractor for distribution metrics
  (fd, kid, pr), for images of ``resolution`` (None: unknown);
* ``load(resolution, device, bf16)``, for judges that read more than features, builds the
  predictor that generator metrics (cc, dis) consult: ``classify(images) -> [N, C]`` class
  probabilities and ``num_classes``, ``predict(images).factors`` and ``spec`` (world factors),
  and for the records ``name``, ``resolution``, ``weights_sha256`` and ``meta``.

Registered here: ``effnet`` (ImageNet EfficientNet-Lite0, features only, for any data). The
oracle package registers ``oracle`` (the world oracle of the images' resolution) and ``fmnist``
(the Fashion-MNIST classifier) in ``ganatomy.oracle.judges``; more register with
:func:`register_judge`.

A dataset declares its judge in its ``judge`` attribute (the world: ``oracle``, Fashion-MNIST:
``fmnist``, a folder: what its ``dataset.json`` says); a dataset that names none is judged by
:data:`DEFAULT_JUDGE`. Nothing is inferred from a dataset's name.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import torch

from ganatomy.errors import OptionsError
from ganatomy.metrics.extractors import EfficientNetLite0Extractor, FeatureExtractor
from ganatomy.utils.registry import add_entry, get_entry

Device = str | torch.device
DEFAULT_JUDGE = "effnet"


@dataclasses.dataclass(frozen=True)
class Judge:
    """A registered judge (see the module doc); ``load`` is None for a features-only judge."""

    name: str
    features: Callable[[int | None, Device, bool], FeatureExtractor]
    load: Callable[[int | None, Device, bool], Any] | None = None
    description: str = ""


_JUDGES: dict[str, Judge] = {}
JUDGES: Mapping[str, Judge] = MappingProxyType(_JUDGES)  # read-only view; see registered_judges()


def register_judge(judge: Judge) -> Judge:
    """Make ``judge`` available under ``judge.name`` in metric names."""
    if not isinstance(judge, Judge):
        raise OptionsError(f"register_judge: {judge!r} is not a Judge")
    return add_entry(_JUDGES, "judge", judge.name, judge)


def _register_provided_judges() -> None:
    # The oracle package builds on metrics (its extractors are FeatureExtractors), so metrics may
    # not import it at module level; it registers its judges when first imported, here.
    import ganatomy.oracle.judges  # noqa: F401


def registered_judges() -> Mapping[str, Judge]:
    """Every judge, those of the oracle package included."""
    _register_provided_judges()
    return JUDGES


def get_judge(name: str) -> Judge:
    """The judge ``name``, or a one-line error listing the known ones."""
    return get_entry(registered_judges(), "judge", name)


def load_judge(name: str, resolution: int | None = None, device: Device = "cpu", bf16: bool = False) -> Any:
    """The predictor of judge ``name`` for images of ``resolution`` (for class and factor readings)."""
    judge = get_judge(name)
    if judge.load is None:
        readers = ", ".join(n for n, j in registered_judges().items() if j.load is not None)
        raise OptionsError(f"judge {name!r} gives features only; class and factor readings need {readers}")
    return judge.load(resolution, device, bf16)


def judge_extractor_factories(
    resolution: int | None = None, device: Device = "cpu", bf16: bool = False
) -> dict[str, Callable[[], FeatureExtractor]]:
    """Extractor factories of every judge, for images of ``resolution``; each loads on first use."""

    def factory(judge: Judge) -> Callable[[], FeatureExtractor]:
        return lambda: judge.features(resolution, device, bf16)

    return {name: factory(judge) for name, judge in registered_judges().items()}


def judge_of(dataset: Any) -> str:
    """The judge ``dataset`` declares (its ``judge`` attribute), else :data:`DEFAULT_JUDGE`."""
    declared = getattr(dataset, "judge", None)
    if declared is None:
        return DEFAULT_JUDGE
    get_judge(declared)  # a dataset naming an unknown judge fails here, in one line
    return declared


register_judge(
    Judge(
        "effnet",
        lambda resolution, device, bf16: EfficientNetLite0Extractor(device=device, bf16=bf16),
        description="ImageNet EfficientNet-Lite0 features (any data; not comparable with published FID)",
    )
)
