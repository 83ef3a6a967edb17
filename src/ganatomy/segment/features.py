"""Per-pixel generator features for KLiSH: the last map of each resolution, upsampled and concatenated.

Layer choice (as the paper's "auto" selection): walk ``G.feature_names`` in forward order and keep
the last map at each spatial resolution; while their channels add up to more than
``max_channels``, drop the lowest-resolution one (coarse maps carry the least spatial detail per
channel). Each kept map is bilinearly upsampled (``align_corners=True``) to ``size`` x ``size``
and the maps are concatenated along channels, giving one C-dim feature per pixel, raw (no
normalisation: the linear classifiers see what the generator computes).

Memory: features of ``n`` images take ``n * size**2 * C * 4`` bytes as float32 (256 images of
world32-stylegan2 at 32x32: 262,144 pixels x 480 channels = 0.5 GB). They are produced a chunk of
``chunk_size`` images at a time, so the generator's own activations never exceed one chunk.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from ganatomy.errors import OptionsError

# The paper's cap on the summed channels of the selected maps.
MAX_CHANNELS = 1000


def select_layers(G: Any, max_channels: int = MAX_CHANNELS) -> list[str]:
    """Names of the last feature map of each resolution, coarse maps dropped until within ``max_channels``."""
    shapes = G.feature_shapes()
    names = [n for n in G.feature_names if n in shapes]
    if not names:
        raise OptionsError(f"segment: the generator ({G.kind}) exposes no feature maps")
    chosen = [n for n, nxt in zip(names, [*names[1:], None]) if nxt is None or shapes[nxt][1] != shapes[n][1]]
    chosen.sort(key=lambda n: shapes[n][1])  # low resolution first: dropped first
    while len(chosen) > 1 and sum(shapes[n][0] for n in chosen) > max_channels:
        chosen.pop(0)
    return chosen


def check_layers(G: Any, layers: Sequence[str]) -> list[str]:
    shapes = G.feature_shapes()
    unknown = [n for n in layers if n not in shapes]
    if unknown or not layers:
        raise OptionsError(
            f"segment: unknown feature map {unknown[0] if unknown else '(none)'!r}; available: {', '.join(shapes)}"
        )
    return list(layers)


def layer_channels(G: Any, layers: Sequence[str]) -> list[int]:
    shapes = G.feature_shapes()
    return [int(shapes[n][0]) for n in layers]


def upsample(x: torch.Tensor, size: int) -> torch.Tensor:
    if x.shape[-1] == size and x.shape[-2] == size:
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=True)


@torch.no_grad()
def feature_maps(
    G: Any, latents: torch.Tensor, layers: Sequence[str], space: str, size: int, return_image: bool = False
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Concatenated upsampled features [N, C, size, size] (and the images with ``return_image``)."""
    out = G.features(latents, list(layers), space=space, return_image=return_image)
    image, feats = out if return_image else (None, out)
    stacked = torch.cat([upsample(feats[n].float(), size) for n in layers], dim=1)
    return (image, stacked) if return_image else stacked


def pixel_features(maps: torch.Tensor) -> torch.Tensor:
    """[N, C, H, W] -> [N * H * W, C], pixel order image by image, row-major."""
    return maps.permute(0, 2, 3, 1).reshape(-1, maps.shape[1])


def iter_feature_chunks(
    G: Any, latents: torch.Tensor, layers: Sequence[str], space: str, size: int, chunk_size: int = 32
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(images [B, C, R, R], pixel features [B * size**2, C]) for ``chunk_size`` latents at a time."""
    if chunk_size < 1:
        raise OptionsError(f"segment: chunk_size must be >= 1, got {chunk_size}")
    for start in range(0, len(latents), chunk_size):
        image, maps = feature_maps(G, latents[start : start + chunk_size], layers, space, size, return_image=True)
        yield image, pixel_features(maps)


def collect_features(
    G: Any,
    latents: torch.Tensor,
    layers: Sequence[str],
    space: str,
    size: int,
    chunk_size: int = 32,
    progress: Any = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """All pixel features [N * size**2, C] in one preallocated float32 tensor, and the images.

    ``progress`` (optional) is called with the number of images done.
    """
    n = len(latents)
    channels = sum(layer_channels(G, layers))
    out = torch.empty(n * size * size, channels, dtype=torch.float32)
    images = []
    done = 0
    for image, feats in iter_feature_chunks(G, latents, layers, space, size, chunk_size):
        out[done * size * size : done * size * size + len(feats)] = feats.cpu()
        images.append(image.cpu())
        done += len(image)
        if progress is not None:
            progress(done)
    return out, torch.cat(images)
