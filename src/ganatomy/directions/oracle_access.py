"""The world oracle, imported lazily (its package is ganatomy.oracle; older trees had ganatomy.metrics.oracle)."""

from __future__ import annotations

import importlib
from typing import Any

from ganatomy.errors import OptionsError

_PACKAGES = ("ganatomy.oracle", "ganatomy.metrics.oracle")


def oracle_package() -> Any:
    for name in _PACKAGES:
        try:
            return importlib.import_module(name)
        except ModuleNotFoundError:
            continue
    raise OptionsError("the world oracle package is not installed (ganatomy.oracle)")


def world_oracle(resolution: int) -> Any:
    """The shipped world oracle closest to ``resolution`` (images are resized to it)."""
    name = "world64" if resolution >= 64 else "world32"
    return oracle_package().load_oracle(name)


def circular(factor: Any) -> bool:
    return bool(oracle_package().is_circular(factor))
