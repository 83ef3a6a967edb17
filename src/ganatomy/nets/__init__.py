"""Networks: StyleGAN2 and DCGAN generators, residual and DCGAN discriminators, presets.

Every generator implements the protocol in ``ganatomy.nets.protocol`` (latents -> images,
feature maps, Z / W / W+); every discriminator is a trunk plus named heads
(``ganatomy.nets.discriminator``). Models are rebuilt from ``(kind, config)`` JSON with
``build_generator`` / ``build_discriminator``; named sizes live in ``PRESETS``;
``load_generator`` reads a saved or pretrained generator, frozen (``ganatomy.nets.load``).
"""

from ganatomy.nets._checks import ShapeError, assert_shape, check_input
from ganatomy.nets.dcgan import DCGANDiscriminator, DCGANGenerator
from ganatomy.nets.discriminator import DiscriminatorBase, ProjectionHead
from ganatomy.nets.genes import GeneBankPrior
from ganatomy.nets.load import load_generator
from ganatomy.nets.mapping import LatentPrior, MappingNetwork
from ganatomy.nets.presets import PRESETS, Preset, get_preset
from ganatomy.nets.protocol import Generator, GeneratorBase
from ganatomy.nets.registry import DISCRIMINATORS, GENERATORS, build_discriminator, build_generator
from ganatomy.nets.resnet_d import ResNetDiscriminator
from ganatomy.nets.stylegan2 import StyleGAN2Generator, SynthesisNetwork

__all__ = [
    "DISCRIMINATORS",
    "GENERATORS",
    "PRESETS",
    "DCGANDiscriminator",
    "DCGANGenerator",
    "DiscriminatorBase",
    "GeneBankPrior",
    "Generator",
    "GeneratorBase",
    "LatentPrior",
    "MappingNetwork",
    "Preset",
    "ProjectionHead",
    "ResNetDiscriminator",
    "ShapeError",
    "StyleGAN2Generator",
    "SynthesisNetwork",
    "assert_shape",
    "build_discriminator",
    "build_generator",
    "check_input",
    "get_preset",
    "load_generator",
]
