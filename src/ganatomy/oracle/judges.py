"""The oracles as feature extractors for the metric core, and the default judge of a dataset.

Extractor names (the token in metric names such as ``fd10k_oracle``):

* ``oracle``: the world oracle's 256-d pooled features; the oracle of the images' resolution
  (``world32`` for images up to 32 px, ``world64`` above; others are resized to it).
* ``fmnist``: the Fashion-MNIST classifier's penultimate (128-d) features.
* ``effnet``: ImageNet EfficientNet-Lite0 (``ganatomy.metrics.extractors``), for any other data.

:func:`default_judge` names the one that fits a dataset; :func:`judge_for` loads the matching
classifier / factor reader (the world oracle or the Fashion-MNIST classifier), used by class
consistency and disentanglement.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch

from ganatomy.metrics.extractors import FeatureExtractor
from ganatomy.metrics.oracle.predictor import FashionClassifier, WorldOracle, load_oracle
from ganatomy.worlds.factors import FACTORS


class _OracleFeatures(FeatureExtractor):
    """A loaded oracle's ``features()`` behind the FeatureExtractor interface."""

    def __init__(self, oracle: WorldOracle | FashionClassifier, batch_size: int = 256, bf16: bool = False):
        super().__init__(batch_size, oracle.device, bf16)
        self.oracle = oracle
        self.feature_dim = oracle.net.feature_dim

    def config(self) -> dict[str, Any]:
        return {
            **super().config(),
            "oracle": self.oracle.name,
            "resolution": self.oracle.resolution,
            "channels": self.oracle.net.in_channels,
            "resize": "bilinear-antialias",
            "norm": "u/127.5-1",
        }

    def _compute_sha256(self) -> str:
        return self.oracle.weights_sha256

    def _extract(self, x: torch.Tensor) -> torch.Tensor:
        x = self.oracle.prepare(x).to(self.device).contiguous(memory_format=torch.channels_last)
        return self.oracle.net.features(x)


class OracleExtractor(_OracleFeatures):
    """``oracle``: pooled features of the world oracle (FD-Oracle)."""

    name = "oracle"
    label = "Oracle"


class FashionExtractor(_OracleFeatures):
    """``fmnist``: penultimate features of the Fashion-MNIST classifier (FD-FMNIST)."""

    name = "fmnist"
    label = "FMNIST"


def world_oracle_name(resolution: int | None) -> str:
    """``world32`` for images up to 32 px (or unknown size), ``world64`` above."""
    return "world64" if resolution is not None and resolution > 32 else "world32"


def is_world_dataset(dataset: Any) -> bool:
    """A world dataset (rendered or exported): its name starts with 'world' or it carries the world's factors."""
    if str(getattr(dataset, "name", "")).startswith("world"):
        return True
    get = getattr(dataset, "get_factors", None)
    if get is None or not len(dataset):
        return False
    try:
        factors = get(np.array([0]))
    except Exception:  # an odd dataset is simply not the world
        return False
    return isinstance(factors, dict) and set(factors) == {f.name for f in FACTORS}


def is_fashion_dataset(dataset: Any) -> bool:
    from ganatomy.data.fashion_mnist import FashionMNIST

    base = getattr(dataset, "base", dataset)  # a relabelled view
    return isinstance(base, FashionMNIST) or str(getattr(dataset, "name", "")).startswith("fashion-mnist")


def default_judge(dataset: Any) -> str:
    """The extractor / judge that fits ``dataset``: 'oracle' (world), 'fmnist' (Fashion-MNIST) or 'effnet'."""
    if is_world_dataset(dataset):
        return "oracle"
    if is_fashion_dataset(dataset):
        return "fmnist"
    return "effnet"


def judge_for(
    name: str, resolution: int | None = None, device: str | torch.device = "cpu", bf16: bool = False
) -> WorldOracle | FashionClassifier:
    """The judge behind extractor name ``name`` ('oracle' -> the world oracle of ``resolution``, 'fmnist')."""
    from ganatomy.errors import OptionsError

    if name == "oracle":
        return load_oracle(world_oracle_name(resolution), device=device, bf16=bf16)
    if name == "fmnist":
        return load_oracle("fmnist", device=device, bf16=bf16)
    raise OptionsError(f"no judge {name!r}: class and factor judgements need 'oracle' (world) or 'fmnist'")


def oracle_extractor_factories(
    resolution: int | None = None, device: str | torch.device = "cpu", bf16: bool = False
) -> dict[str, Callable[[], FeatureExtractor]]:
    """Factories for ``oracle`` (the world oracle of ``resolution``) and ``fmnist``; loaded on first use."""
    return {
        "oracle": lambda: OracleExtractor(judge_for("oracle", resolution, device), bf16=bf16),
        "fmnist": lambda: FashionExtractor(judge_for("fmnist", None, device), bf16=bf16),
    }
