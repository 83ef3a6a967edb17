"""Pretrained generators, shipped in this package or inside other installed packages (no downloads).

``load_pretrained(name)`` returns one of our own generator classes with the weights loaded, in
eval mode and with frozen parameters, so every analysis runs on it through the generator
protocol; gradients with respect to latents still flow. ``ZOO`` lists what exists, where it comes
from and under which terms; ``ganatomy zoo list`` shows it.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import torch

from ganatomy.zoo.entries import PackageWeights, ShippedGenerator, ZooEntry, ZooError

_OWN = "MIT (ganatomy); trained by ganatomy on its procedural world, no third-party data"

ZOO: Mapping[str, ZooEntry] = MappingProxyType(
    {
        entry.name: entry
        for entry in (
            ShippedGenerator(
                name="world32-stylegan2",
                description="compact StyleGAN2 (cpu32 preset, Z/W/W+) trained on the procedural world at 32x32",
                licence=_OWN,
                filename="world32-stylegan2.safetensors",
            ),
            ShippedGenerator(
                name="world64-stylegan2",
                description="compact StyleGAN2 (cpu64 preset, Z/W/W+) trained on the procedural world at 64x64",
                licence=_OWN,
                filename="world64-stylegan2.safetensors",
            ),
            ShippedGenerator(
                name="world32-stylegenes",
                description=(
                    "the cpu32 synthesis network with StyleGenes' gene-bank prior (32 genes of 4 dimensions x 32 "
                    "variants, each bank standardised over its variants) instead of the mapping network, trained like "
                    "world32-stylegan2 (same data, seed, budget and snapshot choice)"
                ),
                licence=_OWN,
                filename="world32-stylegenes.safetensors",
            ),
            ShippedGenerator(
                name="world32-s3gan10",
                description=(
                    "class-conditional cpu32 StyleGAN2 (one class per hair style) trained with S3GAN from 10% of the "
                    "hair-style labels (rotation and class heads on D; the class head labels the rest), R1 gamma 4, "
                    "minibatch stddev over the batch, no style mixing or path length; 90 training minutes"
                ),
                licence=_OWN,
                filename="world32-s3gan10.safetensors",
            ),
            ShippedGenerator(
                name="world32-supervised",
                description=(
                    "class-conditional cpu32 StyleGAN2 (one class per hair style) trained on all hair-style labels, "
                    "otherwise as world32-s3gan10 (same data, seed, options and 90 training minutes)"
                ),
                licence=_OWN,
                filename="world32-supervised.safetensors",
            ),
            PackageWeights(
                name="digiface-dcgan64",
                description=(
                    "DCGAN 64x64 face generator (z 100, ngf 64, 3.58M params) trained on DigiFace-1M synthetic faces"
                ),
                licence=(
                    "package code: MIT (Chien Liu, 2023); the weights were trained on Microsoft's DigiFace-1M, "
                    "whose own terms of use were not checked here: read them before using the weights beyond research"
                ),
                package="gan-face-generate",
                version="1.1.1",
                module="gan_face_generate",
                filename="weights.tar",
                state_key="netG_state_dict",
                kind="dcgan",
                config=MappingProxyType({"img_resolution": 64, "img_channels": 3, "z_dim": 100, "ngf": 64}),
            ),
        )
    }
)


def list_pretrained() -> list[str]:
    """Names of the zoo's models."""
    return list(ZOO)


def get_entry(name: str) -> ZooEntry:
    if name not in ZOO:
        raise ZooError(f"unknown pretrained model {name!r}; known: {', '.join(ZOO)}")
    return ZOO[name]


def load_pretrained(name: str, device: str | torch.device = "cpu") -> torch.nn.Module:
    """The pretrained generator ``name`` as our own class: eval mode, parameters frozen.

    Unfreeze with ``G.requires_grad_(True)`` to fine-tune.
    """
    return get_entry(name).load().to(device).eval().requires_grad_(False)


def weights_path(name: str):
    """Where the weights of ``name`` live (ZooError if they are not installed)."""
    entry = get_entry(name)
    if isinstance(entry, PackageWeights):
        return entry.weights_path()
    entry.metadata()  # raises when the file is missing
    return entry.path


__all__ = [
    "ZOO",
    "PackageWeights",
    "ShippedGenerator",
    "ZooEntry",
    "ZooError",
    "get_entry",
    "list_pretrained",
    "load_pretrained",
    "weights_path",
]
