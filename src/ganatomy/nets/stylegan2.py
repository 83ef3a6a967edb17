"""A compact StyleGAN2 generator (Karras et al. 2020), written for CPUs first.

Layout (per ``research/training-methods.md`` section 3): a latent prior (mapping network by
default) gives w; w is broadcast to ``num_ws`` rows (W+), optionally mixed with a second w and
truncated; the synthesis network starts from a learned 4x4 constant and, per resolution, runs
an upsampling modulated 3x3 conv, a modulated 3x3 conv and a 1x1 ToRGB whose outputs are
upsampled and summed ("skip" architecture). Every conv layer adds per-pixel noise with a learned
strength (initially 0), a bias and lrelu.

Upsampling convs (``up_mode``): ``"transposed"`` is NVIDIA's form (stride-2 transposed 3x3 conv,
then the [1,3,3,1] FIR filter) and what the presets use; ``"bilinear"`` (bilinear x2, then a 3x3
conv at the higher resolution; 1.78x the multiply-adds: 190 against 107 MFLOP per cpu32 image) is kept for
networks trained before, whose configs do not name a mode. Other simplifications against NVIDIA's
code, all fine at 32-64 px: the skip path's image is upsampled bilinearly; no conv clamping (bf16
has float32's range); style mixing draws its cutoff per sample (not per batch).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
from torch import nn

from ganatomy.errors import OptionsError
from ganatomy.nets._checks import assert_shape, check_input
from ganatomy.nets.layers import UP_MODES, EqualLinear, lrelu, modulated_conv2d, upsample2x
from ganatomy.nets.mapping import LatentPrior, build_prior, prior_spec
from ganatomy.nets.noise import check_noise_mode, noise_input
from ganatomy.nets.protocol import labels_to_onehot
from ganatomy.nets.styled import StyledGenerator


def channels_at(res: int, channel_base: int, channel_max: int) -> int:
    """Feature maps at resolution ``res``: min(channel_base / res, channel_max)."""
    return int(min(channel_base // res, channel_max))


class _Affine(EqualLinear):
    """w -> style, bias initialised to 1 (so styles start near 1), always in float32."""

    def __init__(self, w_dim: int, channels: int) -> None:
        super().__init__(w_dim, channels, bias_init=1.0)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type=w.device.type, enabled=False):
            return super().forward(w.float())


class SynthesisLayer(nn.Module):
    """Modulated 3x3 conv (+ optional x2 upsampling) with demodulation, noise, bias and lrelu."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        w_dim: int,
        resolution: int,
        up: bool = False,
        up_mode: str = "bilinear",
    ) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.resolution, self.up = in_channels, out_channels, resolution, up
        self.up_mode = up_mode
        self.affine = _Affine(w_dim, in_channels)
        # Stored N(0,1); demodulation makes the run-time scale of the weight irrelevant.
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 3, 3))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.noise_strength = nn.Parameter(torch.zeros([]))
        self.register_buffer("noise_const", torch.randn(resolution, resolution))

    def forward(
        self, x: torch.Tensor, w: torch.Tensor, noise_mode: str = "random", fused: bool = False
    ) -> torch.Tensor:
        in_res = self.resolution // 2 if self.up else self.resolution
        assert_shape(x, [None, self.in_channels, in_res, in_res], "SynthesisLayer input")
        styles = self.affine(w)
        y = modulated_conv2d(x, self.weight, styles, demodulate=True, up=self.up, fused=fused, up_mode=self.up_mode)
        noise = noise_input(noise_mode, y.shape[0], self.noise_const, y.device, y.dtype)
        if noise is not None:
            y = y + noise * self.noise_strength.to(y.dtype)
        y = lrelu(y + self.bias.to(y.dtype).reshape(1, -1, 1, 1))
        assert_shape(y, [x.shape[0], self.out_channels, self.resolution, self.resolution], "SynthesisLayer output")
        return y

    def extra_repr(self) -> str:
        up = f", up={self.up_mode}" if self.up else ""
        return f"{self.in_channels}, {self.out_channels}, resolution={self.resolution}{up}"


