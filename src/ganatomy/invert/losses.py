"""The image reconstruction loss of an inversion: pixels plus a perceptual term.

    loss = pixel_weight * mean (x̂ - x)²  +  perceptual_weight * mean (φ(x̂) - φ(x))² / mean φ(x)²

- pixels: mean squared error on [-1, 1] images;
- φ: the world oracle's pooled 256-d features (``perceptual="oracle"``), the network trained to read
  the world's factors off an image, so the term weighs what the factors change (a head's position,
  a hue) rather than pixel noise. Images are clamped to [-1, 1] and resized to the oracle's
  resolution, as the oracle reads them. The term is divided by the targets' mean squared feature so
  that its weight means the same for any feature scale. ``perceptual="none"`` drops it (a generator
  of other images than the world's, e.g. DigiFace faces: the world oracle knows nothing of them).
"""

from __future__ import annotations

import torch
from torch import nn

from ganatomy.errors import OptionsError
from ganatomy.utils.images import resize, to_rgb

PERCEPTUAL = ("oracle", "none")


class OracleFeatures(nn.Module):
    """Differentiable world-oracle features [N, 256] of [-1, 1] images (frozen weights)."""

    def __init__(self, resolution: int):
        super().__init__()
        from ganatomy.directions.oracle_access import world_oracle

        oracle = world_oracle(resolution)
        self.net = oracle.net.eval().requires_grad_(False)
        self.resolution = oracle.resolution

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = resize(to_rgb(images.clamp(-1.0, 1.0)), self.resolution, antialias=True)
        return self.net.features(x).float()


def check_loss_settings(perceptual: str, pixel_weight: float, perceptual_weight: float, where: str) -> None:
    if perceptual not in PERCEPTUAL:
        raise OptionsError(f"{where}: perceptual must be one of {', '.join(PERCEPTUAL)}, got {perceptual!r}")
    if pixel_weight < 0 or perceptual_weight < 0 or pixel_weight + perceptual_weight <= 0:
        raise OptionsError(
            f"{where}: pixel_weight and perceptual_weight must be >= 0 and not both 0, "
            f"got {pixel_weight} and {perceptual_weight}"
        )


class ReconstructionLoss(nn.Module):
    """Per-image reconstruction loss [N] of ``recon`` against ``target`` (see the module docstring)."""

    def __init__(self, resolution: int, perceptual: str = "oracle", pixel_weight: float = 1.0, perceptual_weight=1.0):
        super().__init__()
        check_loss_settings(perceptual, pixel_weight, perceptual_weight, "reconstruction loss")
        self.pixel_weight, self.perceptual_weight = float(pixel_weight), float(perceptual_weight)
        use_features = perceptual == "oracle" and self.perceptual_weight > 0
        self.features = OracleFeatures(resolution) if use_features else None

    def target_features(self, target: torch.Tensor) -> torch.Tensor | None:
        """φ(target), to compute once when the same targets are compared many times."""
        if self.features is None:
            return None
        with torch.no_grad():
            return self.features(target)

    def forward(
        self, recon: torch.Tensor, target: torch.Tensor, target_features: torch.Tensor | None = None
    ) -> torch.Tensor:
        loss = self.pixel_weight * (recon - target).square().flatten(1).mean(1)
        if self.features is not None:
            phi = self.target_features(target) if target_features is None else target_features
            scale = phi.square().mean().clamp_min(1e-8)
            loss = loss + self.perceptual_weight * (self.features(recon) - phi).square().mean(1) / scale
        return loss
