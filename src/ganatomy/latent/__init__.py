"""Latent spaces: directions in Z, W and W+."""

from ganatomy.latent.directions import Directions

__all__ = ["Directions"]
