"""Pictures of a KLiSH fit: a contact sheet of colour-coded masks at several K and a GIF of the merge."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganatomy.directions.show import gif_bytes
from ganatomy.utils.atomic import atomic_write_bytes
from ganatomy.utils.images import grid_array, save_png, to_uint8

# Pictures of small images are enlarged by whole pixels.
CELL = 96


def palette(n: int) -> np.ndarray:
    """n well-spread RGB colours (golden-ratio hues), uint8 [n, 3]."""
    import colorsys

    hues = (np.arange(n) * 0.618033988749895) % 1.0
    rows = [colorsys.hsv_to_rgb(h, 0.75 if i % 2 else 0.95, 0.95 if i % 3 else 0.75) for i, h in enumerate(hues)]
    return (np.array(rows) * 255).round().astype(np.uint8)


def colour_masks(est: Any, masks: np.ndarray, n_clusters: int) -> np.ndarray:
    """uint8 RGB [N, H, W, 3]; a cluster keeps its colour across K (a merge keeps q's)."""
    colors = palette(est.merge_tree_.n_leaves)[est.cluster_colors(n_clusters)]
    return colors[masks]


def enlarge(images: np.ndarray) -> np.ndarray:
    factor = max(1, CELL // images.shape[1])
    return images.repeat(factor, axis=1).repeat(factor, axis=2)


@torch.no_grad()
def write_segment_pictures(
    est: Any, G: Any, out: str | os.PathLike, levels: Sequence[int], n_images: int = 6, seed: int = 7
) -> list[Path]:
    """``out/masks.png`` (rows: images; columns: the image, then masks at each K), ``out/merge.gif``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    latents = est.sample_latents(G, n_images, seed)
    images = to_uint8(G.synthesize(latents, est.space_).clamp(-1, 1))
    if images.shape[1] != est.resolution_:
        images = to_uint8(
            torch.nn.functional.interpolate(
                torch.as_tensor(images).permute(0, 3, 1, 2).float() / 127.5 - 1, size=est.resolution_, mode="bilinear"
            )
        )
    if images.shape[-1] == 1:
        images = images.repeat(3, axis=-1)
    columns = [images] + [colour_masks(est, est.predict(latents, k, G=G), k) for k in levels]
    sheet = np.stack(columns, axis=1).reshape(-1, *images.shape[1:])
    save_png(out / "masks.png", grid_array(enlarge(sheet), ncols=len(columns), pad=2))
    frames = []
    for k in range(est.merge_tree_.n_leaves, 0, -1):
        frames.append(grid_array(enlarge(colour_masks(est, est.predict(latents, k, G=G), k)), ncols=n_images, pad=2))
    atomic_write_bytes(out / "merge.gif", gif_bytes(frames))
    return [out / "masks.png", out / "merge.gif"]
