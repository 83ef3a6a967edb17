"""Faithful StyleGAN2 networks (NVIDIA's architecture, op for op): the ``stylegan2-ref`` kinds.

``StyleGAN2RefGenerator`` implements ganatomy's generator protocol; ``StyleGAN2RefDiscriminator``
is a trunk-plus-heads discriminator. Users' NVIDIA and rosinality checkpoints load into them
through ``ganatomy.nets.importers``.
"""

from ganatomy.nets.reference.discriminator import StyleGAN2RefDiscriminator
from ganatomy.nets.reference.generator import StyleGAN2RefGenerator

__all__ = ["StyleGAN2RefDiscriminator", "StyleGAN2RefGenerator"]
