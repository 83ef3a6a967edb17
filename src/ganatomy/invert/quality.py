"""How well an inversion redraws real images: pixel error and the oracle's factors of image and redrawing.

For each image x and its reconstruction x̂ = G(invert(x)):

- ``pixel_mae``: mean |x̂ - x| on the 0..1 scale; ``pixel_rmse`` likewise, root mean square;
- ``factor_r2``: per continuous world factor, R² of the oracle's reading of x̂ against its reading
  of x (``ganatomy.oracle.r2_scores``; circular for a full-circle hue): 1 when the redrawing keeps
  the factor exactly, 0 when it keeps nothing of it. An inversion that loses a factor cannot be
  regressed along any direction for it, whatever the direction.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch


@dataclasses.dataclass
class ReconstructionQuality:
    pixel_mae: float
    pixel_rmse: float
    factor_r2: dict[str, float]

    @property
    def min_r2(self) -> float:
        return min(self.factor_r2.values()) if self.factor_r2 else float("nan")

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "min_r2": self.min_r2}


def reconstruction_quality(images: torch.Tensor, recon: torch.Tensor, oracle: Any = None) -> ReconstructionQuality:
    """Scores of ``recon`` against ``images`` (both [N, C, R, R] in [-1, 1]); factors need a world ``oracle``."""
    from ganatomy.oracle import r2_scores

    diff = (recon.float().clamp(-1, 1) - images.float().clamp(-1, 1)) / 2.0
    r2: dict[str, float] = {}
    if oracle is not None:
        read_images, read_recon = oracle.predict(images), oracle.predict(recon)
        r2 = r2_scores(oracle.spec, read_recon.factors, read_images.factors)
    return ReconstructionQuality(float(diff.abs().mean()), float(diff.square().mean().sqrt()), r2)
