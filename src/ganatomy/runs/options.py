"""One typed options tree per command.

Options are plain (nested) dataclasses. They are built from dicts strictly: an unknown key, a
missing required key or a value of the wrong type is an ``OptionsError`` naming the dotted key.
The resolved tree is written to ``options.json`` in the run directory, and a run can be re-created
from that file alone.
"""

from __future__ import annotations

import dataclasses
import json
import os
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from ganatomy.errors import OptionsError
from ganatomy.utils.atomic import atomic_write_text

T = TypeVar("T")


def options_to_dict(options: Any) -> dict:
    return dataclasses.asdict(options)


def _convert(value: Any, hint: Any, key: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _convert(value, arg, key)
            except OptionsError as e:
                errors.append(str(e))
        raise OptionsError(f"{key}: {value!r} is not one of {hint}")
    if origin is typing.Literal:
        if value not in args:
            raise OptionsError(f"{key}: {value!r} is not one of {', '.join(map(repr, args))}")
        return value
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise OptionsError(f"{key}: expected a mapping of options, got {type(value).__name__}")
        return options_from_dict(hint, value, prefix=key + ".")
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise OptionsError(f"{key}: expected a list, got {value!r}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise OptionsError(f"{key}: expected {len(args)} values, got {len(value)}")
            return tuple(_convert(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
        item = args[0] if args else Any
        seq = [_convert(v, item, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(seq) if origin is tuple else seq
    if origin is dict:
        if not isinstance(value, dict):
            raise OptionsError(f"{key}: expected a mapping, got {value!r}")
        return dict(value)
    if hint is bool:
        if not isinstance(value, bool):
            raise OptionsError(f"{key}: expected true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise OptionsError(f"{key}: expected an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise OptionsError(f"{key}: expected a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise OptionsError(f"{key}: expected a string, got {value!r}")
        return value
    return value


def options_from_dict(cls: type[T], data: dict, prefix: str = "") -> T:
    """Build dataclass ``cls`` from ``data``; unknown keys and wrong types are errors."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls} is not a dataclass")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        known = ", ".join(sorted(fields))
        raise OptionsError(f"unknown option {prefix}{unknown[0]!s}; known options are: {known}")
    kwargs = {}
    for name, value in data.items():
        kwargs[name] = _convert(value, hints[name], prefix + name)
    missing = [
        n for n, f in fields.items()
        if n not in kwargs and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise OptionsError(f"missing option {prefix}{missing[0]}")
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as e:  # __post_init__ validation
        raise OptionsError(f"{prefix or cls.__name__}: {e}") from None


def options_json(options: Any) -> str:
    return json.dumps(options_to_dict(options), indent=2, sort_keys=False) + "\n"


def dump_options(options: Any, path: str | os.PathLike) -> None:
    atomic_write_text(path, options_json(options))


def load_options(cls: type[T], path: str | os.PathLike) -> T:
    path = Path(path)
    if not path.is_file():
        raise OptionsError(f"{path}: options file not found")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise OptionsError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise OptionsError(f"{path}: expected a JSON object of options")
    return options_from_dict(cls, data)


def merge_options(base: dict, overrides: dict) -> dict:
    """``base`` with ``overrides`` laid over it, nested mappings merged key by key."""
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_options(merged[key], value)
        else:
            merged[key] = value
    return merged


def parse_assignments(assignments: list[str] | tuple[str, ...]) -> dict:
    """``["loss.r1_gamma=2", "network.d_overrides.mbstd_group=8"]`` as a nested dict.

    A value is read as JSON when it parses (numbers, true/false, null, lists, objects) and as a
    string otherwise, so ``data=world:64`` needs no quotes.
    """
    tree: dict = {}
    for assignment in assignments:
        key, sep, text = assignment.partition("=")
        if not sep or not key.strip():
            raise OptionsError(f"--set {assignment!r}: expected KEY=VALUE, e.g. loss.r1_gamma=2")
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        tree = merge_options(tree, nested_option(key.strip(), value))
    return tree


def nested_option(dotted: str, value: Any) -> dict:
    """``nested_option("loss.r1_gamma", 2)`` is ``{"loss": {"r1_gamma": 2}}``."""
    *parents, leaf = dotted.split(".")
    node: dict = {leaf: value}
    for part in reversed(parents):
        node = {part: node}
    return node
