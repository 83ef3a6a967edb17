"""The oracle networks: a small U-Net for the world and a small CNN for Fashion-MNIST.

:class:`WorldOracleNet` reads everything the world renders off one image::

    image [N, 3, R, R] in [-1, 1]
      encoder: conv blocks at R, R/2, ..., 4 (widths ``widths``; 2x2 average pooling between levels)
      bottleneck [N, widths[-1], 4, 4] --flatten--> linear --> ReLU --> features [N, feature_dim]
          features --> regression head  [N, spec.regression_width]   (continuous factors, see spec.py)
          features --> one classification head per categorical factor
      decoder: 2x2 transposed conv (x2 upsampling to the next level's width) + that encoder level,
          one conv layer, ... up to R --> 1x1 conv --> part logits [N, num_parts, R, R]

The encoder and decoder are the shared U-Net's (``ganatomy.nets.unet``, its defaults): skips are added,
not concatenated, and the decoder has one conv per level, since on two shared CPU cores the
full-resolution layers dominate the cost. The bottleneck is flattened, not pooled: pooling would throw
away where things are, and positions are factors. ``features()`` runs the encoder only (what the
Fréchet distance needs).

:class:`FashionNet` is a VGG-style classifier for 32x32 grey images; its penultimate layer is
the feature vector.

Both networks keep their constructor arguments in ``config()`` so a checkpoint rebuilds them
without pickles.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ganatomy.errors import OptionsError
from ganatomy.nets._checks import assert_shape, check_input
from ganatomy.nets.unet import ConvBlock, UNetDecoder, UNetEncoder
from ganatomy.oracle.spec import OracleSpec

# Encoder widths per resolution: R, R/2, ..., 4.
DEFAULT_WIDTHS = {32: (16, 32, 64, 128), 64: (12, 16, 32, 64, 128)}
BOTTLENECK_SIZE = 4


class WorldOracleNet(nn.Module):
    """U-Net oracle for the world: part masks, continuous factors and categorical factors.

    Args:
        resolution: input size (a power of two, at least 8).
        spec: what to predict, as ``OracleSpec.to_dict()`` (default: the current world registry).
        widths: channels per encoder level, from full resolution down to 4x4.
        feature_dim: size of the pooled feature vector.
        in_channels: image channels (3).
    """

    kind = "world-oracle"

    def __init__(
        self,
        resolution: int = 32,
        spec: dict[str, Any] | None = None,
        widths: Sequence[int] | None = None,
        feature_dim: int = 256,
        in_channels: int = 3,
    ):
        super().__init__()
        if resolution < 8 or resolution & (resolution - 1):
            raise OptionsError(f"world oracle: resolution must be a power of two >= 8, got {resolution}")
        levels = resolution.bit_length() - BOTTLENECK_SIZE.bit_length() + 1  # R, R/2, ..., 4
        widths = tuple(widths or DEFAULT_WIDTHS.get(resolution) or ())
        if len(widths) != levels:
            raise OptionsError(f"world oracle: {resolution}x{resolution} needs {levels} widths (one per level to 4x4)")
        self.spec = OracleSpec.from_dict(spec) if spec is not None else OracleSpec.from_world()
        self._config = {
            "resolution": int(resolution),
            "spec": self.spec.to_dict(),
            "widths": list(widths),
            "feature_dim": int(feature_dim),
            "in_channels": int(in_channels),
        }
        self.resolution = int(resolution)
        self.in_channels = int(in_channels)
        self.feature_dim = int(feature_dim)
        # Built in this order (encoder, bottleneck heads, decoder, mask head) and with these names, so that
        # the same seed gives the same initialisation and the shipped weights load as they were saved.
        self.encoder = UNetEncoder(in_channels, widths)
        self.to_features = nn.Linear(widths[-1] * BOTTLENECK_SIZE**2, feature_dim)
        self.regression = nn.Linear(feature_dim, self.spec.regression_width)
        self.classifiers = nn.ModuleDict({t.name: nn.Linear(feature_dim, t.num_classes) for t in self.spec.categorical})
        self.decoder = UNetDecoder(widths)
        self.mask_head = nn.Conv2d(widths[0], self.spec.num_parts, 1)

    def config(self) -> dict[str, Any]:
        return copy.deepcopy(self._config)

    def _check(self, x: torch.Tensor) -> None:
        check_input(x, [None, self.in_channels, self.resolution, self.resolution], "oracle input images")

    def _encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        skips = self.encoder(x)
        assert_shape(skips[-1], [None, None, BOTTLENECK_SIZE, BOTTLENECK_SIZE], "oracle bottleneck")
        return skips

    def _pool(self, bottleneck: torch.Tensor) -> torch.Tensor:
        # .reshape, not .flatten: channels_last tensors are not contiguous in NCHW order
        return F.relu(self.to_features(bottleneck.reshape(len(bottleneck), -1)))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled feature vector [N, feature_dim] (encoder only)."""
        self._check(x)
        return self._pool(self._encode(x)[-1])

    def forward(self, x: torch.Tensor) -> dict[str, Any]:
        """{'features' [N, D], 'regression' [N, R], 'logits' {factor: [N, C]}, 'mask_logits' [N, P, H, W]}."""
        self._check(x)
        skips = self._encode(x)
        feats = self._pool(skips[-1])
        y = self.decoder(skips)
        return {
            "features": feats,
            "regression": self.regression(feats),
            "logits": {name: head(feats) for name, head in self.classifiers.items()},
            "mask_logits": self.mask_head(y),
        }


class FashionNet(nn.Module):
    """A VGG-style Fashion-MNIST classifier for [N, 1, 32, 32] images in [-1, 1].

    Three stages of two 3x3 conv-BN-ReLU layers (widths ``widths``) with 2x2 max pooling, global
    average pooling, then ``linear -> ReLU`` to ``feature_dim`` (the features) and a linear
    classifier.
    """

    kind = "fashion-classifier"

    def __init__(
        self,
        num_classes: int = 10,
        widths: Sequence[int] = (32, 64, 128),
        feature_dim: int = 128,
        in_channels: int = 1,
        resolution: int = 32,
        dropout: float = 0.3,
    ):
        super().__init__()
        self._config = {
            "num_classes": int(num_classes),
            "widths": list(widths),
            "feature_dim": int(feature_dim),
            "in_channels": int(in_channels),
            "resolution": int(resolution),
            "dropout": float(dropout),
        }
        self.resolution = int(resolution)
        self.in_channels = int(in_channels)
        self.num_classes = int(num_classes)
        self.feature_dim = int(feature_dim)
        stages, cin = [], in_channels
        for i, w in enumerate(widths):
            if i:
                stages.append(nn.MaxPool2d(2))
            stages.append(ConvBlock(cin, w))
            cin = w
        self.body = nn.Sequential(*stages)
        self.to_features = nn.Linear(cin, feature_dim)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(feature_dim, num_classes)

    def config(self) -> dict[str, Any]:
        return copy.deepcopy(self._config)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features [N, feature_dim]."""
        check_input(x, [None, self.in_channels, self.resolution, self.resolution], "classifier input images")
        return F.relu(self.to_features(self.body(x).mean(dim=(2, 3))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits [N, num_classes]."""
        return self.classifier(self.dropout(self.features(x)))
