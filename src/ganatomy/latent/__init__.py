"""Latent spaces: directions in Z, W and W+, and the one seeded sampler.

``Directions`` and ``layer_groups`` (StyleGAN's coarse / middle / fine W+ rows) (``ganatomy.latent.directions``);
``seeded_latents(G, seeds, space)`` / ``seeded_images(G, seeds)``: one seed per image, the same image
for a seed whatever the batch (``ganatomy.latent.sampling``).
"""

from __future__ import annotations

from ganatomy.latent.directions import Directions, layer_groups
from ganatomy.latent.sampling import (
    SeededImages,
    SeededLatents,
    default_space,
    seed_generator,
    seeded_images,
    seeded_latents,
)

__all__ = [
    "Directions",
    "SeededImages",
    "SeededLatents",
    "default_space",
    "layer_groups",
    "seed_generator",
    "seeded_images",
    "seeded_latents",
]
