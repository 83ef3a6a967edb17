"""The procedural face renderer: factors in, RGB images and per-pixel part masks out.

Every part is a signed-distance function (negative inside) evaluated on the pixel grid for a whole
batch at once ([B, H, W] float32 arrays). Coverage is analytic, ``clip(0.5 - sdf / pixel, 0, 1)``,
which anti-aliases edges without supersampling. Layers are composited back to front:

    background, hair (back: long hair, bun), skin (face + neck), hair (front: cap and fringe),
    eyes, mouth, glasses

and the mask holds the label of the top-most layer whose coverage is at least 0.5.

Geometry lives in *head units*: the head radius is 1, ``u`` points right and ``v`` down, and the
head's rotation and position are applied by transforming the pixel coordinates into that frame.
Scene coordinates are resolution-free (the image is the unit square), so 32x32 and 64x64 renders
of one seed show the same face.

Determinism: factors come from a seed's PCG64 stream (raw 64-bit draws, converted here, so no
distribution code of numpy is involved), and the pixel math uses only IEEE-exact operations
(+, -, *, /, sqrt, abs, min, max, floor); sine and cosine are short polynomials. There is no
reduction over the batch, so an image depends on its own factors only: same seed, same bytes, on
any machine and in any batch.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ganatomy.errors import OptionsError
from ganatomy.worlds.factors import FACTORS, FACTORS_BY_NAME, LABEL_FACTOR, PART_LABELS, Factor, part_index

RESOLUTIONS = (32, 64, 128)
# Pixels per inner step (8 images at 64x64, 32 at 32x32): the workspace buffers then stay in the
# L2 cache (measured fastest). Elementwise math makes the result independent of the step.
_CHUNK_PIXELS = 1 << 15

# Saturation and value of the hue-driven parts: distinct so that parts contrast at any hue.
_SKIN_SV = (0.42, 0.96)
_HAIR_SV = (0.70, 0.50)
_BACKGROUND_SV = (0.35, 0.72)
# Fixed part colours, RGB in [0, 1].
_EYE_RGB = (0.08, 0.16, 0.45)
_MOUTH_RGB = (0.72, 0.14, 0.20)
_GLASSES_RGB = (0.05, 0.05, 0.05)

# Face geometry in head units.
_HEAD_A, _HEAD_B = 0.82, 1.0  # half width, half height of the head ellipse
_NECK_HALF_WIDTH = 0.34
_EYE_X, _EYE_Y = 0.36, -0.08  # eye centres at (+-_EYE_X, _EYE_Y)
_EYE_HALF_WIDTH = 0.20
_EYE_HALF_HEIGHT = (0.085, 0.15)  # at eye_openness 0 and 1; >= 0.7 px at 32x32
_MOUTH_Y, _MOUTH_HALF_WIDTH, _MOUTH_HALF_THICKNESS = 0.50, 0.30, 0.09
_MOUTH_MAX_CURVATURE = 1.8  # v offset of the mouth corners = curvature * half_width**2
_GLASSES_RADIUS, _GLASSES_HALF_THICKNESS = 0.29, 0.045  # rings centred on the eyes
_BRIDGE_HALF_WIDTH = 0.10
_TEMPLE_X, _TEMPLE_HALF_LENGTH = 0.74, 0.09
_OFF = -50.0  # a size that disables a shape (its sdf is then large and positive everywhere)


@dataclasses.dataclass(frozen=True)
class _HairStyle:
    """Hair shape: a cap (enlarged head ellipse above a hairline) plus optional back pieces."""

    name: str
    grow_x: float  # cap half width = head half width + grow_x
    grow_y: float  # cap half height = head half height + grow_y
    hairline: float  # v of the hairline at u = 0 (negative = above the head centre)
    slant: float  # hairline tilt (dv per du): a side-swept fringe
    bend: float  # hairline curvature: lower at the temples
    back: tuple[float, float, float] = (0.0, _OFF, _OFF)  # box behind the head: centre v, half w, half h
    bun: tuple[float, float] = (0.0, _OFF)  # circle behind the head: centre v, radius


# Indexed by the hair_style class index; names must match the registry.
_HAIR_STYLES: tuple[_HairStyle, ...] = (
    _HairStyle("short", 0.07, 0.10, -0.50, 0.0, 0.45),
    _HairStyle("long", 0.09, 0.12, -0.52, 0.0, 0.50, back=(0.45, 1.00, 1.05)),
    _HairStyle("bun", 0.04, 0.06, -0.58, 0.0, 0.40, bun=(-1.12, 0.38)),
    _HairStyle("fringe", 0.12, 0.14, -0.40, 0.20, 0.30),
)
_BACK_ROUNDING = 0.25
assert tuple(s.name for s in _HAIR_STYLES) == FACTORS_BY_NAME["hair_style"].classes

_BG, _SKIN, _HAIR, _EYES, _MOUTH, _GLASSES = (
    part_index(n) for n in ("background", "skin", "hair", "eyes", "mouth", "glasses")
)


@dataclasses.dataclass
class WorldBatch:
    """Rendered images with their ground truth.

    Attributes:
        images: uint8 [N, H, W, 3] RGB.
        masks: uint8 [N, H, W] part labels (indices into ``PART_LABELS``).
        factors: factor name -> [N] array (float64 for continuous, int64 class indices).
    """

    images: np.ndarray
    masks: np.ndarray
    factors: dict[str, np.ndarray]

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def torch_images(self) -> Any:
        """The images as a uint8 torch tensor [N, 3, H, W] (torch imported only here: rendering needs numpy alone)."""
        import torch

        return torch.from_numpy(self.images).permute(0, 3, 1, 2).contiguous()


def _cos_sin(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """cos and sin by Taylor polynomials (exact to float64 for |theta| <= 0.5), machine-independent."""
    t2 = theta * theta
    cos = 1.0 + t2 * (
        -1 / 2 + t2 * (1 / 24 + t2 * (-1 / 720 + t2 * (1 / 40320 + t2 * (-1 / 3628800 + t2 / 479001600))))
    )
    sin = theta * (1.0 + t2 * (-1 / 6 + t2 * (1 / 120 + t2 * (-1 / 5040 + t2 * (1 / 362880 + t2 * (-1 / 39916800))))))
    return cos, sin


def hsv_to_rgb(h: np.ndarray, s: float, v: float) -> np.ndarray:
    """Hues [N] in [0, 1] with one saturation and value -> RGB [N, 3] float64 in [0, 1]."""
    h = np.asarray(h, dtype=np.float64)[:, None] * 6.0
    k = np.mod(np.array([5.0, 3.0, 1.0]) + h, 6.0)
    return v - v * s * np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)


def part_colors(factors: Mapping[str, np.ndarray]) -> np.ndarray:
    """Nominal colour of every part of every image: float64 [N, num_labels, 3] in [0, 1].

    Pixels well inside a part have exactly this colour (up to uint8 rounding); edges are blends.
    """
    n = len(np.asarray(factors["skin_hue"]))
    colors = np.zeros((n, len(PART_LABELS), 3))
    colors[:, _BG] = hsv_to_rgb(factors["background_hue"], *_BACKGROUND_SV)
    colors[:, _SKIN] = hsv_to_rgb(factors["skin_hue"], *_SKIN_SV)
    colors[:, _HAIR] = hsv_to_rgb(factors["hair_hue"], *_HAIR_SV)
    colors[:, _EYES] = _EYE_RGB
    colors[:, _MOUTH] = _MOUTH_RGB
    colors[:, _GLASSES] = _GLASSES_RGB
    return colors


def uniform_from_raw(raw: np.ndarray) -> np.ndarray:
    """Raw 64-bit generator outputs -> float64 uniforms in [0, 1) (top 53 bits, as numpy's random())."""
    return (np.asarray(raw, dtype=np.uint64) >> np.uint64(11)).astype(np.float64) * (2.0**-53)


def factors_from_uniform(u: np.ndarray) -> dict[str, np.ndarray]:
    """[N, num_factors] uniforms, columns in registry order -> factor dict."""
    return {f.name: f.from_uniform(u[:, j]) for j, f in enumerate(FACTORS)}


def check_seed(seed: int) -> int:
    """``seed`` as an int; OptionsError unless it is a non-negative integer."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise OptionsError(f"seed {seed!r}: seeds must be non-negative integers")
    return int(seed)


def image_seeds(seed: int, indices: Sequence[int]) -> list[int]:
    """World seeds of images ``indices`` of the dataset with seed ``seed``: ``seed * 2**32 + index``.

    Datasets with different seeds never share an image, and dataset seed 0 renders world seed ``i``
    as its image ``i`` (what ``ganatomy world --seeds i`` shows).
    """
    base = check_seed(seed) << 32
    return [base + int(i) for i in indices]


class FaceWorld:
    """Face-like images with complete ground truth: factors, class label and part masks.

    ``FaceWorld(res=64).render_seeds([0, 1, 2])`` renders three faces, each from its own seed.
    """

    def __init__(self, res: int = 64):
        if res not in RESOLUTIONS:
            raise OptionsError(f"--res: {res} is not supported; use one of {', '.join(map(str, RESOLUTIONS))}")
        self.resolution = int(res)
        # Pixel centres in image units.
        centres = (np.arange(res, dtype=np.float64) + 0.5) / res
        self._xs = centres.astype(np.float32)[None, None, :]
        self._ys = centres.astype(np.float32)[None, :, None]

    # --- registries -------------------------------------------------------------------------
    @property
    def factors(self) -> list[Factor]:
        return list(FACTORS)

    @property
    def factor_names(self) -> list[str]:
        return [f.name for f in FACTORS]

    @property
    def part_labels(self) -> list[str]:
        return list(PART_LABELS)

    @property
    def label_factor(self) -> str:
        return LABEL_FACTOR

    @property
    def num_classes(self) -> int:
        return FACTORS_BY_NAME[LABEL_FACTOR].num_classes

    # --- sampling ---------------------------------------------------------------------------
    def sample_factors(self, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """``n`` independent factor draws; row i uses the next ``len(factors)`` raw outputs of ``rng``."""
        raw = rng.bit_generator.random_raw((int(n), len(FACTORS)))
        return factors_from_uniform(uniform_from_raw(raw))

    def factors_for_seeds(self, seeds: Sequence[int]) -> dict[str, np.ndarray]:
        """Factors of each seed, each drawn from its own ``np.random.default_rng(seed)``."""
        seeds = [check_seed(s) for s in seeds]
        raw = np.empty((len(seeds), len(FACTORS)), dtype=np.uint64)
        for i, s in enumerate(seeds):
            raw[i] = np.random.default_rng(s).bit_generator.random_raw(len(FACTORS))
        return factors_from_uniform(uniform_from_raw(raw))

    # --- rendering --------------------------------------------------------------------------
    def render_seeds(self, seeds: Sequence[int]) -> WorldBatch:
        """Render one image per seed; an image depends on its seed only."""
        return self.render(self.factors_for_seeds(seeds))

    def render(self, factors: Mapping[str, np.ndarray]) -> WorldBatch:
        """Render images and masks for the given factor values (every registry factor, arrays [N])."""
        checked = self.check_factors(factors)
        n = len(checked[FACTORS[0].name])
        res = self.resolution
        images = np.empty((n, res, res, 3), dtype=np.uint8)
        masks = np.empty((n, res, res), dtype=np.uint8)
        chunk = max(1, min(n, _CHUNK_PIXELS // (res * res)))
        work = _Workspace(chunk, res)
        for start in range(0, n, chunk):
            sl = slice(start, min(start + chunk, n))
            self._render_chunk({k: v[sl] for k, v in checked.items()}, work, images[sl], masks[sl])
        return WorldBatch(images=images, masks=masks, factors=checked)

    def check_factors(self, factors: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Factor arrays as float64/int64 [N]; OptionsError for a missing, unknown or out-of-range one."""
        missing = [f.name for f in FACTORS if f.name not in factors]
        unknown = [k for k in factors if k not in FACTORS_BY_NAME]
        if missing or unknown:
            what = (
                (f"missing {', '.join(missing)}" if missing else "")
                + ("; " if missing and unknown else "")
                + (f"unknown {', '.join(unknown)}" if unknown else "")
            )
            raise OptionsError(f"world factors: {what}")
        checked = {f.name: FACTORS_BY_NAME[f.name].check(np.atleast_1d(factors[f.name])) for f in FACTORS}
        shapes = {v.shape for v in checked.values()}
        if len(shapes) != 1 or len(next(iter(shapes))) != 1:
            raise OptionsError(f"world factors: every factor must be a 1-D array of one length, got shapes {shapes}")
        return checked

    def _render_chunk(
        self, f: Mapping[str, np.ndarray], work: _Workspace, image_out: np.ndarray, mask_out: np.ndarray
    ) -> None:
        """Render one chunk into ``image_out`` (uint8 [B, H, W, 3]) and ``mask_out`` (uint8 [B, H, W]).

        Every full-size operation writes into a workspace buffer (``out=``): fresh temporaries would be
        mapped and unmapped by malloc on every chunk, and the page faults halve the speed.
        """
        b = len(f["head_x"])
        w = work.view(b)
        u, v, au, u2, v2, t1, t2, t3, cov = w.u, w.v, w.au, w.u2, w.v2, w.t1, w.t2, w.t3, w.cov

        def per_image(x) -> np.ndarray:  # [B] -> float32 [B, 1, 1] for broadcasting over pixels
            return np.asarray(x, dtype=np.float32).reshape(b, 1, 1)

        r = f["head_size"]
        cos, sin = _cos_sin(f["rotation"])
        # Pixel -> head frame: undo the translation, the rotation and the scale.
        dx = self._xs - per_image(f["head_x"])  # [B, 1, W]
        dy = self._ys - per_image(f["head_y"])  # [B, H, 1]
        cr, sr = per_image(cos / r), per_image(sin / r)
        np.add(dx * cr, dy * sr, out=u)
        np.subtract(dy * cr, dx * sr, out=v)
        np.abs(u, out=au)
        np.multiply(u, u, out=u2)
        np.multiply(v, v, out=v2)
        px_per_unit = per_image(r * self.resolution)

        colors = part_colors(f)
        planes = (w.red, w.green, w.blue)
        for c in range(3):
            planes[c][...] = per_image(colors[:, _BG, c])
        mask_out[...] = _BG

        def paint(sdf: np.ndarray, label: int, on: np.ndarray | None = None) -> None:
            """Composite a flat-coloured layer with coverage clip(0.5 - sdf/pixel, 0, 1) (x ``on``)."""
            np.multiply(sdf, px_per_unit, out=cov)
            np.subtract(0.5, cov, out=cov)
            np.clip(cov, 0.0, 1.0, out=cov)
            if on is not None:
                np.multiply(cov, on, out=cov)
            for c in range(3):  # plane += cov * (colour - plane)
                np.subtract(per_image(colors[:, label, c]), planes[c], out=w.scratch)
                w.scratch *= cov
                np.add(planes[c], w.scratch, out=planes[c])
            np.greater_equal(cov, 0.5, out=w.covered)
            np.copyto(mask_out, np.uint8(label), where=w.covered)

        style = [_HAIR_STYLES[int(i)] for i in f["hair_style"]]

        def style_param(get) -> np.ndarray:
            return per_image([get(s) for s in style])

        # Hair behind the head: a rounded box (long hair) and a circle (bun); disabled ones are far away.
        qx = np.subtract(au, style_param(lambda s: s.back[1]), out=t1)
        qy = np.subtract(v, style_param(lambda s: s.back[0]), out=t2)
        np.abs(qy, out=qy)
        qy -= style_param(lambda s: s.back[2])
        inside = np.minimum(np.maximum(qx, qy, out=t3), 0.0, out=t3)
        np.maximum(qx, 0.0, out=qx)
        np.maximum(qy, 0.0, out=qy)
        qx *= qx
        qy *= qy
        qx += qy
        back = np.sqrt(qx, out=t1)
        back += inside
        back -= _BACK_ROUNDING
        bun = np.subtract(v, style_param(lambda s: s.bun[0]), out=t2)
        bun *= bun
        bun += u2
        np.sqrt(bun, out=bun)
        bun -= style_param(lambda s: s.bun[1])
        paint(np.minimum(back, bun, out=t1), _HAIR)

        # Skin: the head ellipse (radial approximation; exact on the 0.5 contour) and a neck strip.
        head = np.multiply(u2, 1 / _HEAD_A**2, out=t1)
        head += np.multiply(v2, 1 / _HEAD_B**2, out=t2)
        np.sqrt(head, out=head)
        head -= 1.0
        head *= min(_HEAD_A, _HEAD_B)
        neck = np.maximum(np.subtract(au, _NECK_HALF_WIDTH, out=t2), np.negative(v, out=t3), out=t2)
        paint(np.minimum(head, neck, out=t1), _SKIN)

        # Hair in front: the enlarged head ellipse above a (slanted, curved) hairline.
        cap_a = _HEAD_A + style_param(lambda s: s.grow_x)
        cap_b = _HEAD_B + style_param(lambda s: s.grow_y)
        cap = np.divide(u2, cap_a * cap_a, out=t1)
        cap += np.divide(v2, cap_b * cap_b, out=t2)
        np.sqrt(cap, out=cap)
        cap -= 1.0
        cap *= np.minimum(cap_a, cap_b)
        hairline = np.multiply(u, style_param(lambda s: s.slant), out=t2)
        hairline += style_param(lambda s: s.hairline)
        hairline += np.multiply(u2, style_param(lambda s: s.bend), out=t3)
        below = np.subtract(v, hairline, out=t2)  # > 0 below the hairline
        paint(np.maximum(cap, below, out=t1), _HAIR)

        # Eyes: one ellipse mirrored by |u|; distance by the gradient-normalised implicit function.
        du, dv, du2, dv2 = w.du, w.dv, w.du2, w.dv2
        np.subtract(au, _EYE_X, out=du)
        np.subtract(v, _EYE_Y, out=dv)
        np.multiply(du, du, out=du2)
        np.multiply(dv, dv, out=dv2)
        lo, hi = _EYE_HALF_HEIGHT
        ea = _EYE_HALF_WIDTH
        eb = per_image(lo + (hi - lo) * f["eye_openness"])
        k0 = np.multiply(du2, 1 / ea**2, out=t1)
        k0 += np.divide(dv2, eb * eb, out=t2)
        np.sqrt(k0, out=k0)
        k1 = np.multiply(du2, 1 / ea**4, out=t2)
        k1 += np.divide(dv2, eb * eb * eb * eb, out=t3)
        np.sqrt(k1, out=k1)
        eps = 1e-6  # keeps the ratio finite (= eb, the inner distance) at the exact centre
        k1 += eps / eb
        ratio = np.add(k0, eps, out=t3)
        ratio /= k1
        k0 -= 1.0
        k0 *= ratio
        paint(k0, _EYES)

        # Mouth: a parabola-shaped band, corners up for smile > 0, cut at the mouth's half width.
        curv = per_image(_MOUTH_MAX_CURVATURE * f["smile"])
        offset = np.multiply(u2, curv, out=t1)  # offset: 0 on the mouth's centre line
        offset += v
        offset -= _MOUTH_Y
        np.abs(offset, out=offset)
        slope = np.multiply(u2, 4.0 * curv * curv, out=t2)
        slope += 1.0
        np.sqrt(slope, out=slope)
        band = np.divide(offset, slope, out=t1)
        band -= _MOUTH_HALF_THICKNESS
        paint(np.maximum(band, np.subtract(au, _MOUTH_HALF_WIDTH, out=t2), out=t1), _MOUTH)

        # Glasses: two rings round the eyes, a bridge and the temples; drawn only when switched on.
        ring = np.add(du2, dv2, out=t1)
        np.sqrt(ring, out=ring)
        ring -= _GLASSES_RADIUS
        np.abs(ring, out=ring)
        ring -= _GLASSES_HALF_THICKNESS
        bar_v = np.abs(dv, out=dv)
        bar_v -= _GLASSES_HALF_THICKNESS
        bridge = np.maximum(np.subtract(au, _BRIDGE_HALF_WIDTH, out=t2), bar_v, out=t2)
        np.minimum(ring, bridge, out=ring)
        temple = np.subtract(au, _TEMPLE_X, out=t2)
        np.abs(temple, out=temple)
        temple -= _TEMPLE_HALF_LENGTH
        np.maximum(temple, bar_v, out=temple)
        np.minimum(ring, temple, out=ring)
        paint(ring, _GLASSES, on=per_image(f["glasses"]))

        for c in range(3):  # to uint8, rounding half up (the assignment truncates)
            np.multiply(planes[c], 255.0, out=planes[c])
            np.add(planes[c], 0.5, out=planes[c])
            image_out[..., c] = planes[c]


class _Workspace:
    """Preallocated float32 buffers for one chunk of images (see ``FaceWorld._render_chunk``)."""

    _FLOATS = (
        "u",
        "v",
        "au",
        "u2",
        "v2",
        "du",
        "dv",
        "du2",
        "dv2",
        "t1",
        "t2",
        "t3",
        "cov",
        "scratch",
        "red",
        "green",
        "blue",
    )

    def __init__(self, chunk: int, res: int):
        self._floats = np.empty((len(self._FLOATS), chunk, res, res), dtype=np.float32)
        self._covered = np.empty((chunk, res, res), dtype=bool)

    def view(self, b: int) -> types.SimpleNamespace:
        """Buffers for the first ``b`` images of the chunk, by name."""
        views = {name: self._floats[i, :b] for i, name in enumerate(self._FLOATS)}
        return types.SimpleNamespace(covered=self._covered[:b], **views)
