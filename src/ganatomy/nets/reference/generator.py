"""The faithful StyleGAN2 generator: NVIDIA's architecture, op for op, behind ganatomy's protocol.

Unlike the compact ``stylegan2`` kind (bilinear resampling, written for CPU training), this one
reproduces NVIDIA's stylegan2-ada-pytorch / stylegan3 ``--cfg=stylegan2`` generator exactly, so
that users' pretrained weights load into it (``ganatomy.nets.importers``):

- mapping: z and the label embedding, each normalised to unit mean square, concatenated,
  ``mapping_layers`` FCs with lr multiplier 0.01; ``w_avg`` tracked with ``w_avg_beta``;
  truncation ``w_avg + psi * (w - w_avg)`` on the first ``truncation_cutoff`` rows (all by default);
- synthesis (``architecture='skip'``): a learned 4x4 constant; per resolution an upsampling
  modulated 3x3 conv (transposed conv with stride 2, then the stored FIR filter), a modulated 3x3
  conv, each adding ``noise_const * noise_strength`` ('const'), fresh noise ('random') or none,
  then bias, lrelu with gain sqrt(2) and the optional clamp; a modulated 1x1 ToRGB whose output
  is added to the FIR-upsampled image of the block before.

State dict keys equal NVIDIA's G (``mapping.fc0.weight``, ``synthesis.b8.conv0.noise_const``, ...),
minus the filter buffers NVIDIA stores but never reads (``synthesis.b4.resample_filter`` and every
``conv1.resample_filter``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import torch
from torch import nn

from ganatomy.errors import OptionsError
from ganatomy.nets._checks import assert_shape, check_input
from ganatomy.nets.noise import check_noise_mode, noise_input
from ganatomy.nets.reference.layers import (
    ACTIVATIONS,
    FullyConnectedLayer,
    MappingNetwork,
    bias_act,
    check_activation,
    modulated_conv2d,
)
from ganatomy.nets.reference.upfirdn import setup_filter, upsample2d
from ganatomy.nets.styled import StyledGenerator


def channel_table(
    img_resolution: int, channel_base: int, channel_max: int, channels: Mapping[str | int, int] | None = None
) -> dict[int, int]:
    """Channels per resolution 4..img_resolution: ``channels`` if given (keys may be strings, as in
    JSON), else min(channel_base // res, channel_max)."""
    log2 = int(math.log2(img_resolution)) if img_resolution > 0 else 0
    if img_resolution < 4 or 2**log2 != img_resolution:
        raise OptionsError(f"stylegan2-ref: resolution must be a power of two >= 4, got {img_resolution}")
    resolutions = [2**i for i in range(2, log2 + 1)]
    if channels is None:
        return {r: int(min(channel_base // r, channel_max)) for r in resolutions}
    table = {int(k): int(v) for k, v in channels.items()}
    missing = [r for r in resolutions if r not in table]
    if missing:
        raise OptionsError(f"stylegan2-ref: channels has no entry for resolution {missing[0]}")
    return {r: table[r] for r in resolutions}


def channel_config(
    channels: Mapping[int, int], img_resolution: int, channel_base: int = 32768, channel_max: int = 512
) -> dict[str, Any]:
    """Constructor kwargs that give these widths: ``channel_base`` / ``channel_max`` (the given ones,
    else a pair fitted to the widths) when they do, else the explicit ``channels`` table."""
    channels = {int(r): int(c) for r, c in sorted(channels.items())}
    # The widest layer is at 4x4; the first narrower one fixes channel_base (all equal: any base will do).
    widest = max(channels.values())
    narrower = [(r, c) for r, c in channels.items() if c < widest]
    fitted = (narrower[0][0] * narrower[0][1], widest) if narrower else (widest * img_resolution, widest)
    for base, cmax in ((int(channel_base), int(channel_max)), fitted):
        if channel_table(img_resolution, base, cmax) == channels:
            return dict(channel_base=base, channel_max=cmax)
    return dict(channels={str(r): c for r, c in channels.items()})


class SynthesisLayer(nn.Module):
    """Modulated 3x3 conv (``up=2``: transposed conv + FIR filter), noise, bias, activation, clamp."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        w_dim: int,
        resolution: int,
        up: int = 1,
        kernel_size: int = 3,
        use_noise: bool = True,
        activation: str = "lrelu",
        resample_filter: Sequence[float] | None = (1, 3, 3, 1),
        conv_clamp: float | None = None,
    ) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.resolution, self.up = in_channels, out_channels, resolution, up
        self.use_noise, self.activation, self.conv_clamp = use_noise, check_activation(activation), conv_clamp
        self.padding = kernel_size // 2
        self.act_gain = ACTIVATIONS[activation][1]
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        if up > 1:
            self.register_buffer("resample_filter", setup_filter(resample_filter))
        else:
            self.resample_filter = None
        if use_noise:
            self.register_buffer("noise_const", torch.randn(resolution, resolution))
            self.noise_strength = nn.Parameter(torch.zeros([]))

    def forward(
        self, x: torch.Tensor, w: torch.Tensor, noise_mode: str = "random", fused: bool = False, gain: float = 1.0
    ) -> torch.Tensor:
        assert_shape(
            x, [None, self.in_channels, self.resolution // self.up, self.resolution // self.up], "SynthesisLayer input"
        )
        styles = self.affine(w)
        noise = None
        if self.use_noise:
            noise = noise_input(noise_mode, x.shape[0], self.noise_const, x.device, torch.float32)
            noise = None if noise is None else noise * self.noise_strength
        x = modulated_conv2d(
            x,
            self.weight,
            styles,
            noise=noise,
            up=self.up,
            padding=self.padding,
            resample_filter=self.resample_filter,
            fused=fused,
        )
        clamp = None if self.conv_clamp is None else self.conv_clamp * gain
        return bias_act(x, self.bias, self.activation, gain=self.act_gain * gain, clamp=clamp)

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, resolution={self.resolution}, up={self.up}"


class ToRGBLayer(nn.Module):
    """Modulated 1x1 conv without demodulation (the style carries 1 / sqrt(fan_in)), bias, clamp."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, conv_clamp: float | None = None) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.conv_clamp = in_channels, out_channels, conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.weight_gain = 1.0 / math.sqrt(in_channels)

    def forward(self, x: torch.Tensor, w: torch.Tensor, fused: bool = False) -> torch.Tensor:
        styles = self.affine(w) * self.weight_gain
        x = modulated_conv2d(x, self.weight, styles, demodulate=False, fused=fused)
        return bias_act(x, self.bias, clamp=self.conv_clamp)


class SynthesisBlock(nn.Module):
    """One resolution of the 'skip' synthesis: (const | conv0 up), conv1, ToRGB added to the upsampled image."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        w_dim: int,
        resolution: int,
        img_channels: int,
        resample_filter: Sequence[float] | None,
        conv_clamp: float | None,
        use_fp16: bool,
        **layer_kwargs: Any,
    ) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.resolution = in_channels, out_channels, resolution
        self.use_fp16 = use_fp16  # recorded only: every block computes in float32 (see layers.py)
        if in_channels == 0:
            self.const = nn.Parameter(torch.randn(out_channels, resolution, resolution))
        else:
            self.conv0 = SynthesisLayer(
                in_channels,
                out_channels,
                w_dim,
                resolution,
                up=2,
                resample_filter=resample_filter,
                conv_clamp=conv_clamp,
                **layer_kwargs,
            )
            # The filter that upsamples the previous block's image (the 4x4 block has none to upsample).
            self.register_buffer("resample_filter", setup_filter(resample_filter))
        self.conv1 = SynthesisLayer(
            out_channels, out_channels, w_dim, resolution, conv_clamp=conv_clamp, **layer_kwargs
        )
        self.torgb = ToRGBLayer(out_channels, img_channels, w_dim, conv_clamp=conv_clamp)
        self.num_conv = 1 if in_channels == 0 else 2
        self.num_torgb = 1

    def forward(
        self, x: torch.Tensor | None, img: torch.Tensor | None, ws: torch.Tensor, noise_mode: str, fused: bool
    ) -> tuple[torch.Tensor, torch.Tensor]:
        assert_shape(ws, [None, self.num_conv + self.num_torgb, None], "block ws")
        if self.in_channels == 0:
            x = self.const.unsqueeze(0).repeat(ws.shape[0], 1, 1, 1)
            x = self.conv1(x, ws[:, 0], noise_mode, fused)
        else:
            x = self.conv0(x, ws[:, 0], noise_mode, fused)
            x = self.conv1(x, ws[:, 1], noise_mode, fused)
        y = self.torgb(x, ws[:, -1], fused).float()
        img = y if img is None else upsample2d(img, self.resample_filter) + y
        return x, img

    def layers(self) -> list[tuple[str, nn.Module]]:
        """(name, layer) in the order of the block's ws rows."""
        convs = [("conv1", self.conv1)] if self.in_channels == 0 else [("conv0", self.conv0), ("conv1", self.conv1)]
        return [*convs, ("torgb", self.torgb)]


class SynthesisNetwork(nn.Module):
    """ws [N, num_ws, w_dim] -> images [N, img_channels, R, R] (raw, not clamped)."""

    def __init__(
        self,
        w_dim: int,
        img_resolution: int,
        img_channels: int,
        channels: dict[int, int],
        num_fp16_res: int = 0,
        resample_filter: Sequence[float] | None = (1, 3, 3, 1),
        conv_clamp: float | None = None,
        **layer_kwargs: Any,
    ) -> None:
        super().__init__()
        self.w_dim, self.img_resolution, self.img_channels = w_dim, img_resolution, img_channels
        self.block_resolutions = sorted(channels)
        log2 = int(math.log2(img_resolution))
        fp16_resolution = max(2 ** (log2 + 1 - num_fp16_res), 8)
        self.num_ws = 0
        for res in self.block_resolutions:
            in_ch = channels[res // 2] if res > 4 else 0
            block = SynthesisBlock(
                in_ch,
                channels[res],
                w_dim,
                res,
                img_channels,
                resample_filter,
                conv_clamp,
                use_fp16=res >= fp16_resolution,
                **layer_kwargs,
            )
            setattr(self, f"b{res}", block)
            self.num_ws += block.num_conv
        self.num_ws += 1  # the last block's ToRGB; every other ToRGB shares the next block's first row

    def blocks(self) -> list[SynthesisBlock]:
        return [getattr(self, f"b{r}") for r in self.block_resolutions]

    def layers(self) -> list[tuple[str, int, nn.Module]]:
        """(name ``b{res}.{conv0|conv1|torgb}``, W+ row, layer) of every modulated layer, in forward order."""
        out, w_idx = [], 0
        for block in self.blocks():
            out += [(f"b{block.resolution}.{name}", w_idx + j, layer) for j, (name, layer) in enumerate(block.layers())]
            w_idx += block.num_conv
        return out

    def forward(self, ws: torch.Tensor, noise_mode: str = "random", fused_modconv: bool = False) -> torch.Tensor:
        check_noise_mode(noise_mode)
        check_input(ws, [None, self.num_ws, self.w_dim], "ws")
        ws = ws.float()
        x = img = None
        w_idx = 0
        for block in self.blocks():
            x, img = block(x, img, ws.narrow(1, w_idx, block.num_conv + block.num_torgb), noise_mode, fused_modconv)
            w_idx += block.num_conv
        return img


class StyleGAN2RefGenerator(StyledGenerator):
    """NVIDIA's StyleGAN2 generator (mapping + 'skip' synthesis) with ganatomy's Z / W / W+ protocol.

    Constructor arguments are NVIDIA's (``mapping_kwargs`` flattened as ``mapping_*``), plus
    ``channels`` (an explicit {resolution: channels} table for files whose widths follow no
    channel_base / channel_max rule, e.g. rosinality's) and ``fused_modconv`` (the grouped-conv
    form; NVIDIA uses it in eval mode, the non-fused one in training; they agree to ~1e-5).
    """

    kind: ClassVar[str] = "stylegan2-ref"

    def __init__(
        self,
        z_dim: int = 512,
        w_dim: int = 512,
        c_dim: int = 0,
        img_resolution: int = 1024,
        img_channels: int = 3,
        mapping_layers: int = 8,
        mapping_lr_multiplier: float = 0.01,
        mapping_activation: str = "lrelu",
        embed_features: int | None = None,
        layer_features: int | None = None,
        w_avg_beta: float = 0.995,
        channel_base: int = 32768,
        channel_max: int = 512,
        channels: dict[str, int] | None = None,
        num_fp16_res: int = 0,
        conv_clamp: float | None = None,
        resample_filter: list[float] | None = None,
        use_noise: bool = True,
        activation: str = "lrelu",
        architecture: str = "skip",
        fused_modconv: bool = False,
    ) -> None:
        super().__init__()
        if architecture != "skip":
            raise OptionsError(
                f"stylegan2-ref generator: architecture {architecture!r} is not supported (only 'skip', "
                "what every NVIDIA StyleGAN2 config uses)"
            )
        resample_filter = [1, 3, 3, 1] if resample_filter is None else resample_filter
        table = channel_table(int(img_resolution), int(channel_base), int(channel_max), channels)
        self.z_dim, self.w_dim, self.c_dim = int(z_dim), int(w_dim), int(c_dim)
        self.img_resolution, self.img_channels = int(img_resolution), int(img_channels)
        self.fused_modconv = bool(fused_modconv)
        self.synthesis = SynthesisNetwork(
            self.w_dim,
            self.img_resolution,
            self.img_channels,
            table,
            num_fp16_res=int(num_fp16_res),
            resample_filter=resample_filter,
            conv_clamp=conv_clamp,
            use_noise=bool(use_noise),
            activation=activation,
        )
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(
            self.z_dim,
            self.c_dim,
            self.w_dim,
            self.num_ws,
            int(mapping_layers),
            embed_features,
            layer_features,
            activation=mapping_activation,
            lr_multiplier=float(mapping_lr_multiplier),
            w_avg_beta=float(w_avg_beta),
        )
        self._config = dict(
            z_dim=self.z_dim,
            w_dim=self.w_dim,
            c_dim=self.c_dim,
            img_resolution=self.img_resolution,
            img_channels=self.img_channels,
            mapping_layers=int(mapping_layers),
            mapping_lr_multiplier=float(mapping_lr_multiplier),
            mapping_activation=mapping_activation,
            embed_features=embed_features,
            layer_features=layer_features,
            w_avg_beta=float(w_avg_beta),
            channel_base=int(channel_base),
            channel_max=int(channel_max),
            channels=None if channels is None else {str(r): c for r, c in table.items()},
            num_fp16_res=int(num_fp16_res),
            conv_clamp=None if conv_clamp is None else float(conv_clamp),
            resample_filter=torch.as_tensor(resample_filter, dtype=torch.float32).tolist(),
            use_noise=bool(use_noise),
            activation=activation,
            architecture=architecture,
            fused_modconv=self.fused_modconv,
        )

    @property
    def w_avg(self) -> torch.Tensor:
        """The tracked mean of w, the centre of truncation."""
        return self.mapping.w_avg

    def _sample_z(self, n: int, generator: torch.Generator | None) -> torch.Tensor:
        return torch.randn(n, self.z_dim, generator=generator)

    # ------------------------------------------------------------------ protocol
    def _synthesis(self, ws: torch.Tensor, noise_mode, fused_modconv: bool | None) -> torch.Tensor:
        fused = self.fused_modconv if fused_modconv is None else bool(fused_modconv)
        return self.synthesis(ws, noise_mode=noise_mode, fused_modconv=fused)
