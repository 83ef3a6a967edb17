"""FIR resampling in pure PyTorch: upsample, pad, filter, downsample (StyleGAN2's ``upfirdn2d``).

A filter ``f`` is a 2-D tensor [fh, fw], or a 1-D tensor [k] applied separably (rows, then
columns). It is applied as a true convolution: the response to a delta equals the filter, so
filters read from a checkpoint are used as stored, asymmetric or not. Resampling by 2 keeps
the signal's DC gain: upsampling multiplies the filter by ``up**2`` (zero insertion keeps a
quarter of the samples), downsampling by 1.

Padding is ``[x0, x1, y0, y1]`` (left, right, top, bottom); negative values crop.

``conv2d_resample`` combines a convolution with FIR up/downsampling the way StyleGAN2's layers
need it: a transposed convolution with stride 2 followed by the filter for ``up=2``, and the
filter followed by a strided convolution for ``down=2``. Weights are applied as PyTorch applies
them (cross-correlation); the transposed convolution takes them unflipped.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

Padding = Sequence[int]


def setup_filter(taps: Sequence[float] | Sequence[Sequence[float]] | None) -> torch.Tensor:
    """The normalised filter (sum 1) for ``taps``: 1-D taps become their outer product, unless
    there are 8 or more, which stay 1-D and are applied separably."""
    f = torch.as_tensor([1.0] if taps is None else taps, dtype=torch.float32)
    if f.ndim == 0:
        f = f.reshape(1)
    if f.ndim not in (1, 2) or f.numel() == 0:
        raise ValueError(f"FIR filter must be 1-D or 2-D and non-empty, got shape {list(f.shape)}")
    if f.ndim == 1 and f.numel() < 8:
        f = torch.outer(f, f)
    return f / f.sum()


def filter_size(f: torch.Tensor | None) -> tuple[int, int]:
    """(width, height) of a filter (1-D filters are square)."""
    if f is None:
        return 1, 1
    return int(f.shape[-1]), int(f.shape[0])


def upfirdn2d(
    x: torch.Tensor,
    f: torch.Tensor | None,
    up: int = 1,
    down: int = 1,
    padding: Padding = (0, 0, 0, 0),
    gain: float = 1.0,
) -> torch.Tensor:
    """Insert ``up - 1`` zeros between samples, pad, convolve every channel with ``f * gain``,
    keep every ``down``-th sample. ``x`` is [N, C, H, W]; ``f=None`` is the identity filter."""
    n, c, h, w = x.shape
    x0, x1, y0, y1 = padding
    if up > 1:
        x = x.reshape(n, c, h, 1, w, 1)
        x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1])
        x = x.reshape(n, c, h * up, w * up)
    x = F.pad(x, [max(x0, 0), max(x1, 0), max(y0, 0), max(y1, 0)])
    x = x[:, :, max(-y0, 0) : x.shape[2] - max(-y1, 0), max(-x0, 0) : x.shape[3] - max(-x1, 0)]
    if f is not None:
        # conv2d correlates: flip the filter to convolve.
        f = (f * (gain ** (f.ndim / 2))).to(x.dtype).flip(list(range(f.ndim)))
        if f.ndim == 2:
            x = F.conv2d(x, f[None, None].expand(c, 1, *f.shape), groups=c)
        else:
            x = F.conv2d(x, f.reshape(1, 1, 1, -1).expand(c, 1, 1, f.numel()), groups=c)
            x = F.conv2d(x, f.reshape(1, 1, -1, 1).expand(c, 1, f.numel(), 1), groups=c)
    elif gain != 1:
        x = x * gain
    if down > 1:
        x = x[:, :, ::down, ::down]
    return x


def upsample2d(x: torch.Tensor, f: torch.Tensor, up: int = 2) -> torch.Tensor:
    """Upsample by ``up`` with the FIR filter ``f`` (same alignment as StyleGAN2's skip images)."""
    fw, fh = filter_size(f)
    padding = [(fw + up - 1) // 2, (fw - up) // 2, (fh + up - 1) // 2, (fh - up) // 2]
    return upfirdn2d(x, f, up=up, padding=padding, gain=up * up)


def downsample2d(x: torch.Tensor, f: torch.Tensor, down: int = 2) -> torch.Tensor:
    """Low-pass with ``f``, then keep every ``down``-th sample."""
    fw, fh = filter_size(f)
    padding = [(fw - down + 1) // 2, (fw - down) // 2, (fh - down + 1) // 2, (fh - down) // 2]
    return upfirdn2d(x, f, down=down, padding=padding)


def _transposed_weight(w: torch.Tensor, groups: int) -> torch.Tensor:
    """[O, I/g, k, k] conv weight -> [I, O/g, k, k], the layout conv_transpose2d wants."""
    out_ch, in_per_group, kh, kw = w.shape
    if groups == 1:
        return w.transpose(0, 1)
    w = w.reshape(groups, out_ch // groups, in_per_group, kh, kw).transpose(1, 2)
    return w.reshape(groups * in_per_group, out_ch // groups, kh, kw)


def conv2d_resample(
    x: torch.Tensor,
    w: torch.Tensor,
    f: torch.Tensor | None = None,
    up: int = 1,
    down: int = 1,
    padding: int = 0,
    groups: int = 1,
) -> torch.Tensor:
    """Convolve ``x`` with ``w`` [O, I/groups, kh, kw] and resample with the FIR filter ``f``.

    Output size: H * up / down for 'same' padding (``padding = k // 2``).
    """
    _, _, kh, kw = w.shape
    fw, fh = filter_size(f)
    px0 = px1 = py0 = py1 = padding
    if up > 1:
        px0, px1 = px0 + (fw + up - 1) // 2, px1 + (fw - up) // 2
        py0, py1 = py0 + (fh + up - 1) // 2, py1 + (fh - up) // 2
    if down > 1:
        px0, px1 = px0 + (fw - down + 1) // 2, px1 + (fw - down) // 2
        py0, py1 = py0 + (fh - down + 1) // 2, py1 + (fh - down) // 2

    if kw == 1 and kh == 1 and down > 1 and up == 1:  # a 1x1 conv commutes with decimation: decimate first
        x = upfirdn2d(x, f, down=down, padding=[px0, px1, py0, py1])
        return F.conv2d(x, w, groups=groups)
    if kw == 1 and kh == 1 and up > 1 and down == 1:  # ... and with upsampling: convolve first
        x = F.conv2d(x, w, groups=groups)
        return upfirdn2d(x, f, up=up, padding=[px0, px1, py0, py1], gain=up * up)
    if down > 1 and up == 1:  # filter, then a strided convolution
        x = upfirdn2d(x, f, padding=[px0, px1, py0, py1])
        return F.conv2d(x, w, stride=down, groups=groups)
    if up > 1:  # a transposed convolution with stride `up` does the zero insertion; then filter
        px0, px1, py0, py1 = px0 - (kw - 1), px1 - (kw - up), py0 - (kh - 1), py1 - (kh - up)
        pxt, pyt = max(min(-px0, -px1), 0), max(min(-py0, -py1), 0)
        x = F.conv_transpose2d(x, _transposed_weight(w, groups), stride=up, padding=[pyt, pxt], groups=groups)
        x = upfirdn2d(x, f, padding=[px0 + pxt, px1 + pxt, py0 + pyt, py1 + pyt], gain=up * up)
        return upfirdn2d(x, f, down=down) if down > 1 else x
    if px0 == px1 and py0 == py1 and px0 >= 0 and py0 >= 0:
        return F.conv2d(x, w, padding=[py0, px0], groups=groups)
    x = upfirdn2d(x, None, padding=[px0, px1, py0, py1])
    return F.conv2d(x, w, groups=groups)
