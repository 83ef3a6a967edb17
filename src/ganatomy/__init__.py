"""ganatomy: take a GAN apart and find what it knows, with few or no labels."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

# Names served lazily, so that ``import ganatomy`` (the CLI's start) does not import torch.
_LAZY = {"load_generator": "ganatomy.nets.load"}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'ganatomy' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
