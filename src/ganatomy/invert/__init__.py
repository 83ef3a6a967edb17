"""GAN inversion: real images to latents of a generator, and how well the generator redraws them.

    from ganatomy.invert import EncoderInverter, OptimizationInverter
    inv = EncoderInverter(space="w", steps=2000).fit(G)        # an encoder trained on G's own pairs
    latents = inv.invert(images, G)                            # [N, D] in W
    latents, recon = inv.reconstruct(images, G)
    OptimizationInverter(space="z").fit(G).invert(images, G)   # a DCGAN: optimisation in Z

- :class:`EncoderInverter`: ``LatentEncoder`` trained with a latent loss and an image loss
  (pixels + world-oracle features, ``ganatomy.invert.losses``); ``refine_steps`` adds a per-image
  optimisation of its guess;
- :class:`OptimizationInverter`: optimisation through the frozen G (``ganatomy.invert.optimize``);
- :func:`reconstruction_quality`: pixel error and per-factor R² of the oracle's readings.
"""

from ganatomy.invert.encoder import LatentEncoder
from ganatomy.invert.images import generator_images
from ganatomy.invert.inverters import EncoderInverter, OptimizationInverter, generated_pairs, prior_stats
from ganatomy.invert.losses import OracleFeatures, ReconstructionLoss
from ganatomy.invert.optimize import optimize_latents
from ganatomy.invert.quality import ReconstructionQuality, reconstruction_quality

__all__ = [
    "EncoderInverter",
    "LatentEncoder",
    "OptimizationInverter",
    "OracleFeatures",
    "ReconstructionLoss",
    "ReconstructionQuality",
    "generated_pairs",
    "generator_images",
    "optimize_latents",
    "prior_stats",
    "reconstruction_quality",
]