class ToRGB(nn.Module):
    """Modulated 1x1 conv without demodulation; the style carries the equalized-lr gain."""

    def __init__(self, in_channels: int, img_channels: int, w_dim: int) -> None:
        super().__init__()
        self.in_channels, self.img_channels = in_channels, img_channels
        self.affine = _Affine(w_dim, in_channels)
        self.weight = nn.Parameter(torch.randn(img_channels, in_channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros(img_channels))
        self.weight_gain = 1.0 / math.sqrt(in_channels)

    def forward(self, x: torch.Tensor, w: torch.Tensor, fused: bool = False) -> torch.Tensor:
        styles = self.affine(w) * self.weight_gain
        y = modulated_conv2d(x, self.weight, styles, demodulate=False, fused=fused)
        return y + self.bias.to(y.dtype).reshape(1, -1, 1, 1)


class SynthesisBlock(nn.Module):
    """One resolution: (constant | upsampling conv0), conv1, ToRGB; adds to the upsampled image."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        w_dim: int,
        resolution: int,
        img_channels: int,
        up_mode: str = "bilinear",
    ) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.resolution = in_channels, out_channels, resolution
        self.is_first = in_channels == 0
        if self.is_first:
            self.const = nn.Parameter(torch.randn(out_channels, resolution, resolution))
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, w_dim, resolution, up=True, up_mode=up_mode)
        self.conv1 = SynthesisLayer(out_channels, out_channels, w_dim, resolution)
        self.torgb = ToRGB(out_channels, img_channels, w_dim)
        self.num_conv = 1 if self.is_first else 2
        self.num_ws = self.num_conv + 1  # the ToRGB's w is also the next block's first

    def forward(
        self, x: torch.Tensor | None, img: torch.Tensor | None, ws: torch.Tensor, noise_mode: str, fused: bool
    ) -> tuple[torch.Tensor, torch.Tensor]:
        n = ws.shape[0]
        assert_shape(ws, [n, self.num_ws, None], "block ws")
        if self.is_first:
            x = self.const.unsqueeze(0).expand(n, -1, -1, -1)
            x = self.conv1(x, ws[:, 0], noise_mode, fused)
        else:
            x = self.conv0(x, ws[:, 0], noise_mode, fused)
            x = self.conv1(x, ws[:, 1], noise_mode, fused)
        y = self.torgb(x, ws[:, -1], fused)
        img = y if img is None else upsample2x(img).to(y.dtype) + y
        return x, img

    def layers(self) -> list[tuple[str, SynthesisLayer | ToRGB]]:
        """(name, layer) in the order of the block's ws rows, as ``forward`` consumes them."""
        convs = [("conv1", self.conv1)] if self.is_first else [("conv0", self.conv0), ("conv1", self.conv1)]
        return [*convs, ("torgb", self.torgb)]


class SynthesisNetwork(nn.Module):
    """ws [N, num_ws, w_dim] (or w [N, w_dim], broadcast) -> images [N, C, R, R]."""

    def __init__(
        self,
        w_dim: int,
        img_resolution: int,
        img_channels: int = 3,
        channel_base: int = 2048,
        channel_max: int = 256,
        fused_modconv: bool = False,
        up_mode: str = "bilinear",
    ) -> None:
        super().__init__()
        log2 = int(math.log2(img_resolution))
        if img_resolution < 8 or 2**log2 != img_resolution:
            raise OptionsError(f"stylegan2: resolution must be a power of two >= 8, got {img_resolution}")
        if up_mode not in UP_MODES:
            raise OptionsError(f"stylegan2: up_mode must be one of {', '.join(UP_MODES)}, got {up_mode!r}")
        self.w_dim, self.img_resolution, self.img_channels = w_dim, img_resolution, img_channels
        self.fused_modconv = fused_modconv
        self.block_resolutions = [2**i for i in range(2, log2 + 1)]
        self.channels = {r: channels_at(r, channel_base, channel_max) for r in self.block_resolutions}
        self.num_ws = 0
        for r in self.block_resolutions:
            in_ch = 0 if r == 4 else self.channels[r // 2]
            block = SynthesisBlock(in_ch, self.channels[r], w_dim, r, img_channels, up_mode)
            setattr(self, f"b{r}", block)
            self.num_ws += block.num_conv
        self.num_ws += 1  # the last ToRGB

    def blocks(self) -> list[SynthesisBlock]:
        return [getattr(self, f"b{r}") for r in self.block_resolutions]

    def layers(self) -> list[tuple[str, int, SynthesisLayer | ToRGB]]:
        """(name ``b{res}.{conv0|conv1|torgb}``, W+ row, layer) of every modulated layer, in forward order.

        Rows follow ``forward``: a block reads ``num_ws`` rows from ``w_idx`` and moves on by
        ``num_conv``, so its ToRGB shares its row with the next block's first conv.
        """
        out = []
        w_idx = 0
        for block in self.blocks():
            out += [(f"b{block.resolution}.{name}", w_idx + j, layer) for j, (name, layer) in enumerate(block.layers())]
            w_idx += block.num_conv
        return out

    def forward(self, ws: torch.Tensor, noise_mode: str = "random", fused_modconv: bool | None = None) -> torch.Tensor:
        check_noise_mode(noise_mode)
        if ws.ndim == 2:
            check_input(ws, [None, self.w_dim], "w")
            ws = ws.unsqueeze(1).expand(-1, self.num_ws, -1)
        check_input(ws, [None, self.num_ws, self.w_dim], "ws")
        fused = self.fused_modconv if fused_modconv is None else fused_modconv
        x = img = None
        w_idx = 0
        for block in self.blocks():
            x, img = block(x, img, ws.narrow(1, w_idx, block.num_ws), noise_mode, fused)
            w_idx += block.num_conv
        assert_shape(img, [ws.shape[0], self.img_channels, self.img_resolution, self.img_resolution], "image")
        return img


class StyleGAN2Generator(StyledGenerator):
    """Latent prior + synthesis network; implements the generator protocol for Z, W and W+.

    ``prior`` is ``{"kind": "mapping", "num_layers": 2, "lr_mul": 0.01}`` by default; a gene-bank
    prior is named the same way. ``fused_modconv=True`` selects the grouped-conv reference form.
    """

    kind: ClassVar[str] = "stylegan2"

    def __init__(
        self,
        img_resolution: int = 32,
        img_channels: int = 3,
        z_dim: int = 128,
        w_dim: int = 128,
        c_dim: int = 0,
        channel_base: int = 2048,
        channel_max: int = 256,
        prior: dict[str, Any] | None = None,
        w_avg_beta: float = 0.995,
        fused_modconv: bool = False,
        up_mode: str = "bilinear",
    ) -> None:
        super().__init__()
        prior = dict(prior) if prior is not None else {"kind": "mapping", "num_layers": 2, "lr_mul": 0.01}
        self.z_dim, self.w_dim, self.c_dim = int(z_dim), int(w_dim), int(c_dim)
        self.img_resolution, self.img_channels = int(img_resolution), int(img_channels)
        self.prior: LatentPrior = build_prior(prior, self.z_dim, self.w_dim, self.c_dim, w_avg_beta)
        self.synthesis = SynthesisNetwork(
            self.w_dim, self.img_resolution, self.img_channels, channel_base, channel_max, fused_modconv, up_mode
        )
        self.num_ws = self.synthesis.num_ws
        self._config = dict(
            img_resolution=self.img_resolution,
            img_channels=self.img_channels,
            z_dim=self.z_dim,
            w_dim=self.w_dim,
            c_dim=self.c_dim,
            channel_base=int(channel_base),
            channel_max=int(channel_max),
            prior=prior_spec(self.prior),
            w_avg_beta=float(w_avg_beta),
            fused_modconv=bool(fused_modconv),
            up_mode=str(up_mode),
        )

    @property
    def w_avg(self) -> torch.Tensor:
        """The running mean of w (a buffer of the prior), the centre of truncation."""
        return self.prior.w_avg

    @property
    def z_discrete(self) -> bool:
        """What the prior says: True for a discrete prior (gene-bank indices), False for the mapping network's z."""
        return self.prior.z_discrete

    def _sample_z(self, n: int, generator: torch.Generator | None) -> torch.Tensor:
        return self.prior.sample_z(n, generator)

    # ------------------------------------------------------------------ mapping
    def mapping(
        self,
        z: torch.Tensor,
        c: torch.Tensor | None = None,
        truncation_psi: float = 1.0,
        truncation_cutoff: int | None = None,
        mixing_prob: float = 0.0,
        generator: torch.Generator | None = None,
        update_w_avg: bool = False,
    ) -> torch.Tensor:
        """z (+ labels) -> ws [N, num_ws, w_dim].

        ``update_w_avg`` moves w_avg towards this batch's mean w (training only). With
        ``mixing_prob`` > 0 each sample, with that probability, takes a second w (from a fresh z
        of the prior, same label) for the rows at and after a cutoff drawn uniformly from
        [1, num_ws); z2, cutoffs and coin flips come from ``generator`` in that order.
        Truncation (towards w_avg, for the first ``truncation_cutoff`` rows) comes last.
        """
        n = z.shape[0]
        c = labels_to_onehot(c, self.c_dim, n, z.device)
        w = self.prior(z, c)
        if update_w_avg:
            self.prior.update_w_avg(w)
        ws = w.unsqueeze(1).repeat(1, self.num_ws, 1)
        if mixing_prob > 0:
            ws = self._mix(ws, c, mixing_prob, generator)
        return self.prior.truncate(ws, truncation_psi, truncation_cutoff)

    def _mix(
        self, ws: torch.Tensor, c: torch.Tensor | None, prob: float, generator: torch.Generator | None
    ) -> torch.Tensor:
        n, device = ws.shape[0], ws.device
        z2 = self.prior.sample_z(n, generator).to(device)
        w2 = self.prior(z2, c)
        cutoff = torch.randint(1, self.num_ws, (n,), generator=generator)
        mix = torch.rand(n, generator=generator) < prob
        cutoff = torch.where(mix, cutoff, torch.full_like(cutoff, self.num_ws)).to(device)
        use_w2 = torch.arange(self.num_ws, device=device).unsqueeze(0) >= cutoff.unsqueeze(1)  # [N, num_ws]
        return torch.where(use_w2.unsqueeze(2), w2.unsqueeze(1).to(ws.dtype), ws)

    # ------------------------------------------------------------------ protocol
