"""Network kinds by name: rebuild a generator or discriminator from ``(kind, config)`` JSON.

A checkpoint stores ``G.kind`` and ``G.config()`` (and the same for D) beside the state dicts;
``build_generator(kind, config)`` makes the module back, with no pickled code involved. A D's
config may carry ``"heads"`` (the specs of heads added after construction); they are re-added.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from torch import nn

from ganatomy.errors import OptionsError
from ganatomy.nets.dcgan import DCGANDiscriminator, DCGANGenerator
from ganatomy.nets.discriminator import DiscriminatorBase
from ganatomy.nets.protocol import GeneratorBase
from ganatomy.nets.reference import StyleGAN2RefDiscriminator, StyleGAN2RefGenerator
from ganatomy.nets.resnet_d import ResNetDiscriminator
from ganatomy.nets.stylegan2 import StyleGAN2Generator

GENERATORS: Mapping[str, type[GeneratorBase]] = MappingProxyType(
    {"stylegan2": StyleGAN2Generator, "dcgan": DCGANGenerator, "stylegan2-ref": StyleGAN2RefGenerator}
)
DISCRIMINATORS: Mapping[str, type[DiscriminatorBase]] = MappingProxyType(
    {"resnet": ResNetDiscriminator, "dcgan": DCGANDiscriminator, "stylegan2-ref": StyleGAN2RefDiscriminator}
)


def _build(table: Mapping[str, type[nn.Module]], what: str, kind: str, config: Mapping[str, Any]) -> Any:
    if kind not in table:
        raise OptionsError(f"unknown {what} kind {kind!r}; known: {', '.join(table)}")
    cls = table[kind]
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self"}
    unknown = sorted(set(config) - accepted)
    if unknown:
        raise OptionsError(f"{what} {kind!r}: unknown config key {unknown[0]!r}; known: {', '.join(sorted(accepted))}")
    return cls(**dict(config))


def build_generator(kind: str, config: Mapping[str, Any]) -> GeneratorBase:
    """A generator of ``kind`` ('stylegan2' | 'dcgan') from its ``config()`` dict."""
    return _build(GENERATORS, "generator", kind, config)


def build_discriminator(kind: str, config: Mapping[str, Any]) -> DiscriminatorBase:
    """A discriminator of ``kind`` ('resnet' | 'dcgan') from its ``config()`` dict, heads included."""
    config = dict(config)
    heads = config.pop("heads", None) or {}
    if not isinstance(heads, Mapping):
        raise OptionsError(f"discriminator {kind!r}: 'heads' must map head names to specs, got {heads!r}")
    D = _build(DISCRIMINATORS, "discriminator", kind, config)
    for name, spec in heads.items():
        D.add_head(name, spec)
    return D
