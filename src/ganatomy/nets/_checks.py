"""Shape checks at block boundaries.

``assert_shape`` guards the networks' own invariants: a failure is a bug in ganatomy, so it is an
``AssertionError``. ``check_input`` guards what a user hands in (latents, labels, images): a
failure is the user's, so it is a one-line ``ShapeError`` (a ``GanatomyError``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ganatomy.errors import GanatomyError


class ShapeError(GanatomyError, ValueError):
    """A tensor handed to a network has the wrong shape."""


def _matches(tensor: torch.Tensor, shape: Sequence[int | None]) -> bool:
    return tensor.ndim == len(shape) and all(s is None or s == t for t, s in zip(tensor.shape, shape))


def _fmt(shape: Sequence[int | None]) -> str:
    return "[" + ", ".join("*" if s is None else str(s) for s in shape) + "]"


def assert_shape(tensor: torch.Tensor, shape: Sequence[int | None], name: str = "tensor") -> None:
    """Internal invariant: ``tensor`` has ``shape`` (``None`` matches any size)."""
    if not _matches(tensor, shape):
        raise AssertionError(f"{name}: expected shape {_fmt(shape)}, got {list(tensor.shape)}")


def check_input(tensor: torch.Tensor, shape: Sequence[int | None], name: str) -> None:
    """User input: ``tensor`` has ``shape``, else a one-line ``ShapeError``."""
    if not isinstance(tensor, torch.Tensor):
        raise ShapeError(f"{name}: expected a tensor of shape {_fmt(shape)}, got {type(tensor).__name__}")
    if not _matches(tensor, shape):
        raise ShapeError(f"{name}: expected shape {_fmt(shape)}, got {list(tensor.shape)}")
