"""LARGE's regressor: invert an image, measure its distance along a direction, calibrate y = a·d + b.

    reg = LatentRegressor(direction=sefa.directions_, index=None, inverter=inv, generator=G)
    reg.fit(images, labels)          # two labels are enough; index=None picks the best-aligned direction
    reg.predict(new_images)
    order = sort(images, sefa.directions_, index=3, inverter=inv, generator=G)   # no labels

``direction`` is a :class:`ganatomy.latent.Directions` (any method's ``directions_``, or
``ganatomy.directions.load(path, G)``: refused for another generator), a latent vector, or
``"supervised"`` (a linear normal fitted on the labelled latents). ``index`` picks one of several
directions; ``None`` chooses the best aligned with the labels (``ganatomy.regress.sources``).
``fit_latents`` / ``predict_latents`` skip the inversion (latents already at hand).
"""

from __future__ import annotations

import copy
import os
import warnings
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from ganatomy.base import Estimator, describe_generator
from ganatomy.errors import OptionsError
from ganatomy.latent import Directions
from ganatomy.regress.distance import MODES, calibrate, check_labels, distance_features
from ganatomy.regress.sources import best_aligned, supervised_normal

# Prior latents drawn to measure a direction's spread (the alignment score's unit); seeded.
PRIOR_SAMPLES = 2000
# Labelled images closer than this many prior stds along the direction fix the slope badly: on
# world32-stylegan2 (two labels, 1,000 draws) the MAE is 2-7x that of labels >= 1 std apart below 0.5,
# and up to 50x below 0.25.
LOW_LABEL_SPREAD = 0.5
SUPERVISED = "supervised"


def prior_latents(G: Any, space: str, n: int = PRIOR_SAMPLES, seed: int = 0) -> torch.Tensor:
    """``n`` latents of G's prior in ``space``."""
    with torch.no_grad():
        return G.to_space(G.sample_latents(n, seed=seed), space).double().cpu()


def as_directions(direction: Any, space: str, G: Any = None) -> Directions:
    """``direction`` as ``Directions``: as given, a vector [D] / vectors [K, D], checked against G when known."""
    if isinstance(direction, Directions):
        directions = direction
    elif isinstance(direction, (torch.Tensor, np.ndarray, list, tuple)):
        vectors = torch.as_tensor(np.asarray(direction, dtype=np.float64))
        vectors = vectors[None] if vectors.ndim == 1 else vectors
        directions = Directions(vectors, "w" if space == "w+" else space, method="given")
    elif isinstance(direction, (str, os.PathLike)) and Path(direction).exists():
        from ganatomy.directions import load

        directions = load(direction, G)
    else:
        raise OptionsError(
            f"regressor: direction must be Directions, a latent vector, a directions file or {SUPERVISED!r}; "
            f"got {direction!r}"
        )
    if G is not None:
        from ganatomy.directions import check_generator

        check_generator(directions, G, "regressor direction")
    compatible = {"z": ("z",), "w": ("w",), "w+": ("w", "w+")}[space]
    if directions.space not in compatible:
        raise OptionsError(f"regressor: directions in {directions.space!r} cannot measure latents in {space!r}")
    return directions


