"""DCGAN (Radford et al. 2016) generator and discriminator at 32x32 and 64x64.

Generator: z [N, z_dim] -> (as [N, z_dim, 1, 1]) a 4x4 transposed conv to ``ngf * 2^(k-1)``
channels, then k - 1 stride-2 transposed convs halving the channels, each with BatchNorm and
ReLU, and a last stride-2 transposed conv to the image with tanh (k = 4 at 64 px, 3 at 32 px).
Its parameters sit in one ``nn.Sequential`` named ``main``, the classic layout, so that the
64x64 model with z_dim=100 and ngf=64 loads DCGAN state dicts such as the DigiFace weights.

Discriminator: stride-2 4x4 convs doubling the channels from ``ndf`` down to 4x4 (BatchNorm
after all but the first, LeakyReLU 0.2); the trunk's h is the flattened 4x4 map, and the
adversarial head (a linear layer, the classic final 4x4 valid conv) reads it.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import nn

from ganatomy.errors import OptionsError
from ganatomy.nets._checks import assert_shape, check_input
from ganatomy.nets.discriminator import DiscriminatorBase
from ganatomy.nets.protocol import GeneratorBase, check_space


def _num_ups(resolution: int) -> int:
    if resolution not in (32, 64):
        raise OptionsError(f"dcgan: resolution must be 32 or 64, got {resolution}")
    return int(math.log2(resolution)) - 2


def dcgan_init_(module: nn.Module) -> None:
    """DCGAN's initialisation: conv weights N(0, 0.02), BatchNorm scale N(1, 0.02), shift 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


class DCGANGenerator(GeneratorBase):
    """Classic DCGAN generator; implements the generator protocol (Z space only, unconditional)."""

    kind: ClassVar[str] = "dcgan"
    latent_spaces = ("z",)
    num_ws = 1

    def __init__(self, img_resolution: int = 64, img_channels: int = 3, z_dim: int = 100, ngf: int = 64) -> None:
        super().__init__()
        k = _num_ups(img_resolution)
        self.z_dim, self.c_dim, self.ngf = int(z_dim), 0, int(ngf)
        self.img_resolution, self.img_channels = int(img_resolution), int(img_channels)
        ch = ngf * 2 ** (k - 1)
        layers: list[nn.Module] = [nn.ConvTranspose2d(z_dim, ch, 4, 1, 0, bias=False), nn.BatchNorm2d(ch), nn.ReLU()]
        self._relu_res: list[tuple[int, int]] = [(2, 4)]  # (index in main, resolution) of each ReLU
        res = 4
        for _ in range(k - 1):
            layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch // 2), nn.ReLU()]
            ch, res = ch // 2, res * 2
            self._relu_res.append((len(layers) - 1, res))
        layers += [nn.ConvTranspose2d(ch, img_channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)
        dcgan_init_(self)
        self._config = dict(
            img_resolution=self.img_resolution, img_channels=self.img_channels, z_dim=self.z_dim, ngf=self.ngf
        )

    def _sample_z(self, n: int, generator: torch.Generator | None) -> torch.Tensor:
        return torch.randn(n, self.z_dim, generator=generator)

    def forward(
        self, z: torch.Tensor, c: torch.Tensor | None = None, truncation_psi: float = 1.0, **_ignored
    ) -> torch.Tensor:
        """z [N, z_dim] -> images [N, C, R, R] in [-1, 1]. Labels are ignored (unconditional);
        truncation scales z towards its mean 0 (the Gaussian analogue of W truncation)."""
        check_input(z, [None, self.z_dim], "z")
        if truncation_psi != 1:
            z = z * truncation_psi
        img = self.main(z.reshape(z.shape[0], self.z_dim, 1, 1))
        assert_shape(img, [z.shape[0], self.img_channels, self.img_resolution, self.img_resolution], "image")
        return img

    def to_space(
        self, z: torch.Tensor, space: str, c: torch.Tensor | None = None, truncation_psi: float = 1.0
    ) -> torch.Tensor:
        check_space(space, self.latent_spaces, self.kind)
        return z * truncation_psi if truncation_psi != 1 else z

    def synthesize(
        self, latents: torch.Tensor, space: str = "z", c: torch.Tensor | None = None, noise_mode: str = "const"
    ) -> torch.Tensor:
        """Images from z (``noise_mode`` is accepted for the protocol; DCGAN has no noise inputs)."""
        check_space(space, self.latent_spaces, self.kind)
        return self.forward(latents)

    def _feature_modules(self) -> dict[str, nn.Module]:
        # The ReLU output at each resolution: "b4", "b8", ... (not the final tanh image).
        return {f"b{res}": self.main[i] for i, res in self._relu_res}

    def feature_channels(self) -> dict[str, tuple[int, int]]:
        """Feature name -> (channels, resolution)."""
        return {f"b{res}": (self.main[i - 1].num_features, res) for i, res in self._relu_res}


class DCGANTrunk(nn.Module):
    """Images -> flattened 4x4 features h [N, 16 * ndf * 2^(k-1)]."""

    def __init__(self, img_resolution: int, img_channels: int, ndf: int) -> None:
        super().__init__()
        k = _num_ups(img_resolution)
        self.img_resolution, self.img_channels = img_resolution, img_channels
        layers: list[nn.Module] = [nn.Conv2d(img_channels, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2)]
        ch = ndf
        for _ in range(k - 1):
            layers += [nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch * 2), nn.LeakyReLU(0.2)]
            ch *= 2
        self.main = nn.Sequential(*layers)
        self.channels = ch
        self.feat_dim = ch * 16

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        x = self.main(img)
        assert_shape(x, [img.shape[0], self.channels, 4, 4], "DCGAN D features")
        return x.flatten(1)


class DCGANDiscriminator(DiscriminatorBase):
    """Classic DCGAN discriminator as trunk + heads (projection head when c_dim > 0)."""

    kind: ClassVar[str] = "dcgan"

    def __init__(self, img_resolution: int = 64, img_channels: int = 3, c_dim: int = 0, ndf: int = 64) -> None:
        super().__init__()
        self.img_resolution, self.img_channels, self.c_dim = int(img_resolution), int(img_channels), int(c_dim)
        self.trunk = DCGANTrunk(self.img_resolution, self.img_channels, int(ndf))
        self.feat_dim = self.trunk.feat_dim
        dcgan_init_(self.trunk)
        self._init_heads(equalized=False)
        self._config = dict(
            img_resolution=self.img_resolution, img_channels=self.img_channels, c_dim=self.c_dim, ndf=int(ndf)
        )
