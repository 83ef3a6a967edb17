"""The world's registries: its generative factors and its part labels.

Later code (oracles, metrics, reports) reads these tables instead of hard-coding names.

Factors, all sampled independently and uniformly (continuous: on ``[low, high]``; categorical: each
class with equal probability). Lengths are in image units (the image is the unit square, x to the
right, y down); hues are fractions of the colour circle (0 = red, 1/3 = green, 2/3 = blue).

==============  ===========  ====================  ==============================================
name            kind         range / classes       meaning
==============  ===========  ====================  ==============================================
head_x          continuous   [0.40, 0.60]          horizontal centre of the head
head_y          continuous   [0.44, 0.56]          vertical centre of the head
head_size       continuous   [0.27, 0.35]          head radius (half the head height)
rotation        continuous   [-0.35, 0.35]         in-plane head tilt in radians, + = clockwise
skin_hue        continuous   [0.02, 0.11]          skin hue (reds to yellow-oranges)
hair_hue        continuous   [0.18, 0.88]          hair hue (yellow-green .. blue .. magenta)
background_hue  continuous   [0.00, 1.00]          background hue, the full circle
smile           continuous   [-1.00, 1.00]         mouth curvature: -1 frown, 0 straight, +1 smile
eye_openness    continuous   [0.00, 1.00]          eye height: 0 narrow (still visible), 1 wide
hair_style      categorical  short/long/bun/fringe hair shape (the class label of the world)
glasses         categorical  off/on                glasses frames drawn over the eyes
==============  ===========  ====================  ==============================================

Skin and hair hue ranges do not overlap (hair stays at least 0.07 of the circle away from skin), and
each part has its own saturation and value, so colours can be read back by an oracle.

Part labels (mask values): 0 background, 1 skin (face and neck), 2 hair, 3 eyes, 4 mouth, 5 glasses.
"""

from __future__ import annotations

import dataclasses
import types
from typing import Literal

import numpy as np

from ganatomy.errors import OptionsError


@dataclasses.dataclass(frozen=True)
class Factor:
    """One generative factor of the world.

    Continuous factors have ``low``/``high`` (inclusive) and no classes; categorical factors have
    ``classes`` (values are int class indices ``0..len(classes)-1``) and ``low``/``high`` None.
    """

    name: str
    kind: Literal["continuous", "categorical"]
    low: float | None
    high: float | None
    classes: tuple[str, ...]
    description: str

    @property
    def is_categorical(self) -> bool:
        return self.kind == "categorical"

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def from_uniform(self, u: np.ndarray) -> np.ndarray:
        """Map uniform draws in [0, 1) to factor values: float64 for continuous, int64 class indices."""
        u = np.asarray(u, dtype=np.float64)
        if self.is_categorical:
            return np.minimum(np.floor(u * self.num_classes), self.num_classes - 1).astype(np.int64)
        return self.low + (self.high - self.low) * u

    def check(self, values: np.ndarray) -> np.ndarray:
        """Return ``values`` as this factor's dtype; OptionsError if any is outside its range."""
        values = np.asarray(values)
        if self.is_categorical:
            as_int = values.astype(np.int64)
            bad = (as_int != values) | (as_int < 0) | (as_int >= self.num_classes)
            if bad.any():
                raise OptionsError(
                    f"factor {self.name!r}: values must be class indices 0..{self.num_classes - 1}, "
                    f"got {values[bad].flat[0].item()!r}"
                )
            return as_int
        as_float = values.astype(np.float64)
        bad = ~((as_float >= self.low) & (as_float <= self.high))  # NaN is bad too
        if bad.any():
            raise OptionsError(
                f"factor {self.name!r}: value {as_float[bad].flat[0].item()!r} is outside [{self.low}, {self.high}]"
            )
        return as_float

    def describe_range(self) -> str:
        if self.is_categorical:
            return "/".join(self.classes)
        return f"[{self.low:g}, {self.high:g}]"


def _continuous(name: str, low: float, high: float, description: str) -> Factor:
    return Factor(name, "continuous", low, high, (), description)


def _categorical(name: str, classes: tuple[str, ...], description: str) -> Factor:
    return Factor(name, "categorical", None, None, classes, description)


# The order is part of the world's definition: draw k of a seed's stream goes to factor k.
FACTORS: tuple[Factor, ...] = (
    _continuous("head_x", 0.40, 0.60, "horizontal centre of the head, fraction of the image width"),
    _continuous("head_y", 0.44, 0.56, "vertical centre of the head, fraction of the image height (down)"),
    _continuous("head_size", 0.27, 0.35, "head radius (half the head height), fraction of the image side"),
    _continuous("rotation", -0.35, 0.35, "in-plane head tilt about its centre, radians, positive = clockwise"),
    _continuous("skin_hue", 0.02, 0.11, "hue of the skin (face and neck), fraction of the colour circle"),
    _continuous("hair_hue", 0.18, 0.88, "hue of the hair, fraction of the colour circle"),
    _continuous("background_hue", 0.0, 1.0, "hue of the flat background, fraction of the colour circle"),
    _continuous("smile", -1.0, 1.0, "mouth curvature: -1 frown, 0 straight, +1 smile"),
    _continuous("eye_openness", 0.0, 1.0, "eye height: 0 narrow (still visible), 1 wide open"),
    _categorical("hair_style", ("short", "long", "bun", "fringe"), "hair shape; the world's class label"),
    _categorical("glasses", ("off", "on"), "glasses frames over the eyes"),
)

FACTORS_BY_NAME: types.MappingProxyType[str, Factor] = types.MappingProxyType({f.name: f for f in FACTORS})

# The >=4-class categorical factor that datasets use as their class label.
LABEL_FACTOR = "hair_style"


@dataclasses.dataclass(frozen=True)
class PartLabel:
    """One value of the part mask: its name and the RGB colour used to draw colour-coded masks."""

    index: int
    name: str
    color: tuple[int, int, int]


PARTS: tuple[PartLabel, ...] = (
    PartLabel(0, "background", (0, 0, 0)),
    PartLabel(1, "skin", (240, 190, 140)),
    PartLabel(2, "hair", (150, 60, 200)),
    PartLabel(3, "eyes", (40, 130, 255)),
    PartLabel(4, "mouth", (230, 30, 60)),
    PartLabel(5, "glasses", (250, 230, 40)),
)

PART_LABELS: tuple[str, ...] = tuple(p.name for p in PARTS)


def part_index(name: str) -> int:
    """Mask value of the part called ``name``."""
    try:
        return PART_LABELS.index(name)
    except ValueError:
        raise OptionsError(f"unknown part {name!r}; known: {', '.join(PART_LABELS)}") from None


def part_palette() -> np.ndarray:
    """uint8 [num_labels, 3] colours for colour-coded masks (a fresh array each call)."""
    return np.array([p.color for p in PARTS], dtype=np.uint8)


def factor(name: str) -> Factor:
    """The registry entry of factor ``name``; OptionsError naming the known ones otherwise."""
    try:
        return FACTORS_BY_NAME[name]
    except KeyError:
        raise OptionsError(f"unknown factor {name!r}; known: {', '.join(FACTORS_BY_NAME)}") from None
