"""LARGE (Nitzan et al., CVPR 2022): regression of real images' attributes from two labels, and sorting.

    from ganatomy.invert import EncoderInverter
    from ganatomy.regress import LatentRegressor, sort
    inv = EncoderInverter(space="w").fit(G)
    reg = LatentRegressor(direction=sefa.directions_, index=None, inverter=inv, generator=G)
    reg.fit(two_images, [0.3, 0.9]).predict(images)
    order = sort(images, reg.direction_, inverter=inv, generator=G)

- :class:`LatentRegressor`: distance along a direction (``ganatomy.regress.distance``), calibrated
  y = a·d + b from two labels (least squares from more);
- directions from any source (``ganatomy.regress.sources``): a chosen one, the unsupervised one best
  aligned with the labels, or a supervised normal fitted on the labelled latents;
- :func:`sort` / :func:`sort_latents`: order a collection along a direction, no labels;
- :func:`spaced_draws`: the paper's few-shot protocol's label draws with a minimum spacing.
"""

from ganatomy.regress.distance import calibrate, check_labels, distance_features
from ganatomy.regress.protocol import spaced_draw, spaced_draws
from ganatomy.regress.regressor import LatentRegressor, as_directions, prior_latents, sort, sort_latents
from ganatomy.regress.sources import (
    alignment_scores,
    best_aligned,
    direction_scores,
    distance_matrix,
    supervised_normal,
)

__all__ = [
    "LatentRegressor",
    "alignment_scores",
    "distance_matrix",
    "as_directions",
    "best_aligned",
    "calibrate",
    "check_labels",
    "direction_scores",
    "distance_features",
    "prior_latents",
    "sort",
    "sort_latents",
    "spaced_draw",
    "spaced_draws",
    "supervised_normal",
]
