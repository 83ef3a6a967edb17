"""Latent directions: K vectors in one latent space, the one file format every direction method writes.

A :class:`Directions` holds ``vectors`` [K, D] in space ``'z'``, ``'w'`` or ``'w+'``, the method that
found them, optional names (``"smile"``) and free JSON metadata. For ``'w+'`` a direction is one
D-vector added to every W+ row, or only to the rows in ``layers`` (StyleGAN's style-mixing ranges:
coarse rows move pose, fine rows move colour)::

    z/w:   latents [N, D]     -> latents + shift * vectors[index]
    w+:    latents [N, L, D]  -> rows r in layers: latents[:, r] + shift * vectors[index]

``index`` and ``shift`` are either one value for the whole batch or one per sample (what Voynov &
Babenko's training draws). Files are ganatomy checkpoints (safetensors + JSON, atomic writes).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from ganatomy.errors import CheckpointError, OptionsError
from ganatomy.nets._checks import ShapeError, check_input
from ganatomy.nets.protocol import SPACES
from ganatomy.runs.checkpoint import load_checkpoint, save_checkpoint

FORMAT = "ganatomy-directions"
VERSION = 1


Layers = Sequence[int] | Sequence[bool] | torch.Tensor | None


def _row_indices(layers: Layers) -> tuple[tuple[int, ...] | None, int | None]:
    """(sorted W+ row indices, number of rows a boolean mask implies) from a range, a list or a mask."""
    if layers is None:
        return None, None
    values = layers.tolist() if isinstance(layers, torch.Tensor) else list(layers)
    if values and all(isinstance(v, bool) for v in values):  # a mask over the rows
        rows = tuple(i for i, keep in enumerate(values) if keep)
        if not rows:
            raise OptionsError("directions: the layer mask selects no W+ row")
        return rows, len(values)
    if not values or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in values):
        raise OptionsError(f"directions: layers must be W+ row indices >= 0 or a boolean mask, got {values!r}")
    return tuple(sorted(set(values))), None


LAYER_GROUPS = ("coarse", "middle", "fine")


def layer_groups(num_ws: int) -> dict[str, tuple[int, ...]]:
    """StyleGAN's style-mixing ranges as W+ rows: the first, middle and last third (coarse, middle, fine).

    For 8 rows (a 32x32 StyleGAN2): coarse 0-1 (the 4x4 and 8x8 layers), middle 2-4, fine 5-7.
    """
    if num_ws < 3:
        raise OptionsError(f"directions: layer groups need at least 3 W+ rows, the generator has {num_ws}")
    cuts = (0, num_ws // 3, 2 * num_ws // 3, num_ws)
    return {name: tuple(range(cuts[i], cuts[i + 1])) for i, name in enumerate(LAYER_GROUPS)}


class Directions:
    """K latent directions in one space.

    Args:
        vectors: [K, D] float tensor (stored on the CPU in its dtype; ``apply`` casts to the latents').
        space: 'z', 'w' or 'w+'.
        layers: W+ rows that a direction moves (a range, a list of row indices or a boolean mask
            over the rows); None moves every row. Only for space 'w+'.
        num_ws: rows of the W+ latents these directions are for (checked by ``apply``); implied by
            a boolean ``layers`` mask.
        method: what found them ('voynov', 'sefa', 'planted', ...).
        names: optional label per direction.
        meta: JSON-able metadata (settings, scores, the generator's identity).
    """

    def __init__(
        self,
        vectors: torch.Tensor,
        space: str = "w",
        layers: Layers = None,
        num_ws: int | None = None,
        method: str = "",
        names: Sequence[str] | None = None,
        meta: dict[str, Any] | None = None,
    ):
        if space not in SPACES:
            raise OptionsError(f"directions: unknown latent space {space!r}; use one of {', '.join(SPACES)}")
        vectors = torch.as_tensor(vectors)
        if vectors.ndim != 2 or not vectors.is_floating_point():
            got = f"{vectors.dtype} {list(vectors.shape)}"
            raise ShapeError(f"directions: vectors must be a float tensor [K, D], got {got}")
        if not torch.isfinite(vectors).all():
            raise OptionsError("directions: vectors hold NaN or Inf")
        rows, mask_rows = _row_indices(layers)
        if rows is not None and space != "w+":
            raise OptionsError(f"directions: layers select W+ rows, but the space is {space!r}")
        if mask_rows is not None:
            if num_ws is not None and num_ws != mask_rows:
                raise OptionsError(f"directions: the layer mask has {mask_rows} rows but num_ws is {num_ws}")
            num_ws = mask_rows
        if num_ws is not None and rows is not None and rows[-1] >= num_ws:
            raise OptionsError(f"directions: layer {rows[-1]} is out of range for {num_ws} W+ rows")
        if names is not None and len(names) != len(vectors):
            raise OptionsError(f"directions: {len(names)} names for {len(vectors)} directions")
        self.vectors = vectors.detach().to("cpu").clone()
        self.space = space
        self.layers = rows
        self.num_ws = None if num_ws is None else int(num_ws)
        self.method = str(method)
        self.names = None if names is None else [str(n) for n in names]
        self.meta = dict(meta or {})

    # ------------------------------------------------------------------ basics
    def __len__(self) -> int:
        return len(self.vectors)

    @property
    def dim(self) -> int:
        """D, the size of one latent (one W+ row for 'w+')."""
        return self.vectors.shape[1]

    def __repr__(self) -> str:
        layers = "" if self.layers is None else f", layers={list(self.layers)}"
        return f"Directions({len(self)} x {self.dim} in {self.space!r}{layers}, method={self.method!r})"

    def _replace(self, vectors: torch.Tensor, names: list[str] | None) -> Directions:
        return Directions(vectors, self.space, self.layers, self.num_ws, self.method, names, self.meta)

    def norms(self) -> torch.Tensor:
        """L2 norm of each direction [K]."""
        return self.vectors.norm(dim=1)

    def normalized(self) -> Directions:
        """A copy whose vectors have unit length (a zero vector cannot be normalised)."""
        norms = self.norms()
        if (norms == 0).any():
            raise OptionsError(f"directions: direction {int((norms == 0).nonzero()[0])} is zero and has no unit vector")
        return self._replace(self.vectors / norms[:, None], self.names)

    def select(self, indices: Sequence[int]) -> Directions:
        """The directions ``indices``, in that order."""
        indices = [self._check_index(i) for i in indices]
        names = None if self.names is None else [self.names[i] for i in indices]
        return self._replace(self.vectors[indices], names)

    def _check_index(self, index: int) -> int:
        if isinstance(index, bool) or not isinstance(index, int) or not -len(self) <= index < len(self):
            raise OptionsError(f"directions: index {index!r} is out of range for {len(self)} directions")
        return index % len(self)

    # ------------------------------------------------------------------ editing latents
    def _check_latents(self, latents: torch.Tensor) -> None:
        if self.space != "w+":
            check_input(latents, [None, self.dim], f"{self.space} latents")
            return
        check_input(latents, [None, self.num_ws, self.dim], "w+ latents")
        if self.layers is not None and self.layers[-1] >= latents.shape[1]:
            raise ShapeError(f"w+ latents: {latents.shape[1]} rows, but the directions move row {self.layers[-1]}")

    def _per_sample(self, value: torch.Tensor, n: int, what: str) -> torch.Tensor:
        if value.ndim == 0:
            return value.expand(n)
        if value.ndim != 1 or len(value) != n:
            raise ShapeError(f"directions: {what} must be one value or one per sample [{n}], got {list(value.shape)}")
        return value

    def _pick(self, vectors: torch.Tensor, index: int | torch.Tensor, n: int) -> torch.Tensor:
        """vectors[index] per sample [n, D], for one index or a tensor of indices."""
        if not isinstance(index, torch.Tensor) or index.ndim == 0:
            return vectors[self._check_index(int(index))].expand(n, -1)
        index = self._per_sample(index, n, "index")
        in_range = index.numel() == 0 or (int(index.min()) >= 0 and int(index.max()) < len(self))
        if index.is_floating_point() or not in_range:
            raise OptionsError(f"directions: per-sample indices must be integers in [0, {len(self)})")
        return vectors[index.to(vectors.device, torch.long)]

    def delta(
        self, index: int | torch.Tensor, shift: float | torch.Tensor, n: int, like: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``shift * vectors[index]`` per sample [n, D], in the dtype and device of ``like`` (differentiable
        in ``shift``). A Python ``shift`` is converted straight to that dtype, so float64 latents move
        by exactly ``shift``."""
        dtype = like.dtype if like is not None else self.vectors.dtype
        device = like.device if like is not None else self.vectors.device
        vectors = self._pick(self.vectors.to(device, dtype), index, n)
        if isinstance(shift, torch.Tensor):
            shift = shift.to(device, dtype)
        else:
            shift = torch.tensor(float(shift), dtype=dtype, device=device)
        return self._per_sample(shift, n, "shift")[:, None] * vectors

    def apply(self, latents: torch.Tensor, index: int | torch.Tensor, shift: float | torch.Tensor) -> torch.Tensor:
        """``latents`` moved by ``shift`` along direction ``index`` (a new tensor; see the module docstring)."""
        self._check_latents(latents)
        step = self.delta(index, shift, len(latents), like=latents)
        if self.space != "w+":
            return latents + step
        if self.layers is None:
            return latents + step[:, None, :]
        rows = torch.zeros(latents.shape[1], dtype=latents.dtype, device=latents.device)
        rows[list(self.layers)] = 1
        return latents + rows[None, :, None] * step[:, None, :]

    # ------------------------------------------------------------------ files
    def to_tree(self) -> dict[str, Any]:
        """A checkpoint tree (tensors and JSON values), as ``Estimator`` fitted state or a file."""
        return {
            "format": FORMAT,
            "version": VERSION,
            "vectors": self.vectors,
            "space": self.space,
            "layers": None if self.layers is None else list(self.layers),
            "num_ws": self.num_ws,
            "method": self.method,
            "names": self.names,
            "meta": self.meta,
        }

    @classmethod
    def from_tree(cls, tree: dict[str, Any], where: str = "directions") -> Directions:
        if not isinstance(tree, dict) or tree.get("format") != FORMAT:
            found = tree.get("format") if isinstance(tree, dict) else type(tree).__name__
            raise CheckpointError(f"{where}: not a directions file (format {found!r})")
        if tree.get("version") != VERSION:
            version = tree.get("version")
            raise CheckpointError(f"{where}: directions format version {version}, this ganatomy reads {VERSION}")
        try:
            return cls(
                tree["vectors"],
                tree["space"],
                tree["layers"],
                tree["num_ws"],
                tree["method"],
                tree["names"],
                tree["meta"],
            )
        except (KeyError, OptionsError, ShapeError) as e:
            raise CheckpointError(f"{where}: invalid directions ({e})") from None

    def save(self, path: str | os.PathLike) -> Path:
        """Write the directions to ``path`` (a .safetensors file, atomically); returns the path."""
        path = Path(path)
        save_checkpoint(path, self.to_tree())
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Directions:
        return cls.from_tree(load_checkpoint(path), str(path))
