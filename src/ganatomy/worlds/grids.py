"""Grids of world images with their colour-coded part masks (what ``ganatomy world`` writes)."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ganatomy.utils.atomic import atomic_write_text
from ganatomy.utils.images import grid_array, save_png
from ganatomy.worlds.factors import FACTORS, PARTS, part_palette
from ganatomy.worlds.render import FaceWorld

# Grids of small images are enlarged by whole pixels so that 32x32 parts can be seen.
_MIN_CELL = 128


def colorize_masks(masks: np.ndarray) -> np.ndarray:
    """uint8 part masks [..., H, W] -> uint8 RGB [..., H, W, 3] in the registry's part colours."""
    return part_palette()[masks]


def overlay_masks(images: np.ndarray, masks: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """Blend the colour-coded masks over the images (background pixels are left as they are)."""
    colored = colorize_masks(masks).astype(np.float32)
    blend = images.astype(np.float32) * (1 - alpha) + colored * alpha
    out = np.where((masks > 0)[..., None], blend, images.astype(np.float32))
    return (out + 0.5).astype(np.uint8)


def _enlarge(images: np.ndarray) -> np.ndarray:
    """Nearest-neighbour upscale [N, H, W, C] by an integer factor (none for >= _MIN_CELL / 2)."""
    factor = max(1, _MIN_CELL // (2 * images.shape[1]))
    return images.repeat(factor, axis=1).repeat(factor, axis=2) if factor > 1 else images


def write_world_grids(outdir: str | os.PathLike, seeds: Sequence[int], res: int) -> list[Path]:
    """Render ``seeds`` at ``res`` and write grids of images, colour-coded masks and overlays.

    Writes ``images.png``, ``masks.png``, ``overlay.png`` (the three grids, same layout, seed order,
    row-major), ``side_by_side.png`` (image | mask | overlay per seed, one seed per row group) and
    ``factors.json`` (every seed's factor values, the part labels and their colours).
    Returns the written paths.
    """
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    world = FaceWorld(res)
    batch = world.render_seeds(list(seeds))
    images = batch.images
    colored = colorize_masks(batch.masks)
    overlay = overlay_masks(images, batch.masks)

    paths = []
    for name, array in (("images.png", images), ("masks.png", colored), ("overlay.png", overlay)):
        path = outdir / name
        save_png(path, grid_array(_enlarge(array), pad=2))
        paths.append(path)

    # image | mask | overlay side by side, then as many such triples per row as make a squarish grid.
    triples = np.concatenate([images, colored, overlay], axis=2)  # [N, H, 3W, 3]
    ncols = max(1, int(round(np.sqrt(len(seeds) / 3))))
    path = outdir / "side_by_side.png"
    save_png(path, grid_array(_enlarge(triples), ncols=ncols, pad=2))
    paths.append(path)

    record = {
        "resolution": res,
        "seeds": [int(s) for s in seeds],
        "factor_names": [f.name for f in FACTORS],
        "factor_classes": {f.name: list(f.classes) for f in FACTORS if f.is_categorical},
        "factors": {f.name: batch.factors[f.name].tolist() for f in FACTORS},
        "part_labels": [p.name for p in PARTS],
        "part_colors": [list(p.color) for p in PARTS],
    }
    path = outdir / "factors.json"
    atomic_write_text(path, json.dumps(record, indent=1) + "\n")
    paths.append(path)
    return paths
