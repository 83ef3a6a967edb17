"""Registries by short name: training objectives, latent priors, discriminator head kinds.

A checkpoint or an options file names a registered kind ("gan", "mapping", "linear"), never a
module path, so moving code never breaks old files. Names are short lowercase words
(``[a-z][a-z0-9_-]*``); registering the same value twice under one name is a no-op (a module
imported again), registering another value under a taken name is an error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, TypeVar

from ganatomy.errors import OptionsError

V = TypeVar("V")

_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")


def add_entry(table: dict[str, V], what: str, name: str, value: V) -> V:
    """Put ``value`` into ``table`` under ``name``; returns ``value``."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise OptionsError(f"{what} name {name!r}: use a short lowercase name such as 'my-{what.split()[-1]}'")
    taken = table.get(name)
    if taken is not None and taken is not value:
        raise OptionsError(f"{what} {name!r} is already registered (by {_describe(taken)})")
    table[name] = value
    return value


def get_entry(table: Mapping[str, V], what: str, name: Any, hint: str = "") -> V:
    """``table[name]``, or a one-line error listing the known names (and ``hint``)."""
    if isinstance(name, str) and name in table:
        return table[name]
    known = ", ".join(sorted(table)) or "none"
    raise OptionsError(f"unknown {what} {name!r}; known: {known}{hint}")


def _describe(value: Any) -> str:
    return f"{getattr(value, '__module__', '?')}.{getattr(value, '__qualname__', type(value).__name__)}"
