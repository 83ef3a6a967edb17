"""The estimator base every analysis method builds on (scikit-learn's shape, without pickles).

- Parameters are the ``__init__`` arguments, stored unchanged under their own names (no validation
  in ``__init__``: it belongs in ``fit``); ``get_params`` / ``set_params`` / ``clone`` read the
  names from the ``__init__`` signature.
- What ``fit`` learns lives in public attributes whose names end with an underscore
  (``directions_``, ``classifiers_``); ``check_fitted`` raises a one-line ``NotFittedError``
  while there are none. ``fit`` records the generator it ran on as ``generator_ =
  describe_generator(G)`` so that a saved estimator says what it belongs to.
- ``save(path)`` writes the parameters and the fitted state as one ganatomy checkpoint
  (safetensors body for tensors and arrays, JSON for the rest, SHA-256, atomic write:
  ``ganatomy.runs.checkpoint``); ``Cls.load(path)`` rebuilds it. Fitted attributes that are
  networks or other objects are declared in ``fitted_types``: a network is stored as its
  ``config()`` and state dict, any other type through its ``to_tree()`` / ``from_tree()``.
  No class name is read from a file and imported: the loading class decides what it rebuilds.

A file of another estimator class, of another ``state_version`` or a damaged file is a one-line
``CheckpointError``.
"""

from __future__ import annotations

import copy
import hashlib
import inspect
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from torch import nn

import ganatomy
from ganatomy.errors import CheckpointError, NotFittedError, OptionsError
from ganatomy.runs.checkpoint import load_checkpoint, save_checkpoint

FORMAT = "ganatomy-estimator"
# Version of the file layout written by Estimator.save (the tree below); each class versions its own
# fitted state with ``state_version``.
FORMAT_VERSION = 1

