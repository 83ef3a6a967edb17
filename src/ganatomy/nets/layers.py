"""Building blocks shared by the StyleGAN2-style networks.

- Equalized learning rate (Karras et al. 2018): weights are stored N(0, 1) (divided by the
  learning-rate multiplier) and scaled by ``lr_mul / sqrt(fan_in)`` at run time, so Adam's
  per-parameter step is the same relative size for every layer.
- Leaky ReLU (slope 0.2) with gain sqrt(2), which keeps unit variance through the layer.
- Modulated convolution with demodulation (StyleGAN2), in two mathematically equal forms:
  the fast form (scale the activations by the style, one shared convolution, scale the output
  by the demodulation coefficient) and the "fused" reference form (one grouped convolution with
  per-sample weights), which is 2.5x slower on CPUs and kept for tests and benchmarks.
- Minibatch standard deviation (Karras et al. 2018).

All small per-channel tensors (styles, demodulation coefficients, noise, biases) are cast to
the activations' dtype before they touch them, so that under bf16 autocast the activations
stay bf16 between convolutions instead of being promoted back to float32.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ganatomy.nets._checks import assert_shape

LRELU_SLOPE = 0.2
LRELU_GAIN = math.sqrt(2.0)


def lrelu(x: torch.Tensor) -> torch.Tensor:
    """Leaky ReLU with slope 0.2 and gain sqrt(2)."""
    return F.leaky_relu(x, LRELU_SLOPE) * LRELU_GAIN


def upsample2x(x: torch.Tensor) -> torch.Tensor:
    """Bilinear x2 upsampling (stands in for StyleGAN2's FIR-filtered transposed conv at 32-64 px)."""
    return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)


UP_MODES = ("bilinear", "transposed")


def fir_blur_upsampled(y: torch.Tensor) -> torch.Tensor:
    """The [1,3,3,1] low-pass filter (gain 4) that follows StyleGAN2's stride-2 transposed conv.

    ``y`` is the transposed conv's output, 2H + 1 pixels wide; padding 1 and a valid 4x4 depthwise
    filter bring it to 2H. The gain of 4 makes up for the zeros a stride-2 transposed conv leaves.
    """
    c = y.shape[1]
    taps = torch.tensor([1.0, 3.0, 3.0, 1.0], device=y.device)
    kernel = (taps[:, None] * taps[None, :]) * (4.0 / 64.0)
    return F.conv2d(F.pad(y, (1, 1, 1, 1)), kernel.to(y.dtype).expand(c, 1, 4, 4), groups=c)


def downsample2x(x: torch.Tensor) -> torch.Tensor:
    """2x2 average pooling: a box low-pass filter and decimation in one op."""
    return F.avg_pool2d(x, 2)


