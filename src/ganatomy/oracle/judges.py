"""The oracles as judges of the metrics: registered as ``oracle`` and ``fmnist`` on import.

* ``oracle``: the world oracle of the images' resolution (``world32`` for images up to 32 px or
  of unknown size, ``world64`` above; others are resized to it); its 256-d pooled features for
  distribution metrics, its factor, class and mask readings for generator metrics.
* ``fmnist``: the Fashion-MNIST classifier; its penultimate (128-d) features and its classes.

See :mod:`ganatomy.metrics.judges` for the registry and how a dataset names its judge.
"""

from __future__ import annotations

from typing import Any

import torch

from ganatomy.metrics.extractors import FeatureExtractor
from ganatomy.metrics.judges import Judge, register_judge
from ganatomy.oracle.predictor import FashionClassifier, WorldOracle, load_oracle


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


def _world_oracle(resolution: int | None, device: str | torch.device, bf16: bool) -> WorldOracle:
    return load_oracle(world_oracle_name(resolution), device=device, bf16=bf16)


def _fashion_classifier(resolution: int | None, device: str | torch.device, bf16: bool) -> FashionClassifier:
    return load_oracle("fmnist", device=device, bf16=bf16)


# The extractors run the predictor in fp32 (bf16 only in the extractor's own autocast), as before.
ORACLE_JUDGE = register_judge(
    Judge(
        "oracle",
        lambda resolution, device, bf16: OracleExtractor(_world_oracle(resolution, device, False), bf16=bf16),
        _world_oracle,
        "the world oracle of the images' resolution: factors, classes, part masks, 256-d features",
    )
)
FASHION_JUDGE = register_judge(
    Judge(
        "fmnist",
        lambda resolution, device, bf16: FashionExtractor(_fashion_classifier(resolution, device, False), bf16=bf16),
        _fashion_classifier,
        "the Fashion-MNIST classifier: 10 classes, 128-d features",
    )
)
