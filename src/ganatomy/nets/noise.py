"""Per-pixel noise inputs of style-based generators: how each layer gets its noise map.

``noise_mode`` is one of ``"random"`` (fresh maps from torch's global RNG, as in training),
``"const"`` (each layer's stored map, the same for every image), ``"none"``, or a ``SeededNoise``:
random maps drawn from one stream per image, so that an image with random noise is still a
function of its own seed alone, whatever the batch it is generated in (what the metrics use).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import torch

from ganatomy.errors import OptionsError
from ganatomy.nets._checks import ShapeError

NOISE_MODES = ("random", "const", "none")


def _noise_seed(seed: int) -> int:
    """The noise stream of image ``seed``: distinct from its latent stream (which is seeded with ``seed``)."""
    digest = hashlib.sha256(f"ganatomy-noise/{int(seed)}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


class SeededNoise:
    """Random noise maps, one stream per image: layer after layer, image i draws from stream i."""

    def __init__(self, seeds: Iterable[int]) -> None:
        self.seeds = tuple(int(s) for s in seeds)
        self._streams = [torch.Generator().manual_seed(_noise_seed(s)) for s in self.seeds]

    def __call__(self, n: int, resolution: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        if n != len(self._streams):
            raise ShapeError(f"SeededNoise: {len(self._streams)} seeds for a batch of {n} images")
        maps = [torch.randn(1, 1, resolution, resolution, generator=g) for g in self._streams]
        return torch.cat(maps).to(device=device, dtype=dtype)


def check_noise_mode(noise_mode: str | SeededNoise) -> None:
    if not isinstance(noise_mode, SeededNoise) and noise_mode not in NOISE_MODES:
        raise OptionsError(f"noise_mode must be one of {NOISE_MODES} or a SeededNoise, got {noise_mode!r}")


def noise_input(
    noise_mode: str | SeededNoise, n: int, const: torch.Tensor, device: torch.device, dtype: torch.dtype
) -> torch.Tensor | None:
    """The noise map(s) a layer adds (before its learned strength), or None for ``"none"``.

    ``const`` is the layer's stored [R, R] map; random maps are [n, 1, R, R].
    """
    resolution = const.shape[-1]
    if isinstance(noise_mode, SeededNoise):
        return noise_mode(n, resolution, device, dtype)
    if noise_mode == "random":
        return torch.randn(n, 1, resolution, resolution, device=device, dtype=dtype)
    if noise_mode == "const":
        return const.to(device=device, dtype=dtype)
    return None