class EqualLinear(nn.Module):
    """Fully connected layer with equalized learning rate and an optional lrelu."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        bias_init: float = 0.0,
        lr_mul: float = 1.0,
        activation: str = "linear",
    ) -> None:
        super().__init__()
        if activation not in ("linear", "lrelu"):
            raise ValueError(f"unknown activation {activation!r}")
        self.in_features, self.out_features, self.activation = in_features, out_features, activation
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_mul)
        # Stored divided by lr_mul so that the effective initial bias is bias_init.
        self.bias = nn.Parameter(torch.full([out_features], float(bias_init) / lr_mul)) if bias else None
        self.weight_gain = lr_mul / math.sqrt(in_features)
        self.bias_gain = lr_mul

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert_shape(x, [None, self.in_features], "EqualLinear input")
        b = self.bias * self.bias_gain if self.bias is not None else None
        x = F.linear(x, self.weight * self.weight_gain, b)
        return lrelu(x) if self.activation == "lrelu" else x

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}, activation={self.activation}"


class EqualConv2d(nn.Module):
    """Convolution with equalized learning rate; ``down=True`` halves the resolution.

    Downsampling pools *before* the convolution: the same low-pass-then-decimate idea as
    StyleGAN2's blur + strided conv, at a quarter of the cost.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        bias: bool = True,
        activation: str = "lrelu",
        down: bool = False,
    ) -> None:
        super().__init__()
        if activation not in ("linear", "lrelu"):
            raise ValueError(f"unknown activation {activation!r}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.activation, self.down, self.padding = activation, down, kernel_size // 2
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.weight_gain = 1.0 / math.sqrt(in_channels * kernel_size * kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert_shape(x, [None, self.in_channels, None, None], "EqualConv2d input")
        if self.down:
            x = downsample2x(x)
        x = F.conv2d(x, self.weight * self.weight_gain, self.bias, padding=self.padding)
        return lrelu(x) if self.activation == "lrelu" else x

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, down={self.down}, activation={self.activation}"


def demodulation_coefficients(weight: torch.Tensor, styles: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """d[n, o] = 1 / sqrt(sum_{i,kh,kw} (weight[o, i, kh, kw] * styles[n, i])^2 + eps), in float32.

    Summing the kernel first turns this into one [N, I] x [I, O] product. It runs outside
    autocast: a bf16 sum of thousands of squares would lose the precision that demodulation
    is there to provide.
    """
    with torch.autocast(device_type=styles.device.type, enabled=False):
        w2 = weight.float().square().sum(dim=[2, 3])  # [O, I]
        return (styles.float().square() @ w2.t() + eps).rsqrt()


def modulated_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    styles: torch.Tensor,
    demodulate: bool = True,
    up: bool = False,
    fused: bool = False,
    up_mode: str = "bilinear",
) -> torch.Tensor:
    """StyleGAN2's modulated convolution of ``x`` [N, I, H, W] with ``weight`` [O, I, k, k].

    The weight is modulated per sample, w'[n,o,i] = weight[o,i] * styles[n,i], optionally
    demodulated, w''[n,o,i] = w'[n,o,i] * d[n,o], and convolved with sample n ('same' padding).
    ``up`` doubles the resolution: ``up_mode="bilinear"`` upsamples bilinearly, then convolves at
    the higher resolution; ``"transposed"`` is StyleGAN2's own form, a stride-2 transposed conv at
    the lower resolution followed by a [1,3,3,1] FIR filter, a quarter of the multiply-adds (and on
    two CPU cores under bf16 several times faster than interpolating). ``fused=False`` (the
    default) computes conv(x * s) * d with one shared weight; ``fused=True`` is the grouped-conv
    reference.
    """
    n, i_ch, _, _ = x.shape
    o_ch, _, kh, kw = weight.shape
    assert_shape(weight, [o_ch, i_ch, kh, kw], "modconv weight")
    assert_shape(styles, [n, i_ch], "modconv styles")
    padding = kh // 2
    transposed = up and up_mode == "transposed"
    if up and up_mode not in UP_MODES:
        raise ValueError(f"up_mode must be one of {UP_MODES}, got {up_mode!r}")
    if fused:
        return _modulated_conv2d_fused(x, weight, styles, demodulate, up, padding, transposed)
    # Per-channel scaling commutes with bilinear upsampling: scale first, on 4x fewer pixels.
    x = x * styles.to(x.dtype).reshape(n, i_ch, 1, 1)
    if transposed:
        y = fir_blur_upsampled(F.conv_transpose2d(x, weight.to(x.dtype).transpose(0, 1), stride=2))
    else:
        if up:
            x = upsample2x(x)
        y = F.conv2d(x, weight, padding=padding)
    if demodulate:
        y = y * demodulation_coefficients(weight, styles).to(y.dtype).reshape(n, o_ch, 1, 1)
    return y


def _modulated_conv2d_fused(
    x: torch.Tensor,
    weight: torch.Tensor,
    styles: torch.Tensor,
    demodulate: bool,
    up: bool,
    padding: int,
    transposed: bool = False,
) -> torch.Tensor:
    """Reference form: fold the batch into groups and run one grouped (transposed) convolution."""
    n, i_ch = styles.shape
    o_ch, _, kh, kw = weight.shape
    with torch.autocast(device_type=styles.device.type, enabled=False):
        w = weight.float().unsqueeze(0) * styles.float().reshape(n, 1, i_ch, 1, 1)  # [N, O, I, k, k]
        if demodulate:
            w = w * (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt().reshape(n, o_ch, 1, 1, 1)
    if transposed:
        h, wd = x.shape[2], x.shape[3]
        w_t = w.transpose(1, 2).reshape(n * i_ch, o_ch, kh, kw).to(x.dtype)  # [N*I, O, k, k]
        y = F.conv_transpose2d(x.reshape(1, n * i_ch, h, wd), w_t, stride=2, groups=n)
        return fir_blur_upsampled(y.reshape(n, o_ch, y.shape[2], y.shape[3]))
    if up:
        x = upsample2x(x)
    h, wd = x.shape[2], x.shape[3]
    y = F.conv2d(
        x.reshape(1, n * i_ch, h, wd), w.reshape(n * o_ch, i_ch, kh, kw).to(x.dtype), padding=padding, groups=n
    )
    return y.reshape(n, o_ch, y.shape[2], y.shape[3])


class MinibatchStd(nn.Module):
    """Append the mean standard deviation over groups of samples as extra feature maps.

    Samples n and n + N/G share a group (as in StyleGAN2). When the batch is not a multiple of
    ``group_size`` the largest divisor of N that is not larger is used, so any batch works.
    """

    def __init__(self, group_size: int = 4, num_channels: int = 1) -> None:
        super().__init__()
        self.group_size, self.num_channels = group_size, num_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        f = self.num_channels
        assert c % f == 0, f"MinibatchStd: {c} channels not divisible by {f}"
        g = min(self.group_size, n)
        while n % g:
            g -= 1
        with torch.autocast(device_type=x.device.type, enabled=False):
            y = x.float().reshape(g, n // g, f, c // f, h, w)
            y = (y - y.mean(dim=0)).square().mean(dim=0)  # [N/G, F, c, H, W] variance over the group
            y = (y + 1e-8).sqrt().mean(dim=[2, 3, 4])  # [N/G, F]
            y = y.reshape(n // g, f, 1, 1).repeat(g, 1, h, w)  # sample n gets its group's value
        return torch.cat([x, y.to(x.dtype)], dim=1)

    def extra_repr(self) -> str:
        return f"group_size={self.group_size}, num_channels={self.num_channels}"
