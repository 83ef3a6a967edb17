"""The side-by-side sheet of an inversion: each input beside its reconstruction."""

from __future__ import annotations

import os

import torch

from ganatomy.utils.images import grid_array, save_png, to_uint8


def side_by_side_sheet(path: str | os.PathLike, images: torch.Tensor, recon: torch.Tensor, pairs_per_row: int = 8):
    """Pairs (input, reconstruction), ``pairs_per_row`` pairs per row; images in [-1, 1]."""
    both = torch.stack([images.float().clamp(-1, 1), recon.float().clamp(-1, 1)], dim=1).flatten(0, 1)
    save_png(path, grid_array(to_uint8(both), ncols=2 * pairs_per_row))
