"""Checkpoints: safetensors for tensors, JSON for everything else, one file, no pickles.

A checkpoint holds any tree of dicts, lists, tuples, numbers, strings, tensors and numpy arrays
(module state dicts, optimizer state dicts, RNG states, counters). Tensors go into the
safetensors body; the rest of the tree, with references to the tensors, is JSON in the
safetensors header, beside a SHA-256 of the content that ``load_checkpoint`` verifies.
Writes are atomic (temp file, fsync, rename): a killed run never leaves a half-written file.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from ganatomy.errors import CheckpointError
from ganatomy.utils.atomic import atomic_write_bytes

SCHEMA_VERSION = 1
_TREE_KEY = "ganatomy.tree"
_SUM_KEY = "ganatomy.sha256"
_VERSION_KEY = "ganatomy.schema"


def _pack(obj: Any, tensors: dict[str, torch.Tensor], path: str) -> Any:
    """Replace tensors/arrays in ``obj`` by references, collecting them in ``tensors``."""
    if isinstance(obj, torch.Tensor):
        tensors[path] = obj.detach().to("cpu").contiguous().clone()
        return {"__tensor__": path}
    if isinstance(obj, np.ndarray):
        tensors[path] = torch.from_numpy(np.ascontiguousarray(obj).copy())
        return {"__ndarray__": path}
    if isinstance(obj, dict):
        if not all(isinstance(k, (str, int)) for k in obj):
            raise TypeError(f"{path}: checkpoint dict keys must be str or int")
        return {"__dict__": [[k, _pack(v, tensors, f"{path}.{k}" if path else str(k))] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        items = [_pack(v, tensors, f"{path}.{i}") for i, v in enumerate(obj)]
        return {"__tuple__": items} if isinstance(obj, tuple) else items
    if isinstance(obj, (np.integer, np.floating, np.bool_)):
        return obj.item()
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"{path}: cannot store {type(obj).__name__} in a checkpoint")


def _unpack(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, dict):
        if "__tensor__" in obj:
            return tensors[obj["__tensor__"]]
        if "__ndarray__" in obj:
            return tensors[obj["__ndarray__"]].numpy()
        if "__tuple__" in obj:
            return tuple(_unpack(v, tensors) for v in obj["__tuple__"])
        if "__dict__" in obj:
            return {k: _unpack(v, tensors) for k, v in obj["__dict__"]}
        raise CheckpointError(f"unknown node in checkpoint tree: {sorted(obj)}")
    if isinstance(obj, list):
        return [_unpack(v, tensors) for v in obj]
    return obj


def _content_sha256(tensors: dict[str, torch.Tensor], tree_json: str) -> str:
    h = hashlib.sha256(tree_json.encode("utf-8"))
    for name in sorted(tensors):
        t = tensors[name]
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def checkpoint_bytes(tree: dict[str, Any]) -> bytes:
    tensors: dict[str, torch.Tensor] = {}
    packed = _pack(tree, tensors, "")
    tree_json = json.dumps(packed, separators=(",", ":"))
    metadata = {
        _TREE_KEY: tree_json,
        _SUM_KEY: _content_sha256(tensors, tree_json),
        _VERSION_KEY: str(SCHEMA_VERSION),
    }
    return st_save(tensors, metadata=metadata)


def save_checkpoint(path: str | os.PathLike, tree: dict[str, Any]) -> None:
    """Write ``tree`` atomically to ``path`` (a ``.safetensors`` file)."""
    atomic_write_bytes(path, checkpoint_bytes(tree))


def _read_metadata(data: bytes, path: Path) -> dict[str, str]:
    if len(data) < 8:
        raise CheckpointError(f"{path}: truncated checkpoint ({len(data)} bytes)")
    (header_len,) = struct.unpack("<Q", data[:8])
    if header_len > len(data) - 8:
        raise CheckpointError(f"{path}: truncated checkpoint (header says {header_len} bytes)")
    try:
        header = json.loads(data[8 : 8 + header_len])
    except (ValueError, RecursionError):  # bad JSON or UTF-8
        raise CheckpointError(f"{path}: corrupt checkpoint header") from None
    meta = header.get("__metadata__") if isinstance(header, dict) else None
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise CheckpointError(f"{path}: not a ganatomy checkpoint (no ganatomy metadata)")
    return meta


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint written by ``save_checkpoint`` and verify its checksum."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read ({e.strerror or e})") from None
    meta = _read_metadata(data, path)
    if _TREE_KEY not in meta or _SUM_KEY not in meta:
        raise CheckpointError(f"{path}: not a ganatomy checkpoint (no ganatomy metadata)")
    version = meta.get(_VERSION_KEY, "0")
    if not version.isdigit():
        raise CheckpointError(f"{path}: corrupt checkpoint header (schema {version!r})")
    if int(version) > SCHEMA_VERSION:
        raise CheckpointError(f"{path}: written by a newer ganatomy (schema {version}); upgrade ganatomy")
    try:
        tensors = st_load(data)
    except Exception as e:  # safetensors raises its own error types for bad bodies
        raise CheckpointError(f"{path}: corrupt checkpoint body ({e})") from None
    if _content_sha256(tensors, meta[_TREE_KEY]) != meta[_SUM_KEY]:
        raise CheckpointError(f"{path}: checksum mismatch, the file is corrupt")
    return _unpack(json.loads(meta[_TREE_KEY]), tensors)