class LatentRegressor(Estimator):
    """Regress a continuous attribute of images from a few labels (see the module docstring).

    Args:
        direction: ``Directions``, a vector, a directions file, or ``"supervised"``.
        index: which direction (None: the best aligned with the labels; ignored for one direction).
        space: the latents' space ('z', 'w', 'w+'); it must be the inverter's.
        distance: 'projection' or 'per_layer' (W+: one feature per row, ``ganatomy.regress.distance``).
        inverter: a fitted inverter (``ganatomy.invert``) for ``fit`` / ``predict`` on images.
        generator: the generator the latents belong to (prior latents for the alignment score and the
            supervised normal's scale; refinement; directions checks).
        alpha: ridge penalty of the supervised normal.

    Fitted: ``direction_`` (one direction, sign chosen so that distance grows with the label),
    ``index_`` (-1 for a supervised or given vector), ``scores_`` (alignment scores when chosen),
    ``coef_``, ``intercept_``, ``distances_`` / ``labels_`` (the labelled points), ``generator_``,
    ``label_spread_`` (how far apart the labelled images lie along the direction, in std of G's prior;
    None without a generator; below ``LOW_LABEL_SPREAD`` a warning says the line is unreliable).
    ``save`` keeps the fitted state and the plain parameters; the inverter and generator are set
    again after ``load`` (``set_params``).
    """

    fitted_types: ClassVar[dict[str, type]] = {"direction_": Directions}

    def __init__(
        self,
        direction: Any = SUPERVISED,
        index: int | None = None,
        space: str = "w",
        distance: str = "projection",
        inverter: Any = None,
        generator: Any = None,
        alpha: float = 1.0,
    ):
        self.direction = direction
        self.index = index
        self.space = space
        self.distance = distance
        self.inverter = inverter
        self.generator = generator
        self.alpha = alpha

    # ------------------------------------------------------------------ latents
    def _check_settings(self) -> None:
        if self.space not in ("z", "w", "w+"):
            raise OptionsError(f"regressor: space must be z, w or w+, got {self.space!r}")
        if self.distance not in MODES:
            raise OptionsError(f"regressor: distance must be one of {', '.join(MODES)}, got {self.distance!r}")
        if self.distance == "per_layer" and self.space != "w+":
            raise OptionsError("regressor: per_layer distances need space='w+'")
        if self.generator is not None and self.space not in self.generator.latent_spaces:
            spaces = self.generator.latent_spaces
            raise OptionsError(f"regressor: the generator has no {self.space!r} space; it has {spaces}")

    def _invert(self, images: Any) -> torch.Tensor:
        if self.inverter is None:
            raise OptionsError("regressor: images need an inverter (inverter=...); or call fit_latents/predict_latents")
        inverter_space = getattr(self.inverter, "space_", None)
        if inverter_space != self.space:
            raise OptionsError(
                f"regressor: the inverter gives {inverter_space!r} latents, the regressor reads {self.space!r}"
            )
        return self.inverter.invert(images, self.generator)

    def _check_latents(self, latents: torch.Tensor) -> torch.Tensor:
        latents = torch.as_tensor(latents)
        expected = 3 if self.space == "w+" else 2
        if latents.ndim != expected:
            shape = tuple(latents.shape)
            raise OptionsError(f"regressor: {self.space} latents must have {expected} dimensions, got {shape}")
        return latents

    def features(self, latents: torch.Tensor) -> np.ndarray:
        """The distance features [N, F] of latents along the fitted direction."""
        self.check_fitted()
        d = self.direction_
        return distance_features(self._check_latents(latents), d.vectors[0], d.layers, self.distance)

    # ------------------------------------------------------------------ fit / predict
    def fit_latents(self, latents: torch.Tensor, labels: Any) -> LatentRegressor:
        """Fit on already inverted latents [N, ...] in ``space`` and their labels [N]."""
        self._check_settings()
        latents = self._check_latents(latents)
        y = check_labels(labels, len(latents), "regressor")
        G = self.generator
        prior = None
        if G is not None:
            prior = prior_latents(G, self.space)
        if isinstance(self.direction, str) and self.direction == SUPERVISED:
            if self.space == "z" and G is not None and getattr(G, "z_discrete", False):
                raise OptionsError("regressor: a supervised normal in a discrete Z means nothing; use 'w'")
            std = None if prior is None else prior.std(0)
            vector = supervised_normal(latents, y, std, self.alpha)
            chosen = Directions(vector[None].float(), "w" if self.space == "w+" else self.space, method=SUPERVISED)
            index, scores = -1, None
        else:
            directions = as_directions(self.direction, self.space, G)
            if self.index is None and len(directions) > 1:
                reference = prior if prior is not None else latents
                index, sign, scores = best_aligned(directions, latents, y, reference)
            else:
                index, sign, scores = (0 if self.index is None else int(self.index)), 1.0, None
            one = directions.select([index])
            index %= len(directions)  # a negative index counts from the end; index_ -1 means supervised
            chosen = one._replace(one.vectors * sign, one.names)
        # Orient the direction so that distance grows with the label (sorting then needs no sign).
        d = distance_features(latents, chosen.vectors[0], chosen.layers, "projection")[:, 0]
        if np.ptp(d) > 0 and np.corrcoef(d, y)[0, 1] < 0:
            chosen = chosen._replace(-chosen.vectors, chosen.names)
        self.direction_ = chosen
        self.index_ = index
        self.label_spread_ = None
        if prior is not None:
            spread = distance_features(prior, chosen.vectors[0], chosen.layers, "projection")[:, 0].std()
            self.label_spread_ = float(np.ptp(d) / max(spread, 1e-12))
            if self.label_spread_ < LOW_LABEL_SPREAD:
                warnings.warn(
                    f"regressor: the labelled images lie only {self.label_spread_:.2f} prior std apart along the "
                    "direction, so the line through them is unreliable; label images further apart along it (the "
                    "two ends of `ganatomy regress sort`'s order) or more of them",
                    RuntimeWarning,
                    stacklevel=2,
                )
        self.scores_ = None if scores is None else [float(s) for s in scores]
        features = distance_features(latents, chosen.vectors[0], chosen.layers, self.distance)
        coef, intercept = calibrate(features, y, "regressor")
        self.coef_, self.intercept_ = [float(c) for c in coef], intercept
        self.distances_ = features.tolist()
        self.labels_ = y.tolist()
        self.generator_ = None if G is None else describe_generator(G)
        return self

    def predict_latents(self, latents: torch.Tensor) -> np.ndarray:
        """Predicted attribute [N] of latents in ``space``."""
        return self.features(latents) @ np.asarray(self.coef_) + self.intercept_

    def fit(self, images: Any, labels: Any) -> LatentRegressor:
        """Invert the labelled images (``inverter``) and fit; two labels are enough."""
        self._check_settings()
        check_labels(labels, len(images), "regressor")
        return self.fit_latents(self._invert(images), labels)

    def predict(self, images: Any) -> np.ndarray:
        """Predicted attribute [N] of images."""
        self.check_fitted()
        return self.predict_latents(self._invert(images))

    def score(self, images: Any, labels: Any) -> float:
        """R² of the predictions (scikit-learn's ``score``)."""
        y = np.asarray(labels, dtype=np.float64)
        p = self.predict(images)
        return float(1.0 - ((p - y) ** 2).sum() / ((y - y.mean()) ** 2).sum())

    def save(self, path: str | os.PathLike) -> Path:
        """Save the fitted state; objects that are not plain values (inverter, generator, Directions) are dropped."""
        portable = copy.copy(self)
        portable.inverter = portable.generator = None
        if not isinstance(self.direction, (str, os.PathLike)):
            portable.direction = None  # the chosen one is direction_
        else:
            portable.direction = str(self.direction)
        return Estimator.save(portable, path)


def sort_latents(latents: torch.Tensor, direction: Any, index: int = 0, space: str | None = None) -> np.ndarray:
    """Indices that order latents by their distance along ``direction`` (ascending), without labels.

    The order depends on the direction's orientation only: scaling it changes nothing, flipping its
    sign reverses it (one comparison or one label fixes which way is "more").
    """
    latents = torch.as_tensor(latents)
    space = space or ("w+" if latents.ndim == 3 else "w")
    directions = as_directions(direction, space).select([index])
    d = distance_features(latents, directions.vectors[0], directions.layers, "projection")[:, 0]
    return np.argsort(d, kind="stable")


def sort(images: Any, direction: Any, inverter: Any, generator: Any = None, index: int = 0) -> np.ndarray:
    """Indices that order images by attribute strength along ``direction`` (``sort_latents`` after inversion)."""
    latents = inverter.invert(images, generator)
    space = getattr(inverter, "space_", None)
    if generator is not None and isinstance(direction, Directions):
        from ganatomy.directions import check_generator

        check_generator(direction, generator, "sort")
    return sort_latents(latents, direction, index, space)
