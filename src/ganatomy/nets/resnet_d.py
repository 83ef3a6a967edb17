"""StyleGAN2's residual discriminator, split into a trunk and heads.

Trunk: 1x1 FromRGB at the input resolution; per resolution R > 4 a residual block (3x3 conv,
3x3 conv that halves the resolution; a 1x1 downsampling skip without bias; the two branches
summed and scaled by sqrt(0.5)); then the 4x4 epilogue (minibatch stddev, 3x3 conv, flatten,
FC) giving h [N, C_4]. Head ``adv``: FC to a logit, plus the projection term when conditional.
All layers use equalized learning rate and lrelu with gain sqrt(2).
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import nn

from ganatomy.errors import OptionsError
from ganatomy.nets._checks import assert_shape
from ganatomy.nets.discriminator import DiscriminatorBase
from ganatomy.nets.layers import EqualConv2d, EqualLinear, MinibatchStd
from ganatomy.nets.stylegan2 import channels_at

_SQRT_HALF = math.sqrt(0.5)


class DiscriminatorBlock(nn.Module):
    """Residual block at resolution ``resolution`` -> ``resolution / 2``."""

    def __init__(self, in_channels: int, out_channels: int, resolution: int) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.resolution = in_channels, out_channels, resolution
        self.conv0 = EqualConv2d(in_channels, in_channels, 3)
        self.conv1 = EqualConv2d(in_channels, out_channels, 3, down=True)
        self.skip = EqualConv2d(in_channels, out_channels, 1, bias=False, activation="linear", down=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert_shape(x, [None, self.in_channels, self.resolution, self.resolution], "D block input")
        y = self.skip(x) * _SQRT_HALF
        x = self.conv1(self.conv0(x)) * _SQRT_HALF
        return x + y


class ResNetTrunk(nn.Module):
    """Images [N, C, R, R] -> h [N, feat_dim] with feat_dim = channels at 4x4."""

    def __init__(
        self,
        img_resolution: int,
        img_channels: int,
        channel_base: int,
        channel_max: int,
        mbstd_group: int = 4,
        mbstd_channels: int = 1,
    ) -> None:
        super().__init__()
        log2 = int(math.log2(img_resolution))
        if img_resolution < 8 or 2**log2 != img_resolution:
            raise OptionsError(f"resnet D: resolution must be a power of two >= 8, got {img_resolution}")
        self.img_resolution, self.img_channels = img_resolution, img_channels
        self.block_resolutions = [2**i for i in range(log2, 2, -1)]
        ch = {2**i: channels_at(2**i, channel_base, channel_max) for i in range(2, log2 + 1)}
        self.fromrgb = EqualConv2d(img_channels, ch[img_resolution], 1)
        self.blocks = nn.Sequential(*[DiscriminatorBlock(ch[r], ch[r // 2], r) for r in self.block_resolutions])
        c4 = ch[4]
        self.mbstd = MinibatchStd(mbstd_group, mbstd_channels) if mbstd_channels > 0 else nn.Identity()
        self.conv = EqualConv2d(c4 + mbstd_channels, c4, 3)
        self.fc = EqualLinear(c4 * 16, c4, activation="lrelu")
        self.feat_dim = c4

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        assert_shape(img, [None, self.img_channels, self.img_resolution, self.img_resolution], "D input")
        x = self.blocks(self.fromrgb(img))
        assert_shape(x, [img.shape[0], self.feat_dim, 4, 4], "D epilogue input")
        x = self.conv(self.mbstd(x))
        return self.fc(x.flatten(1))


class ResNetDiscriminator(DiscriminatorBase):
    """StyleGAN2 'resnet' discriminator with an optional projection head (c_dim > 0)."""

    kind: ClassVar[str] = "resnet"

    def __init__(
        self,
        img_resolution: int = 32,
        img_channels: int = 3,
        c_dim: int = 0,
        channel_base: int = 2048,
        channel_max: int = 256,
        mbstd_group: int = 4,
        mbstd_channels: int = 1,
    ) -> None:
        super().__init__()
        self.img_resolution, self.img_channels, self.c_dim = int(img_resolution), int(img_channels), int(c_dim)
        self.trunk = ResNetTrunk(img_resolution, img_channels, channel_base, channel_max, mbstd_group, mbstd_channels)
        self.feat_dim = self.trunk.feat_dim
        self._init_heads(equalized=True)
        self._config = dict(
            img_resolution=self.img_resolution,
            img_channels=self.img_channels,
            c_dim=self.c_dim,
            channel_base=int(channel_base),
            channel_max=int(channel_max),
            mbstd_group=int(mbstd_group),
            mbstd_channels=int(mbstd_channels),
        )
