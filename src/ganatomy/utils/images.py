"""Image tensors: value ranges, channels and sizes for networks that judge them; PNG files and grids
(torchvision is not usable here, so we own these)."""

from __future__ import annotations

import io
import math
import os

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ganatomy.errors import OptionsError
from ganatomy.utils.atomic import atomic_write_bytes


def as_unit_images(images: torch.Tensor | np.ndarray) -> torch.Tensor:
    """uint8 [N, C, H, W] -> float32 in [-1, 1] (x / 127.5 - 1); floats are taken as already in [-1, 1]."""
    x = torch.as_tensor(images)
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise OptionsError(f"images must be [N, C, H, W] with C = 1 or 3, got shape {tuple(x.shape)}")
    if x.dtype == torch.uint8:
        return x.float() / 127.5 - 1.0
    if not x.is_floating_point():
        raise OptionsError(f"images must be uint8 or float, got {x.dtype}")
    return x.float()


def to_rgb(x: torch.Tensor) -> torch.Tensor:
    """Grey [N, 1, H, W] repeated to three channels; RGB passes through."""
    return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x


def resize(x: torch.Tensor, size: int, antialias: bool = True) -> torch.Tensor:
    """Bilinear resize to size x size (antialiasing only matters when shrinking)."""
    if x.shape[-2:] == (size, size):
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=antialias)


def to_uint8(images: torch.Tensor, drange: tuple[float, float] = (-1.0, 1.0)) -> np.ndarray:
    """[N, C, H, W] floats in ``drange`` -> [N, H, W, C] uint8 (C is 1 or 3)."""
    lo, hi = drange
    x = (images.detach().float().cpu() - lo) * (255.0 / (hi - lo))
    x = x.round().clamp(0, 255).to(torch.uint8)
    return x.permute(0, 2, 3, 1).numpy()


def grid_array(images: np.ndarray, ncols: int | None = None, pad: int = 1, pad_value: int = 255) -> np.ndarray:
    """Tile [N, H, W, C] uint8 images into one [H', W', C] array, row-major."""
    n, h, w, c = images.shape
    ncols = ncols or int(math.ceil(math.sqrt(n)))
    nrows = int(math.ceil(n / ncols))
    out = np.full((nrows * (h + pad) + pad, ncols * (w + pad) + pad, c), pad_value, dtype=np.uint8)
    for i in range(n):
        r, col = divmod(i, ncols)
        y, x = pad + r * (h + pad), pad + col * (w + pad)
        out[y : y + h, x : x + w] = images[i]
    return out


def png_bytes(array: np.ndarray) -> bytes:
    """Encode an [H, W] or [H, W, 1|3] uint8 array as PNG."""
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def save_png(path: str | os.PathLike, array: np.ndarray) -> None:
    atomic_write_bytes(path, png_bytes(array))


def save_image_grid(
    path: str | os.PathLike,
    images: torch.Tensor | np.ndarray,
    drange: tuple[float, float] = (-1.0, 1.0),
    ncols: int | None = None,
) -> None:
    """Write a grid of images to a PNG. Accepts [N,C,H,W] tensors or [N,H,W,C] uint8 arrays."""
    if isinstance(images, torch.Tensor):
        images = to_uint8(images, drange)
    save_png(path, grid_array(images, ncols=ncols))