E = TypeVar("E", bound="Estimator")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def config_sha256(kind: str, config: Mapping[str, Any]) -> str:
    """SHA-256 of a network's (kind, config) as canonical JSON: equal for equal architectures."""
    blob = json.dumps({"kind": kind, "config": config}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def describe_generator(G: Any, name: str | None = None) -> dict[str, Any]:
    """The identity of a generator, for an estimator's ``generator_``.

    ``name`` is where it came from (a zoo name or a snapshot path), when the caller knows it. The
    weights hash is over the state dict (names, dtypes, shapes, bytes); generators that are not
    torch modules (test stubs) have none.
    """
    config = G.config()
    identity: dict[str, Any] = {
        "kind": str(G.kind),
        "name": name,
        "config": config,
        "config_sha256": config_sha256(str(G.kind), config),
        "weights_sha256": None,
    }
    if isinstance(G, nn.Module):
        from ganatomy.utils.hashing import module_sha256  # the project's one state-dict hash

        identity["weights_sha256"] = module_sha256(G)
    return identity


class Estimator:
    """Base class of the analysis methods: parameters in ``__init__``, fitted state with a trailing underscore.

    Subclasses write an ``__init__`` with explicit keyword parameters (no ``*args`` / ``**kwargs``)
    that stores each one as ``self.<name>``; ``fit`` sets the ``<name>_`` attributes and returns
    ``self``. Bump ``state_version`` when the meaning or layout of the fitted state changes, so
    that older files are refused instead of misread.
    """

    state_version: ClassVar[int] = 1
    # Fitted attributes that are not tensors, arrays or JSON values: name -> type to rebuild.
    fitted_types: ClassVar[Mapping[str, type]] = {}

    # ------------------------------------------------------------------ parameters
    @classmethod
    def _param_names(cls) -> list[str]:
        signature = inspect.signature(cls.__init__)
        names = []
        for p in list(signature.parameters.values())[1:]:  # skip self
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                raise TypeError(f"{cls.__name__}.__init__ must list its parameters explicitly, not *{p.name}")
            names.append(p.name)
        return names

    def get_params(self) -> dict[str, Any]:
        """The constructor parameters, by name, as currently set."""
        params = {}
        for name in self._param_names():
            if not hasattr(self, name):
                raise TypeError(f"{type(self).__name__}.__init__ must store its parameter {name!r} as self.{name}")
            params[name] = getattr(self, name)
        return params

    def set_params(self: E, **params: Any) -> E:
        """Change parameters (the fitted state is left as it is: refit to use them). Returns self."""
        known = self._param_names()
        for name, value in params.items():
            if name not in known:
                raise OptionsError(f"{type(self).__name__}: unknown parameter {name!r}; parameters: {', '.join(known)}")
            setattr(self, name, value)
        return self

    def clone(self: E) -> E:
        """A new, unfitted estimator with copies of the same parameters."""
        return type(self)(**copy.deepcopy(self.get_params()))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    # ------------------------------------------------------------------ fitted state
    def fitted_attributes(self) -> list[str]:
        """Names of the learned attributes (public, ending with ``_``), in the order they were set."""
        return [k for k in vars(self) if k.endswith("_") and not k.startswith("_")]

    def is_fitted(self) -> bool:
        return bool(self.fitted_attributes())

    def check_fitted(self) -> None:
        """Raise ``NotFittedError`` unless ``fit`` has run."""
        if not self.is_fitted():
            raise NotFittedError(f"{type(self).__name__} is not fitted yet; call fit() first (or load a saved one)")

    def check_same_generator(self, G: Any) -> None:
        """Raise ``OptionsError`` if ``G`` is not the generator this estimator was fitted on."""
        self.check_fitted()
        fitted_on = getattr(self, "generator_", None)
        if fitted_on is None:
            return
        given = describe_generator(G)
        for key in ("config_sha256", "weights_sha256"):
            if fitted_on.get(key) != given[key]:
                what = "architecture differs" if key == "config_sha256" else "weights differ"
                fitted_name = fitted_on.get("name") or fitted_on.get("kind")
                raise OptionsError(f"{type(self).__name__} was fitted on another generator ({fitted_name}): the {what}")

    # ------------------------------------------------------------------ save / load
    @classmethod
    def _identity(cls) -> str:
        return f"{cls.__module__}.{cls.__qualname__}"

    def _pack_fitted(self, name: str, value: Any) -> Any:
        if name not in self.fitted_types:
            if isinstance(value, nn.Module):
                raise TypeError(f"{type(self).__name__}.{name} is a network: declare its class in fitted_types")
            return value
        if isinstance(value, nn.Module):
            return {"config": value.config(), "state": value.state_dict()}
        return value.to_tree()

    @classmethod
    def _unpack_fitted(cls, name: str, tree: Any) -> Any:
        kind = cls.fitted_types.get(name)
        if kind is None:
            return tree
        if issubclass(kind, nn.Module):
            module = kind(**tree["config"])
            module.load_state_dict(tree["state"])
            return module.eval()
        return kind.from_tree(tree)

    def save(self, path: str | os.PathLike) -> Path:
        """Write the parameters and the fitted state to ``path`` (atomically); returns the path."""
        self.check_fitted()
        path = Path(path)
        try:
            tree = {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "estimator": self._identity(),
                "state_version": self.state_version,
                "ganatomy_version": ganatomy.__version__,
                "params": self.get_params(),
                "fitted": {name: self._pack_fitted(name, getattr(self, name)) for name in self.fitted_attributes()},
            }
            save_checkpoint(path, tree)
        except TypeError as e:  # a parameter or fitted value that has no file representation
            raise CheckpointError(f"{path}: cannot save {type(self).__name__}: {_one_line(e)}") from None
        return path

    @classmethod
    def load(cls: type[E], path: str | os.PathLike) -> E:
        """The estimator saved at ``path``; it must have been saved by this class, at its ``state_version``."""
        path = Path(path)
        tree = load_checkpoint(path)  # CheckpointError for a missing, truncated or corrupt file
        if tree.get("format") != FORMAT:
            raise CheckpointError(f"{path}: not a saved estimator (format {tree.get('format')!r})")
        if tree.get("format_version") != FORMAT_VERSION:
            raise CheckpointError(
                f"{path}: estimator file layout {tree.get('format_version')}, this ganatomy reads {FORMAT_VERSION}"
            )
        if tree.get("estimator") != cls._identity():
            raise CheckpointError(f"{path}: holds a {tree.get('estimator')}, not a {cls._identity()}")
        if tree.get("state_version") != cls.state_version:
            raise CheckpointError(
                f"{path}: {cls.__name__} state version {tree.get('state_version')}, this ganatomy reads "
                f"{cls.state_version} (written by ganatomy {tree.get('ganatomy_version')}); refit it"
            )
        params, fitted = tree.get("params"), tree.get("fitted")
        if not isinstance(params, dict) or not isinstance(fitted, dict):
            raise CheckpointError(f"{path}: estimator file without params or fitted state")
        unknown = sorted(set(params) - set(cls._param_names()))
        if unknown:
            raise CheckpointError(f"{path}: {cls.__name__} has no parameter {unknown[0]!r}")
        try:
            estimator = cls(**params)
            for name, value in fitted.items():
                setattr(estimator, name, cls._unpack_fitted(name, value))
        except (TypeError, KeyError, RuntimeError, OptionsError) as e:
            raise CheckpointError(f"{path}: cannot rebuild {cls.__name__} ({_one_line(e)})") from None
        return estimator
