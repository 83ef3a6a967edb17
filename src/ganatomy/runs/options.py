"""One typed options tree per command.

Options are plain (nested) dataclasses. They are built from dicts strictly: an unknown key, a
missing required key or a value of the wrong type is an ``OptionsError`` naming the dotted key.
The resolved tree is written to ``options.json`` in the run directory, and a run can be re-created
from that file alone.

A numeric option declares the values it may take once, with ``option(default, ge=..., lt=...)``;
``check_values`` (called from each dataclass's ``__post_init__``) refuses any other value, NaN and
infinities always, and empty strings, so that an options file, ``--set`` and a flag get the same
checks, and the fault-injection bench can generate the bad values from the same declarations.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from ganatomy.errors import OptionsError
from ganatomy.utils.atomic import atomic_write_text

T = TypeVar("T")


BOUNDS = "bounds"  # the dataclass field metadata key of an option's Bounds


@dataclasses.dataclass(frozen=True)
class Bounds:
    """The numbers an option may take (``ge``: at least, ``gt``: above, ...); never NaN or infinite."""

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None

    def contains(self, x: float) -> bool:
        if isinstance(x, float) and not math.isfinite(x):
            return False
        return (
            (self.ge is None or x >= self.ge)
            and (self.gt is None or x > self.gt)
            and (self.le is None or x <= self.le)
            and (self.lt is None or x < self.lt)
        )

    def __str__(self) -> str:
        limits = ((">=", self.ge), (">", self.gt), ("<=", self.le), ("<", self.lt))
        return (
            " and ".join(
                f"{op} {limit:g}" if isinstance(limit, float) else f"{op} {limit}"
                for op, limit in limits
                if limit is not None
            )
            or "finite"
        )


def option(
    default: Any = dataclasses.MISSING,
    *,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    default_factory: Any = dataclasses.MISSING,
) -> Any:
    """A dataclass field whose numbers (each item of a tuple) must lie within the given bounds."""
    return dataclasses.field(
        default=default, default_factory=default_factory, metadata={BOUNDS: Bounds(ge=ge, gt=gt, le=le, lt=lt)}
    )


def field_bounds(field: dataclasses.Field) -> Bounds:
    """A field's declared bounds; a number without any must still be finite."""
    return field.metadata.get(BOUNDS, Bounds())


class OptionValueError(ValueError):
    """An option value outside what its field declares; ``options_from_dict`` adds the dotted prefix."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key} {problem}")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def shown_value(value: Any) -> str:
    """``repr`` for an error message, short even for an integer of thousands of digits."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value).bit_length() > 64:
        return f"a {abs(value).bit_length()}-bit integer"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check_values(options: Any) -> None:
    """Refuse numbers outside their field's bounds (NaN and infinities always), empty strings and NUL bytes."""
    for field in dataclasses.fields(options):
        value = getattr(options, field.name)
        for item in value if isinstance(value, (list, tuple)) else (value,):
            if isinstance(item, str) and not item.strip():
                raise OptionValueError(field.name, "must not be empty")
            if isinstance(item, str) and "\x00" in item:
                raise OptionValueError(field.name, f"must not hold a NUL byte, got {shown_value(item)}")
            if _is_number(item) and not field_bounds(field).contains(item):
                raise OptionValueError(field.name, f"must be {field_bounds(field)}, got {shown_value(value)}")


def replace_options(options: T, **changes: Any) -> T:
    """``dataclasses.replace`` with a one-line OptionsError for a refused value."""
    try:
        return dataclasses.replace(options, **changes)
    except OptionValueError as e:
        raise OptionsError(str(e)) from None


def options_to_dict(options: Any) -> dict:
    return dataclasses.asdict(options)


def _convert(value: Any, hint: Any, key: str) -> Any:
    origin = typing.get_origin(hint) or (hint if hint in (dict, list, tuple) else None)  # bare dict: a mapping
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
        if len(errors) == 1:  # X | None: X's own message says what was expected
            raise OptionsError(errors[0])
        raise OptionsError(f"{key}: {shown_value(value)} is not one of {hint}")
    if origin is typing.Literal:
        if value not in args:
            raise OptionsError(f"{key}: {shown_value(value)} is not one of {', '.join(map(repr, args))}")
        return value
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise OptionsError(f"{key}: expected a mapping of options, got {type(value).__name__}")
        return options_from_dict(hint, value, prefix=key + ".")
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise OptionsError(f"{key}: expected a list, got {shown_value(value)}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise OptionsError(f"{key}: expected {len(args)} values, got {len(value)}")
            return tuple(_convert(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
        item = args[0] if args else Any
        seq = [_convert(v, item, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(seq) if origin is tuple else seq
    if origin is dict:
        if not isinstance(value, dict):
            raise OptionsError(f"{key}: expected a mapping, got {shown_value(value)}")
        return dict(value)
    if hint is bool:
        if not isinstance(value, bool):
            raise OptionsError(f"{key}: expected true or false, got {shown_value(value)}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise OptionsError(f"{key}: expected an integer, got {shown_value(value)}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise OptionsError(f"{key}: expected a number, got {shown_value(value)}")
        try:
            return float(value)
        except OverflowError:  # an integer beyond any float
            raise OptionsError(f"{key}: a {abs(value).bit_length()}-bit integer is too large for a number") from None
    if hint is str:
        if not isinstance(value, str):
            raise OptionsError(f"{key}: expected a string, got {shown_value(value)}")
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
        n
        for n, f in fields.items()
        if n not in kwargs and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise OptionsError(f"missing option {prefix}{missing[0]}")
    try:
        return cls(**kwargs)
    except OptionValueError as e:  # check_values names the field: add where it sits in the tree
        raise OptionsError(f"{prefix}{e}") from None
    except (ValueError, TypeError) as e:  # other __post_init__ validation
        raise OptionsError(f"{prefix or cls.__name__}: {e}") from None


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200] or type(exc).__name__


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
    except (ValueError, RecursionError) as e:  # JSONDecodeError, bad UTF-8, an int of 5000 digits, deep nesting
        raise OptionsError(f"{path}: not valid JSON ({_one_line(e)})") from None
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
        except (ValueError, RecursionError):  # not JSON: the text itself
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
