"""Directions files: ``load(path, G)`` reads one and refuses it for another generator than its own."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ganatomy.base import describe_generator
from ganatomy.errors import OptionsError
from ganatomy.latent import Directions

# The file a run directory keeps its directions in.
DIRECTIONS_FILE = "directions.safetensors"


def directions_path(path: str | os.PathLike) -> Path:
    """A directions file, or the one inside a ``ganatomy directions fit`` run directory."""
    path = Path(path)
    return path / DIRECTIONS_FILE if path.is_dir() else path


def check_generator(directions: Directions, G: Any, where: str = "directions") -> None:
    """A one-line OptionsError unless ``G`` is the generator the directions were fitted on."""
    fitted_on = directions.meta.get("generator")
    if not fitted_on:
        return
    given = describe_generator(G)
    for key, what in (("config_sha256", "architecture differs"), ("weights_sha256", "weights differ")):
        if fitted_on.get(key) != given[key]:
            label = fitted_on.get("name") or fitted_on.get("kind")
            raise OptionsError(f"{where}: fitted on another generator ({label}): the {what}")
    if directions.space not in G.latent_spaces:
        raise OptionsError(f"{where}: directions in {directions.space!r}, which {G.kind} does not have")


def load(path: str | os.PathLike, G: Any = None) -> Directions:
    """The directions in ``path`` (a file or a run directory); with ``G``, checked to belong to it."""
    path = directions_path(path)
    directions = Directions.load(path)
    if G is not None:
        check_generator(directions, G, str(path))
    return directions
