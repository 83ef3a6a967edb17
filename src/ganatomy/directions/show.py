"""Pictures of directions: per direction a grid (rows: seeds, columns: shifts from -E to E) and a GIF strip."""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from ganatomy.latent import Directions
from ganatomy.utils.atomic import atomic_write_bytes
from ganatomy.utils.images import grid_array, save_png, to_uint8

# Milliseconds per GIF frame.
FRAME_MS = 120


@torch.no_grad()
def direction_frames(
    G: Any, directions: Directions, index: int, seeds: Sequence[int], shifts: Sequence[float]
) -> np.ndarray:
    """uint8 images [len(shifts), len(seeds), H, W, C]: each seed moved by each shift along ``index``."""
    from ganatomy.latent.sampling import seeded_latents

    base = seeded_latents(G, seeds, space=directions.space)
    frames = []
    for shift in shifts:
        moved = directions.apply(base.latents, index, float(shift))
        frames.append(to_uint8(G.synthesize(moved, directions.space, c=base.c).clamp(-1, 1)))
    return np.stack(frames)


def gif_bytes(strips: Sequence[np.ndarray]) -> bytes:
    """An endless GIF of the [H, W, C] frames, there and back again."""
    images = [Image.fromarray(s[:, :, 0] if s.shape[2] == 1 else s) for s in strips]
    images = images + images[-2:0:-1]
    buf = io.BytesIO()
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], duration=FRAME_MS, loop=0)
    return buf.getvalue()


def write_direction_pictures(
    G: Any,
    directions: Directions,
    out: str | os.PathLike,
    seeds: Sequence[int],
    shifts: Sequence[float],
    indices: Sequence[int] | None = None,
    progress: bool = False,
) -> list[Path]:
    """``out/direction-KKK.png`` (grid) and ``.gif`` (strip of all seeds per shift) for each direction."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    indices = list(range(len(directions))) if indices is None else list(indices)
    written = []
    iterator = indices
    if progress:
        from rich.progress import track

        iterator = track(indices, description="pictures")
    for k in iterator:
        frames = direction_frames(G, directions, k, seeds, shifts)  # [S, N, H, W, C]
        grid = grid_array(frames.transpose(1, 0, 2, 3, 4).reshape(-1, *frames.shape[2:]), ncols=len(shifts))
        png, gif = out / f"direction-{k:03d}.png", out / f"direction-{k:03d}.gif"
        save_png(png, grid)
        atomic_write_bytes(gif, gif_bytes([grid_array(f, ncols=len(seeds)) for f in frames]))
        written += [png, gif]
    return written
