"""The world oracle, imported lazily: the directions package loads without it, and only the
world-alignment measurements need it."""

from __future__ import annotations

import importlib
from typing import Any


def oracle_package() -> Any:
    return importlib.import_module("ganatomy.oracle")


def world_oracle(resolution: int) -> Any:
    """The shipped world oracle closest to ``resolution`` (images are resized to it)."""
    name = "world64" if resolution >= 64 else "world32"
    return oracle_package().load_oracle(name)


def reader_or_oracle(reader: Any, resolution: int) -> Any:
    """``reader`` when given, else the shipped world oracle for images of ``resolution``."""
    return world_oracle(resolution) if reader is None else reader


def circular(factor: Any) -> bool:
    return bool(oracle_package().is_circular(factor))
