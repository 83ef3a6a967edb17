"""The faithful StyleGAN2 discriminator (NVIDIA's 'resnet' D), as ganatomy's trunk plus heads.

Trunk (``D.trunk``): a 1x1 FromRGB at the input resolution; per resolution R > 4 a residual
block (3x3 conv; 3x3 conv that FIR-filters and strides by 2; a 1x1 downsampling skip without
bias; both branches times sqrt(0.5)); then the 4x4 epilogue (minibatch stddev, 3x3 conv,
flatten, FC), giving h [N, C_4]. Head ``adv``: NVIDIA's ``out`` FC and, when conditional, the
projection on the label mapping ``cmap``: logit = <out(h), cmap(c)> / sqrt(cmap_dim).

State dict keys are NVIDIA's with ``trunk.`` before the blocks and the epilogue's conv and fc,
and ``heads.adv.`` before ``out`` and ``mapping`` (the key table is in ``nets/importers/keys.py``).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
from torch import nn

from ganatomy.errors import OptionsError
from ganatomy.nets._checks import assert_shape
from ganatomy.nets.discriminator import ADV, DiscriminatorBase
from ganatomy.nets.layers import MinibatchStd
from ganatomy.nets.protocol import labels_to_onehot
from ganatomy.nets.reference.generator import channel_table
from ganatomy.nets.reference.layers import Conv2dLayer, FullyConnectedLayer, MappingNetwork

_SQRT_HALF = math.sqrt(0.5)
_WHOLE_BATCH = 1 << 30  # a minibatch-stddev group size of None: the whole batch is one group


class DiscriminatorBlock(nn.Module):
    """Residual block at ``resolution`` -> ``resolution / 2`` (with FromRGB if it is the first)."""

    def __init__(
        self,
        in_channels: int,
        tmp_channels: int,
        out_channels: int,
        resolution: int,
        img_channels: int,
        activation: str,
        resample_filter: list[float],
        conv_clamp: float | None,
        use_fp16: bool,
    ) -> None:
        super().__init__()
        self.in_channels, self.resolution, self.use_fp16 = in_channels, resolution, use_fp16
        if in_channels == 0:
            self.fromrgb = Conv2dLayer(img_channels, tmp_channels, 1, activation=activation, conv_clamp=conv_clamp)
        self.conv0 = Conv2dLayer(tmp_channels, tmp_channels, 3, activation=activation, conv_clamp=conv_clamp)
        self.conv1 = Conv2dLayer(
            tmp_channels,
            out_channels,
            3,
            activation=activation,
            down=2,
            resample_filter=resample_filter,
            conv_clamp=conv_clamp,
        )
        self.skip = Conv2dLayer(tmp_channels, out_channels, 1, bias=False, down=2, resample_filter=resample_filter)

    def forward(self, x: torch.Tensor | None, img: torch.Tensor) -> torch.Tensor:
        if self.in_channels == 0:
            x = self.fromrgb(img)
        y = self.skip(x, gain=_SQRT_HALF)
        x = self.conv1(self.conv0(x), gain=_SQRT_HALF)
        return y + x


class Epilogue(nn.Module):
    """The 4x4 end of the trunk: minibatch stddev, 3x3 conv, flatten, FC -> h [N, C_4]."""

    def __init__(
        self,
        channels: int,
        activation: str,
        conv_clamp: float | None,
        mbstd_group_size: int | None,
        mbstd_num_channels: int,
    ) -> None:
        super().__init__()
        self.channels = channels
        group = _WHOLE_BATCH if mbstd_group_size is None else mbstd_group_size
        self.mbstd = MinibatchStd(group, mbstd_num_channels) if mbstd_num_channels > 0 else None
        self.conv = Conv2dLayer(
            channels + mbstd_num_channels, channels, 3, activation=activation, conv_clamp=conv_clamp
        )
        self.fc = FullyConnectedLayer(channels * 16, channels, activation=activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mbstd is not None:
            x = self.mbstd(x)
        return self.fc(self.conv(x).flatten(1))


class ReferenceTrunk(nn.Module):
    """Images [N, C, R, R] -> h [N, C_4]."""

    def __init__(
        self,
        img_resolution: int,
        img_channels: int,
        channels: dict[int, int],
        num_fp16_res: int,
        block_kwargs: dict[str, Any],
        epilogue_kwargs: dict[str, Any],
    ) -> None:
        super().__init__()
        self.img_resolution, self.img_channels = img_resolution, img_channels
        self.block_resolutions = sorted((r for r in channels if r > 4), reverse=True)
        fp16_resolution = max(2 ** (int(math.log2(img_resolution)) + 1 - num_fp16_res), 8)
        for res in self.block_resolutions:
            in_ch = channels[res] if res < img_resolution else 0
            block = DiscriminatorBlock(
                in_ch,
                channels[res],
                channels[res // 2],
                res,
                img_channels,
                use_fp16=res >= fp16_resolution,
                **block_kwargs,
            )
            setattr(self, f"b{res}", block)
        self.b4 = Epilogue(channels[4], **epilogue_kwargs)
        self.feat_dim = channels[4]

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        x = None
        img = img.float()
        for res in self.block_resolutions:
            x = getattr(self, f"b{res}")(x, img)
        assert_shape(x, [img.shape[0], self.feat_dim, 4, 4], "D epilogue input")
        return self.b4(x)


class ReferenceAdvHead(nn.Module):
    """h -> adversarial logit [N]: NVIDIA's ``out`` FC, projected on ``cmap(c)`` when conditional."""

    def __init__(self, feat_dim: int, c_dim: int, cmap_dim: int, mapping_kwargs: dict[str, Any]) -> None:
        super().__init__()
        self.c_dim, self.cmap_dim = c_dim, cmap_dim
        self.out = FullyConnectedLayer(feat_dim, cmap_dim if c_dim > 0 else 1)
        if c_dim > 0:
            self.mapping = MappingNetwork(0, c_dim, cmap_dim, num_ws=None, w_avg_beta=None, **mapping_kwargs)

    def forward(self, h: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        x = self.out(h.float())
        if self.c_dim == 0:
            return x.squeeze(1)
        cmap = self.mapping(None, labels_to_onehot(c, self.c_dim, h.shape[0], h.device))
        return (x * cmap).sum(dim=1) * (1 / math.sqrt(self.cmap_dim))


class StyleGAN2RefDiscriminator(DiscriminatorBase):
    """NVIDIA's StyleGAN2 'resnet' discriminator; ``forward(img, c)`` gives NVIDIA's ``D(img, c)[:, 0]``.

    Arguments are NVIDIA's (``block_kwargs`` / ``epilogue_kwargs`` / ``mapping_kwargs`` flattened),
    plus ``channels`` (an explicit {resolution: channels} table). ``mbstd_group_size`` falls back
    to the largest divisor of the batch when the batch is not a multiple of it.
    """

    kind: ClassVar[str] = "stylegan2-ref"

    def __init__(
        self,
        c_dim: int = 0,
        img_resolution: int = 1024,
        img_channels: int = 3,
        architecture: str = "resnet",
        channel_base: int = 32768,
        channel_max: int = 512,
        channels: dict[str, int] | None = None,
        num_fp16_res: int = 0,
        conv_clamp: float | None = None,
        cmap_dim: int | None = None,
        activation: str = "lrelu",
        resample_filter: list[float] | None = None,
        mbstd_group_size: int | None = 4,
        mbstd_num_channels: int = 1,
        mapping_layers: int = 8,
        mapping_lr_multiplier: float = 0.01,
        mapping_activation: str = "lrelu",
        embed_features: int | None = None,
        layer_features: int | None = None,
    ) -> None:
        super().__init__()
        if architecture != "resnet":
            raise OptionsError(
                f"stylegan2-ref discriminator: architecture {architecture!r} is not supported (only "
                "'resnet', what every NVIDIA StyleGAN2 config uses)"
            )
        resample_filter = [1, 3, 3, 1] if resample_filter is None else resample_filter
        self.img_resolution, self.img_channels, self.c_dim = int(img_resolution), int(img_channels), int(c_dim)
        if self.img_resolution < 8:
            raise OptionsError(f"stylegan2-ref discriminator: resolution must be >= 8, got {img_resolution}")
        table = channel_table(self.img_resolution, int(channel_base), int(channel_max), channels)
        cmap = table[4] if cmap_dim is None else int(cmap_dim)
        self.trunk = ReferenceTrunk(
            self.img_resolution,
            self.img_channels,
            table,
            int(num_fp16_res),
            block_kwargs=dict(activation=activation, resample_filter=resample_filter, conv_clamp=conv_clamp),
            epilogue_kwargs=dict(
                activation=activation,
                conv_clamp=conv_clamp,
                mbstd_group_size=mbstd_group_size,
                mbstd_num_channels=int(mbstd_num_channels),
            ),
        )
        self.feat_dim = self.trunk.feat_dim
        mapping_kwargs = dict(
            num_layers=int(mapping_layers),
            embed_features=embed_features,
            layer_features=layer_features,
            activation=mapping_activation,
            lr_multiplier=float(mapping_lr_multiplier),
        )
        self._init_heads(equalized=True)  # the base's head bookkeeping; NVIDIA's adv head replaces its default
        self.heads[ADV] = ReferenceAdvHead(self.feat_dim, self.c_dim, cmap, mapping_kwargs)
        self._config = dict(
            c_dim=self.c_dim,
            img_resolution=self.img_resolution,
            img_channels=self.img_channels,
            architecture=architecture,
            channel_base=int(channel_base),
            channel_max=int(channel_max),
            channels=None if channels is None else {str(r): c for r, c in table.items()},
            num_fp16_res=int(num_fp16_res),
            conv_clamp=None if conv_clamp is None else float(conv_clamp),
            cmap_dim=None if cmap_dim is None else int(cmap_dim),
            activation=activation,
            resample_filter=torch.as_tensor(resample_filter, dtype=torch.float32).tolist(),
            mbstd_group_size=None if mbstd_group_size is None else int(mbstd_group_size),
            mbstd_num_channels=int(mbstd_num_channels),
            mapping_layers=int(mapping_layers),
            mapping_lr_multiplier=float(mapping_lr_multiplier),
            mapping_activation=mapping_activation,
            embed_features=embed_features,
            layer_features=layer_features,
        )
