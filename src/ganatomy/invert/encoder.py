"""The inversion encoder: a network from an image to a latent in W or W+.

Its backbone is either its own small convolutional network (``backbone="conv"``: strided 3x3
convolutions halve the image down to 4x4) or the world oracle's frozen encoder (``"oracle"``: the
network trained to read the world's factors off an image, so only the layers after it learn, which
is what two CPU cores can afford for a world generator). A hidden layer and a linear head then give
``num_rows x latent_dim`` numbers, read as a latent in units of the latent's per-dimension spread around its mean
(``latent = mean + std * head``): the head starts near the mean latent and every dimension gets the
same scale to learn in. The mean and std are buffers, so a saved encoder is self-contained.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from ganatomy.errors import OptionsError
from ganatomy.nets._checks import check_input

# The feature map side the convolutions stop at (the linear head reads it).
FINAL_SIDE = 4
BACKBONES = ("conv", "oracle")


class LatentEncoder(nn.Module):
    """Image [N, C, R, R] in [-1, 1] -> latent [N, D] (``num_rows`` = 0: W or Z) or [N, L, D] (W+).

    Args:
        img_channels, img_resolution: the images (R a power of two >= 8).
        latent_dim: D.
        num_rows: 0 for one latent vector per image, else the number of W+ rows L.
        width: channels of the first convolution (doubled at every halving, up to ``max_width``).
        max_width: the widest convolution.
        feature_dim: size of the hidden feature vector the head reads (``features``).
        backbone: 'conv' (trained with the rest) or 'oracle' (the world oracle's frozen encoder).
    """

    def __init__(
        self,
        img_channels: int,
        img_resolution: int,
        latent_dim: int,
        num_rows: int = 0,
        width: int = 32,
        max_width: int = 256,
        feature_dim: int = 512,
        backbone: str = "conv",
    ):
        super().__init__()
        if img_resolution < 2 * FINAL_SIDE or img_resolution & (img_resolution - 1):
            raise OptionsError(f"encoder: image resolution must be a power of two >= 8, got {img_resolution}")
        self.img_channels, self.img_resolution = int(img_channels), int(img_resolution)
        self.latent_dim, self.num_rows = int(latent_dim), int(num_rows)
        self.width, self.max_width, self.feature_dim = int(width), int(max_width), int(feature_dim)
        if backbone not in BACKBONES:
            raise OptionsError(f"encoder: backbone must be one of {', '.join(BACKBONES)}, got {backbone!r}")
        self.backbone_name = backbone
        if backbone == "oracle":
            from ganatomy.invert.losses import OracleFeatures

            self.backbone = OracleFeatures(img_resolution)
            backbone_dim = int(self.backbone.net.feature_dim)
        else:
            layers: list[nn.Module] = [nn.Conv2d(img_channels, width, 3, padding=1), nn.LeakyReLU(0.2)]
            channels = width
            for _ in range(int(math.log2(img_resolution // FINAL_SIDE))):
                out = min(channels * 2, max_width)
                layers += [nn.Conv2d(channels, out, 3, stride=2, padding=1), nn.LeakyReLU(0.2)]
                channels = out
            self.backbone = nn.Sequential(*layers, nn.Flatten())
            backbone_dim = channels * FINAL_SIDE * FINAL_SIDE
        self.to_features = nn.Sequential(nn.Linear(backbone_dim, feature_dim), nn.LeakyReLU(0.2))
        self.head = nn.Linear(feature_dim, max(1, self.num_rows) * self.latent_dim)
        nn.init.zeros_(self.head.weight)  # start at the mean latent
        nn.init.zeros_(self.head.bias)
        shape = (self.num_rows, self.latent_dim) if self.num_rows else (self.latent_dim,)
        self.register_buffer("latent_mean", torch.zeros(shape))
        self.register_buffer("latent_std", torch.ones(shape))

    def config(self) -> dict[str, Any]:
        return {
            "img_channels": self.img_channels,
            "img_resolution": self.img_resolution,
            "latent_dim": self.latent_dim,
            "num_rows": self.num_rows,
            "width": self.width,
            "max_width": self.max_width,
            "feature_dim": self.feature_dim,
            "backbone": self.backbone_name,
        }

    @property
    def frozen_backbone(self) -> bool:
        """Whether the backbone's output is fixed (its features can be computed once per image)."""
        return self.backbone_name == "oracle"

    def train(self, mode: bool = True) -> LatentEncoder:
        super().train(mode)
        if self.frozen_backbone:
            self.backbone.eval()  # the oracle's batch statistics stay its own
        return self

    def set_latent_stats(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """The latent distribution the head's output is scaled to (``latent_stats`` of the generator)."""
        self.latent_mean.copy_(mean.reshape(self.latent_mean.shape))
        self.latent_std.copy_(std.reshape(self.latent_std.shape).clamp_min(1e-8))

    def backbone_features(self, images: torch.Tensor) -> torch.Tensor:
        res = self.img_resolution
        check_input(images, [None, self.img_channels, res, res], "encoder input images")
        return self.backbone(images)

    def from_backbone(self, base: torch.Tensor) -> torch.Tensor:
        """The latent from backbone features (what a training step with a frozen backbone calls)."""
        out = self.head(self.to_features(base)).reshape(len(base), *self.latent_mean.shape)
        return self.latent_mean + self.latent_std * out

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """The hidden feature vector [N, feature_dim] the head reads (a baseline's features)."""
        return self.to_features(self.backbone_features(images))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.from_backbone(self.backbone_features(images))
