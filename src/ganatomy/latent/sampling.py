"""One seeded sampler: image i of seeds ``[s0, s1, ...]`` is a function of its own seed alone.

From seed ``s`` a CPU ``torch.Generator`` seeded with ``s`` draws z (``G.sample_latents(1, ...)``)
and then, for a conditional generator whose labels are not given, a uniform class
(``G.sample_c(1, ...)``, from the same stream). z is mapped to the requested space (truncation
acts there) and images are synthesised with constant noise (``generate``, the training grid), or
with random noise drawn from a second stream of the same seed (``noise_mode="random"``: what
``SeededImages`` and so the metrics use, as the published protocols sample with random noise).
So an image never depends on the batch size, its position in the batch, the device or torch's
global RNG: ``ganatomy generate --seeds``, the metrics' generated sets and the training grid all
draw through here, and seed 7 is the same image in each of them (for the same labels and
truncation).

Gradients are not switched off here: wrap calls in ``torch.no_grad()`` when only images are needed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

import torch

from ganatomy.errors import OptionsError
from ganatomy.nets.noise import SeededNoise
from ganatomy.nets.protocol import Generator, labels_to_onehot

Labels = int | torch.Tensor | Iterable[int] | None


@dataclasses.dataclass(frozen=True)
class SeededLatents:
    """Latents of one image per seed, on the generator's device.

    ``z`` [N, *latent_shape('z')]; ``c`` one-hot (or the caller's soft) rows [N, c_dim], None for an
    unconditional generator; ``latents`` is z in ``space`` (what ``synthesize(latents, space, c)`` takes).
    """

    seeds: tuple[int, ...]
    z: torch.Tensor
    c: torch.Tensor | None
    space: str
    latents: torch.Tensor

    def __len__(self) -> int:
        return len(self.seeds)


def seed_generator(seed: int) -> torch.Generator:
    """The CPU random stream of one image."""
    return torch.Generator().manual_seed(int(seed))


def default_space(G: Generator) -> str:
    """Where images are synthesised from by default: W+ if the generator has it, else Z."""
    return "w+" if "w+" in G.latent_spaces else "z"


def _labels(G: Generator, c: Labels, n: int, device: torch.device) -> torch.Tensor | None:
    """The caller's labels as rows [n, c_dim]: one class index for all, indices [n] or rows [n, c_dim]."""
    if c is None or not G.c_dim:
        return None
    if isinstance(c, int):
        c = torch.full((n,), c, dtype=torch.long)
    elif not isinstance(c, torch.Tensor):
        c = torch.as_tensor(list(c), dtype=torch.long)
    return labels_to_onehot(c, G.c_dim, n, device)


def seeded_latents(
    G: Generator, seeds: Iterable[int], space: str = "z", c: Labels = None, truncation_psi: float = 1.0
) -> SeededLatents:
    """z (and, when ``c`` is None and G is conditional, labels) of each seed, mapped to ``space``.

    ``c`` fixes the labels instead: one class index for every image, class indices [N] or rows
    [N, c_dim]. Truncation needs a space it acts in: 'w'/'w+' for a generator with W.
    """
    seeds = tuple(int(s) for s in seeds)
    if not seeds:
        raise OptionsError("sampler: no seeds given")
    if space not in G.latent_spaces:
        raise OptionsError(f"sampler: latent space {space!r} is not available for {G.kind}: it has {G.latent_spaces}")
    if truncation_psi != 1 and space == "z" and "w" in G.latent_spaces:
        raise OptionsError(f"sampler: truncation acts in W; map to space 'w' or 'w+', not 'z' ({G.kind})")
    zs, drawn = [], []
    for s in seeds:
        g = seed_generator(s)
        zs.append(G.sample_latents(1, generator=g))
        if c is None and G.c_dim:
            drawn.append(G.sample_c(1, generator=g))
    z = torch.cat(zs)
    labels = torch.cat(drawn) if drawn else _labels(G, c, len(seeds), z.device)
    latents = G.to_space(z, space, c=labels, truncation_psi=truncation_psi)
    return SeededLatents(seeds, z, labels, space, latents)


def seeded_images(
    G: Generator,
    seeds: Iterable[int],
    c: Labels = None,
    truncation_psi: float = 1.0,
    space: str | None = None,
    batch_size: int = 32,
    noise_mode: str = "const",
) -> torch.Tensor:
    """Images [N, C, H, W] (as G makes them, not clamped), one per seed, in batches of ``batch_size``.

    ``space`` (default: :func:`default_space`) is where z is mapped before synthesis; the result
    does not depend on ``batch_size``.
    """
    seeds = list(seeds)
    if batch_size < 1:
        raise OptionsError(f"sampler: batch_size must be >= 1, got {batch_size}")
    space = default_space(G) if space is None else space
    labels = c if c is None or isinstance(c, int) else (c if isinstance(c, torch.Tensor) else torch.as_tensor(list(c)))
    images = []
    for start in range(0, len(seeds), batch_size):
        chunk_c = labels if labels is None or isinstance(labels, int) else labels[start : start + batch_size]
        batch = seeded_latents(G, seeds[start : start + batch_size], space, chunk_c, truncation_psi)
        # "random" noise is drawn per image from its own stream, so it too is a function of the seed.
        noise = SeededNoise(batch.seeds) if noise_mode == "random" else noise_mode
        images.append(G.synthesize(batch.latents, space, c=batch.c, noise_mode=noise))
    return torch.cat(images)


class SeededImages:
    """An image source by seeds for :func:`ganatomy.metrics.compute.compute_metrics`.

    ``images_for_seeds(seeds)`` gives one image per seed (what ``compute_metrics`` asks for:
    seeds ``seed + j`` for image j, whatever its batch size); ``transform`` post-processes the
    images (e.g. quantises them to uint8).
    """

    def __init__(self, G: Generator, transform: Any = None, **sampler_kwargs: Any) -> None:
        self.G, self.transform = G, transform
        self.sampler_kwargs = {"noise_mode": "random", **sampler_kwargs}

    def images_for_seeds(self, seeds: Iterable[int]) -> torch.Tensor:
        seeds = list(seeds)
        with torch.no_grad():
            images = seeded_images(self.G, seeds, batch_size=max(len(seeds), 1), **self.sampler_kwargs)
        return self.transform(images) if self.transform is not None else images

    def __call__(self, n: int, first_seed: int) -> torch.Tensor:
        """Images of seeds ``first_seed .. first_seed + n - 1``."""
        return self.images_for_seeds(range(int(first_seed), int(first_seed) + int(n)))
