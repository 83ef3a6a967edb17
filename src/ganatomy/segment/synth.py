"""Paired (image, mask) datasets from a generator and a fitted KLiSH, in the project's dataset format.

``write_pairs(est, G, path, n, n_clusters=K, seed=s)`` writes PNG images, PNG masks (value = cluster)
and dataset.json (``ganatomy.data.writer``), images ``seed * SEED_STRIDE + i`` at the estimator's
truncation, a chunk at a time: any size, bounded memory, atomic (nothing at ``path`` on failure).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from ganatomy.data.writer import DatasetWriter
from ganatomy.utils.images import to_uint8


def cluster_names(k: int) -> list[str]:
    return [f"cluster{j:02d}" for j in range(k)]


def pairs(est: Any, G: Any, n: int, n_clusters: int | None = None, seed: int = 1, chunk: int = 64):
    """Yield (uint8 images [B, H, W, C], uint8 masks [B, H, W]) for ``n`` seeded images."""
    latents = est.sample_latents(G, n, seed)
    for start in range(0, n, chunk):
        images, masks = est.predict(latents[start : start + chunk], n_clusters, G=G, return_image=True)
        yield to_uint8(images.clamp(-1, 1)), masks


@torch.no_grad()
def write_pairs(
    est: Any,
    G: Any,
    path: str | os.PathLike,
    n: int,
    n_clusters: int | None = None,
    seed: int = 1,
    progress: Any = None,
) -> Path:
    """Write ``n`` (image, mask) pairs to ``path`` (a new folder or .zip); returns the path."""
    k = est.n_clusters_auto_ if n_clusters is None else int(n_clusters)
    meta = {
        "part_labels": cluster_names(k),
        "klish": {"n_clusters": k, "seed": int(seed), "generator": (est.generator_ or {}).get("name")},
    }
    with DatasetWriter(path, metadata=meta) as out:
        for images, masks in pairs(est, G, n, k, seed):
            for image, mask in zip(images, masks):
                out.add(image[:, :, 0] if image.shape[2] == 1 else image, mask=mask)
            if progress is not None:
                progress(len(out))
    return Path(path)
