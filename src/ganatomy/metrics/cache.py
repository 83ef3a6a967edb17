"""A content-keyed cache of real-image features and statistics.

Extracting features of 10k real images is the slow part of a metric and is the same every
time, so the real side is cached (as in stylegan3's ``metric_utils`` and torch-fidelity). A cache
entry is keyed by the SHA-256 of a canonical JSON of

* the data: a fingerprint of the dataset's identity (class, name, resolution, channels, length)
  plus the bytes of the sampled images and their indices, or a caller-provided fingerprint;
* the options: extractor name, its weights' SHA-256 and its ``config()`` (resolution, resizer,
  bf16, ...), the number of images and the sampling seed, and a cache schema version.

Change any of these and the key changes: a stale entry is never read. Entries are ganatomy
checkpoints (safetensors + JSON, written atomically, with a verified checksum) under
``<cache dir>/metrics/``; the cache dir is the caller's, else ``$GANATOMY_CACHE``, else
``~/.cache/ganatomy``, resolved at each call. A corrupt entry is reported with a warning and
rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganatomy.errors import CheckpointError
from ganatomy.metrics.frechet import FeatureStats
from ganatomy.metrics.registry import FeatureSet
from ganatomy.runs.checkpoint import load_checkpoint, save_checkpoint

CACHE_SCHEMA = 1
_ENTRY_KIND = "ganatomy.metric_features"


def resolve_cache_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """The caller's dir, else ``$GANATOMY_CACHE``, else ``~/.cache/ganatomy`` (read now, not at import)."""
    if cache_dir is not None:
        return Path(cache_dir)
    env = os.environ.get("GANATOMY_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "ganatomy"


def cache_key(parts: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of ``parts``."""
    blob = json.dumps({"schema": CACHE_SCHEMA, **parts}, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def dataset_identity(dataset: Any) -> dict[str, Any]:
    """What names a dataset apart from its pixels."""
    return {
        "class": f"{type(dataset).__module__}.{type(dataset).__qualname__}",
        "name": getattr(dataset, "name", None),
        "resolution": getattr(dataset, "resolution", None),
        "channels": getattr(dataset, "channels", None),
        "length": len(dataset),
    }


def images_fingerprint(dataset: Any, indices: np.ndarray, batch_size: int = 256) -> str:
    """SHA-256 of the dataset's identity, the indices and the uint8 bytes of those images."""
    h = hashlib.sha256(json.dumps(dataset_identity(dataset), sort_keys=True, default=str).encode())
    indices = np.asarray(indices, dtype=np.int64)
    h.update(indices.tobytes())
    for start in range(0, len(indices), batch_size):
        images = torch.as_tensor(dataset.get_images(indices[start : start + batch_size])).contiguous()
        h.update(f"{images.dtype}|{tuple(images.shape)}|".encode())
        h.update(images.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")[:40] or "data"


class FeatureCache:
    """Real-set features on disk, one checkpoint per key."""

    def __init__(self, cache_dir: str | os.PathLike | None = None):
        self.root = resolve_cache_dir(cache_dir) / "metrics"

    def path_for(self, key: str, label: str) -> Path:
        return self.root / f"{_safe(label)}-{key[:16]}.safetensors"

    def load(self, key: str, label: str) -> FeatureSet | None:
        """The entry for ``key``, or None when absent; a corrupt or foreign entry warns and gives None."""
        path = self.path_for(key, label)
        if not path.exists():
            return None
        try:
            entry = load_checkpoint(path)
            if not isinstance(entry, dict) or entry.get("kind") != _ENTRY_KIND:
                raise CheckpointError(f"{path}: not a metric cache entry")
            if entry.get("key") != key:
                raise CheckpointError(f"{path}: entry was written for another key")
            stats = FeatureStats.from_state_dict(entry["stats"])
            features = entry["features"]
            if not isinstance(features, torch.Tensor) or features.ndim != 2 or len(features) != stats.n:
                raise CheckpointError(f"{path}: features and statistics disagree")
        except (CheckpointError, KeyError, TypeError, ValueError) as e:
            warnings.warn(f"metric cache: {e}; rebuilding it", RuntimeWarning, stacklevel=2)
            return None
        return FeatureSet(features.to(torch.float32), stats)

    def save(self, key: str, label: str, features: FeatureSet, meta: dict[str, Any]) -> Path:
        path = self.path_for(key, label)
        save_checkpoint(
            path,
            {
                "kind": _ENTRY_KIND,
                "key": key,
                "meta": json.loads(json.dumps(meta, default=str)),
                "features": features.features.to(torch.float32).contiguous(),
                "stats": features.stats.state_dict(),
            },
        )
        return path
