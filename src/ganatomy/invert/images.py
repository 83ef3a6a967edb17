"""Images handed to an inversion: checked against the generator they are to be inverted into."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ganatomy.errors import OptionsError


def generator_images(images: torch.Tensor | np.ndarray, G: Any, where: str) -> torch.Tensor:
    """uint8 (0..255) or float ([-1, 1]) images [N, C, R, R] as float32 in [-1, 1], of G's size and channels.

    A one-line OptionsError names what is wrong (shape, size, channels): inverting an image of another
    size or colour depth into G would silently compare it with something else.
    """
    x = torch.as_tensor(images)
    if x.ndim == 3:
        raise OptionsError(f"{where}: images must be a batch [N, C, H, W], got one image of shape {tuple(x.shape)}")
    if x.ndim != 4:
        raise OptionsError(f"{where}: images must be [N, C, H, W], got shape {tuple(x.shape)}")
    if len(x) == 0:
        raise OptionsError(f"{where}: no images given")
    channels, res = int(G.img_channels), int(G.img_resolution)
    if x.shape[1] != channels:
        raise OptionsError(f"{where}: images have {x.shape[1]} channels, the generator makes {channels}")
    if tuple(x.shape[2:]) != (res, res):
        h, w = x.shape[2:]
        raise OptionsError(f"{where}: images are {w}x{h}, the generator makes {res}x{res}; resize them first")
    if x.dtype == torch.uint8:
        return x.float() / 127.5 - 1.0
    if not x.is_floating_point():
        raise OptionsError(f"{where}: images must be uint8 or float, got {x.dtype}")
    return x.float()
