"""Images from seeds: one latent per seed (the same on every machine), optional truncation and class."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch

from ganatomy.errors import OptionsError
from ganatomy.latent.sampling import seeded_images
from ganatomy.utils.images import save_image_grid, save_png, to_uint8


@torch.no_grad()
def generate_images(G, seeds: Sequence[int], trunc: float = 1.0, class_idx: int | None = None,
                    batch: int = 32) -> torch.Tensor:
    """[len(seeds), C, H, W] images in [-1, 1]; image i is a function of seeds[i] alone.

    Drawn by the one seeded sampler (``ganatomy.latent.sampling``): z from the seed, mapped to W+
    where the network has it (truncation acts there), synthesised with constant noise, so a seed
    gives the same image every time, in every batch.
    """
    if trunc != 1.0 and "w" not in G.latent_spaces:
        raise OptionsError(f"--trunc needs a W space; {G.kind} has {G.latent_spaces}")
    if G.c_dim and class_idx is None:
        raise OptionsError(f"this network is conditional ({G.c_dim} classes): pass --class 0..{G.c_dim - 1}")
    if class_idx is not None and not 0 <= class_idx < G.c_dim:
        raise OptionsError(f"--class {class_idx}: the network has {G.c_dim} classes")
    images = seeded_images(G, seeds, c=class_idx, truncation_psi=trunc, batch_size=batch)
    return images.clamp(-1, 1)


def write_images(outdir: Path, seeds: Sequence[int], images: torch.Tensor) -> Path:
    """seedNNNN.png per image and grid.png of all; returns the grid path."""
    outdir.mkdir(parents=True, exist_ok=True)
    arrays = to_uint8(images)
    for s, a in zip(seeds, arrays):
        save_png(outdir / f"seed{s:04d}.png", a)
    save_image_grid(outdir / "grid.png", arrays)
    return outdir / "grid.png"
