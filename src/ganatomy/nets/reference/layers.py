"""Layers of the faithful StyleGAN2 (Karras et al. 2020, as NVIDIA's stylegan2-ada-pytorch defines them).

Parameter names, shapes and stored scales follow NVIDIA's networks, so a state dict of theirs
loads as it is (``ganatomy.nets.importers``):

- ``FullyConnectedLayer``: weight stored N(0, 1) / lr_multiplier, applied times
  lr_multiplier / sqrt(fan_in); bias applied times lr_multiplier.
- ``Conv2dLayer``: weight applied times 1 / sqrt(fan_in); bias, activation with its gain, an
  optional clamp; FIR up/downsampling with its own stored filter.
- ``modulated_conv2d``: per-sample weights from styles, demodulated, in the fused (one grouped
  convolution) or the non-fused form (scale the activations before and after one shared
  convolution; what NVIDIA trains with, and faster on CPUs).

Everything runs in float32: layers that NVIDIA runs in float16 on a GPU (``num_fp16_res``)
give float32 results here, as NVIDIA's own code does on a CPU.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ganatomy.errors import OptionsError
from ganatomy.nets._checks import check_input
from ganatomy.nets.layers import demodulation_coefficients
from ganatomy.nets.protocol import labels_to_onehot
from ganatomy.nets.reference.upfirdn import conv2d_resample, setup_filter

_SQRT2 = math.sqrt(2.0)

# name -> (function, default gain): the gain that keeps unit variance through the activation.
ACTIVATIONS: dict[str, tuple[Callable[[torch.Tensor], torch.Tensor], float]] = {
    "linear": (lambda x: x, 1.0),
    "relu": (F.relu, _SQRT2),
    "lrelu": (lambda x: F.leaky_relu(x, 0.2), _SQRT2),
    "tanh": (torch.tanh, 1.0),
    "sigmoid": (torch.sigmoid, 1.0),
    "elu": (F.elu, 1.0),
    "selu": (F.selu, 1.0),
    "softplus": (F.softplus, 1.0),
    "swish": (lambda x: x * torch.sigmoid(x), _SQRT2),
}


def check_activation(name: str) -> str:
    if name not in ACTIVATIONS:
        raise OptionsError(f"unknown activation {name!r}; known: {', '.join(ACTIVATIONS)}")
    return name


def bias_act(
    x: torch.Tensor,
    bias: torch.Tensor | None,
    activation: str = "linear",
    gain: float | None = None,
    clamp: float | None = None,
) -> torch.Tensor:
    """Add a per-channel bias (dim 1), activate, multiply by ``gain`` (default: the activation's), clamp."""
    fn, default_gain = ACTIVATIONS[activation]
    if bias is not None:
        x = x + bias.to(x.dtype).reshape([-1 if i == 1 else 1 for i in range(x.ndim)])
    x = fn(x)
    gain = default_gain if gain is None else gain
    if gain != 1:
        x = x * gain
    if clamp is not None and clamp >= 0:
        x = x.clamp(-clamp, clamp)
    return x


def normalize_2nd_moment(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Scale each row to unit mean square (the mapping network's input normalisation)."""
    return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()


class FullyConnectedLayer(nn.Module):
    """Equalized-lr linear layer; ``bias_init`` is the stored (and, with lr 1, the effective) bias."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        activation: str = "linear",
        lr_multiplier: float = 1.0,
        bias_init: float = 0.0,
    ) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.activation = check_activation(activation)
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_multiplier)
        self.bias = nn.Parameter(torch.full([out_features], float(bias_init))) if bias else None
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight.to(x.dtype) * self.weight_gain
        b = None if self.bias is None else self.bias.to(x.dtype) * self.bias_gain
        if self.activation == "linear":
            return F.linear(x, w, b)
        return bias_act(x.matmul(w.t()), b, self.activation)

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}, activation={self.activation}"


class Conv2dLayer(nn.Module):
    """Equalized-lr convolution with optional FIR up/downsampling, bias, activation and clamp."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        bias: bool = True,
        activation: str = "linear",
        up: int = 1,
        down: int = 1,
        resample_filter: Sequence[float] | None = (1, 3, 3, 1),
        conv_clamp: float | None = None,
    ) -> None:
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.activation, self.up, self.down = check_activation(activation), up, down
        self.conv_clamp, self.padding = conv_clamp, kernel_size // 2
        self.weight_gain = 1.0 / math.sqrt(in_channels * kernel_size * kernel_size)
        self.act_gain = ACTIVATIONS[activation][1]
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        if up > 1 or down > 1:  # only resampling layers read a filter
            self.register_buffer("resample_filter", setup_filter(resample_filter))
        else:
            self.resample_filter = None

    def forward(self, x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        w = (self.weight * self.weight_gain).to(x.dtype)
        x = conv2d_resample(x, w, self.resample_filter, up=self.up, down=self.down, padding=self.padding)
        clamp = None if self.conv_clamp is None else self.conv_clamp * gain
        return bias_act(x, self.bias, self.activation, gain=self.act_gain * gain, clamp=clamp)

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, up={self.up}, down={self.down}, activation={self.activation}"


def modulated_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    styles: torch.Tensor,
    noise: torch.Tensor | None = None,
    up: int = 1,
    padding: int = 0,
    resample_filter: torch.Tensor | None = None,
    demodulate: bool = True,
    fused: bool = False,
) -> torch.Tensor:
    """Convolve sample n of ``x`` [N, I, H, W] with weight[o, i] * styles[n, i] (demodulated:
    times d[n, o] = 1 / ||weight[o] * styles[n]||), then add ``noise``.

    ``fused=True`` builds the per-sample weights and runs one grouped convolution;
    ``fused=False`` computes conv(x * styles) * d with the shared weight. The two agree to
    float32 rounding.
    """
    n, in_ch = x.shape[0], x.shape[1]
    out_ch, _, kh, kw = weight.shape
    if not fused:
        x = x * styles.to(x.dtype).reshape(n, in_ch, 1, 1)
        x = conv2d_resample(x, weight.to(x.dtype), resample_filter, up=up, padding=padding)
        if demodulate:
            dcoefs = demodulation_coefficients(weight, styles).to(x.dtype).reshape(n, out_ch, 1, 1)
            return x * dcoefs if noise is None else torch.addcmul(noise.to(x.dtype), x, dcoefs)
        return x if noise is None else x + noise.to(x.dtype)
    w = weight.unsqueeze(0) * styles.reshape(n, 1, in_ch, 1, 1)  # [N, O, I, k, k]
    if demodulate:
        w = w * (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt().reshape(n, out_ch, 1, 1, 1)
    x = x.reshape(1, n * in_ch, *x.shape[2:])
    x = conv2d_resample(
        x, w.reshape(n * out_ch, in_ch, kh, kw).to(x.dtype), resample_filter, up=up, padding=padding, groups=n
    )
    x = x.reshape(n, out_ch, *x.shape[2:])
    return x if noise is None else x + noise.to(x.dtype)


class MappingNetwork(nn.Module):
    """z (normalised) and the embedded label (normalised), concatenated, through ``num_layers`` FCs.

    With ``num_ws`` (G's mapping) the output is broadcast to ws [N, num_ws, w_dim], style-mixed
    and truncated towards the tracked ``w_avg``, as NVIDIA's ``G.mapping``; without (D's label
    mapping, ``z_dim=0``) it is w [N, w_dim], the projection vector of the labels.
    """

    def __init__(
        self,
        z_dim: int,
        c_dim: int,
        w_dim: int,
        num_ws: int | None,
        num_layers: int = 8,
        embed_features: int | None = None,
        layer_features: int | None = None,
        activation: str = "lrelu",
        lr_multiplier: float = 0.01,
        w_avg_beta: float | None = 0.995,
    ) -> None:
        super().__init__()
        if z_dim + c_dim == 0:
            raise OptionsError("mapping network: needs z_dim > 0 or c_dim > 0")
        self.z_dim, self.c_dim, self.w_dim, self.num_ws, self.num_layers = z_dim, c_dim, w_dim, num_ws, num_layers
        self.w_avg_beta = w_avg_beta
        embed_features = (w_dim if embed_features is None else embed_features) if c_dim > 0 else 0
        layer_features = w_dim if layer_features is None else layer_features
        features = [z_dim + embed_features] + [layer_features] * (num_layers - 1) + [w_dim]
        if c_dim > 0:
            self.embed = FullyConnectedLayer(c_dim, embed_features)
        for i in range(num_layers):
            layer = FullyConnectedLayer(
                features[i], features[i + 1], activation=activation, lr_multiplier=lr_multiplier
            )
            setattr(self, f"fc{i}", layer)
        if num_ws is not None and w_avg_beta is not None:
            self.register_buffer("w_avg", torch.zeros(w_dim))

    def embed_and_map(self, z: torch.Tensor | None, c: torch.Tensor | None) -> torch.Tensor:
        """w [N, w_dim] of z and one-hot (or soft) label rows c, in float32 even under autocast (as the
        compact mapping network: w_avg's small updates would round away in bf16)."""
        with torch.autocast(device_type=self.fc0.weight.device.type, enabled=False):
            return self._embed_and_map(z, c)

    def _embed_and_map(self, z: torch.Tensor | None, c: torch.Tensor | None) -> torch.Tensor:
        parts = []
        if self.z_dim > 0:
            parts.append(normalize_2nd_moment(z.float()))
        if self.c_dim > 0:
            parts.append(normalize_2nd_moment(self.embed(c.float())))
        x = torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]
        for i in range(self.num_layers):
            x = getattr(self, f"fc{i}")(x)
        return x

    def forward(
        self,
        z: torch.Tensor | None,
        c: torch.Tensor | None = None,
        truncation_psi: float = 1.0,
        truncation_cutoff: int | None = None,
        mixing_prob: float = 0.0,
        generator: torch.Generator | None = None,
        update_w_avg: bool = False,
    ) -> torch.Tensor:
        """ws [N, num_ws, w_dim] (w [N, w_dim] without ``num_ws``); labels as one-hot rows or indices.

        ``update_w_avg`` moves w_avg towards the batch mean (training). With ``mixing_prob`` > 0 a
        sample takes, with that probability, the w of a fresh z (same label) from a cutoff row
        drawn from [1, num_ws) on; z2, cutoffs and coin flips come from ``generator`` in that order.
        Truncation comes last.
        """
        if self.z_dim > 0:
            check_input(z, [None, self.z_dim], "z")
        n = z.shape[0] if self.z_dim > 0 else len(c)
        device = self.fc0.weight.device
        c = labels_to_onehot(c, self.c_dim, n, device)
        w = self.embed_and_map(z, c)
        if update_w_avg and hasattr(self, "w_avg"):
            self.w_avg.copy_(w.detach().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))
        if self.num_ws is None:
            return w
        ws = w.unsqueeze(1).repeat(1, self.num_ws, 1)
        if mixing_prob > 0:
            ws = self._mix(ws, c, mixing_prob, generator)
        return self.truncate(ws, truncation_psi, truncation_cutoff)

    def _mix(
        self, ws: torch.Tensor, c: torch.Tensor | None, prob: float, generator: torch.Generator | None
    ) -> torch.Tensor:
        n, device = ws.shape[0], ws.device
        w2 = self.embed_and_map(torch.randn(n, self.z_dim, generator=generator).to(device), c)
        cutoff = torch.randint(1, self.num_ws, (n,), generator=generator)
        mix = torch.rand(n, generator=generator) < prob
        cutoff = torch.where(mix, cutoff, torch.full_like(cutoff, self.num_ws)).to(device)
        use_w2 = torch.arange(self.num_ws, device=device)[None, :] >= cutoff[:, None]  # [N, num_ws]
        return torch.where(use_w2[:, :, None], w2[:, None], ws)

    def truncate(self, ws: torch.Tensor, psi: float = 1.0, cutoff: int | None = None) -> torch.Tensor:
        """``w_avg + psi * (ws - w_avg)`` on rows [0, cutoff) (all rows by default)."""
        if psi == 1:
            return ws
        if not hasattr(self, "w_avg"):
            raise OptionsError("truncation needs w_avg, which this mapping network does not track")
        rows = ws.shape[1] if cutoff is None else int(cutoff)
        return torch.cat([self.w_avg.lerp(ws[:, :rows], psi), ws[:, rows:]], dim=1)
