"""DCGAN (Radford et al. 2016) generator and discriminator at 32x32 and 64x64.

Generator: z [N, z_dim] -> (as [N, z_dim, 1, 1]) a 4x4 transposed conv to ``ngf * 2^(k-1)``
channels, then k - 1 stride-2 transposed convs halving the channels, each with BatchNorm and
ReLU, and a last stride-2 transposed conv to the image with tanh (k = 4 at 64 px, 3 at 32 px).
Its parameters sit in one ``nn.Sequential`` named ``main``, the classic layout, so that the
64x64 model with z_dim=100 and ngf=64 loads DCGAN state dicts such as the DigiFace weights.
A conditional generator (``c_dim > 0``) adds class-conditional BatchNorm (see the class).

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
from ganatomy.nets.protocol import GeneratorBase, check_space, labels_to_onehot


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
    """Classic DCGAN generator; implements the generator protocol (Z space only).

    Class-conditional with ``c_dim > 0`` through conditional BatchNorm: after each BatchNorm of
    ``main`` the features are scaled by ``1 + E_gain c`` and shifted by ``E_shift c`` per channel
    (``class_norms``: linear maps of the one-hot or soft label, no bias; BigGAN's conditioning with
    its "+1", ``research/training-methods.md`` section 1.2). Chosen over concatenating c to z
    because the class then acts at every resolution rather than only through the first 4x4
    layer, as in the S3GAN generator that the conditional DCGAN stands in for on CPUs; and because
    ``main`` keeps the unconditional parameter names and shapes, so DCGAN state dicts (the zoo's
    DigiFace weights) load unchanged. E starts N(0, 0.02), the spread of DCGAN's BatchNorm scales.

    The SeFa analogue of StyleGAN2's affine weights is the first transposed conv, a linear map of
    z to the 4x4 map: ``style_weights()["b4"]`` is it as a [C * 16, z_dim] matrix.
    """

    kind: ClassVar[str] = "dcgan"
    latent_spaces = ("z",)
    num_ws = 1
    w_dim = 0

    def __init__(
        self, img_resolution: int = 64, img_channels: int = 3, z_dim: int = 100, ngf: int = 64, c_dim: int = 0
    ) -> None:
        super().__init__()
        k = _num_ups(img_resolution)
        self.z_dim, self.c_dim, self.ngf = int(z_dim), int(c_dim), int(ngf)
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
        # main index of each BatchNorm -> its class_norms entry (only built when conditional).
        norms = [i for i, m in enumerate(self.main) if isinstance(m, nn.BatchNorm2d)]
        self._class_norm_of = {i: j for j, i in enumerate(norms)} if self.c_dim else {}
        if self.c_dim:
            self.class_norms = nn.ModuleList(
                nn.Linear(self.c_dim, 2 * self.main[i].num_features, bias=False) for i in norms
            )
            for m in self.class_norms:
                nn.init.normal_(m.weight, 0.0, 0.02)
        self._config = dict(
            img_resolution=self.img_resolution,
            img_channels=self.img_channels,
            z_dim=self.z_dim,
            ngf=self.ngf,
            c_dim=self.c_dim,
        )

    def _sample_z(self, n: int, generator: torch.Generator | None) -> torch.Tensor:
        return torch.randn(n, self.z_dim, generator=generator)

    def forward(
        self, z: torch.Tensor, c: torch.Tensor | None = None, truncation_psi: float = 1.0, **_ignored
    ) -> torch.Tensor:
        """z [N, z_dim] (+ labels if conditional) -> images [N, C, R, R] in [-1, 1]. An unconditional
        G ignores labels; truncation scales z towards its mean 0 (the Gaussian analogue of W
        truncation)."""
        check_input(z, [None, self.z_dim], "z")
        n = z.shape[0]
        c = labels_to_onehot(c, self.c_dim, n, z.device)
        if truncation_psi != 1:
            z = z * truncation_psi
        x = z.reshape(n, self.z_dim, 1, 1)
        for i, layer in enumerate(self.main):
            x = layer(x)
            if i in self._class_norm_of:
                gain, shift = self.class_norms[self._class_norm_of[i]](c).to(x.dtype)[:, :, None, None].chunk(2, 1)
                x = x * (1 + gain) + shift
        assert_shape(x, [n, self.img_channels, self.img_resolution, self.img_resolution], "image")
        return x

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
        return self.forward(latents, c)

    def _feature_modules(self) -> dict[str, nn.Module]:
        # The ReLU output at each resolution: "b4", "b8", ... (not the final tanh image).
        return {f"b{res}": self.main[i] for i, res in self._relu_res}

    def feature_shapes(self) -> dict[str, tuple[int, int, int]]:
        """Feature name -> (channels, height, width)."""
        return {f"b{res}": (self.main[i - 1].num_features, res, res) for i, res in self._relu_res}

    def style_weights(self) -> dict[str, torch.Tensor]:
        """{"b4": the first layer as a matrix [C * 16, z_dim]}: its output, flattened, is that matrix
        times z (a 4x4 transposed conv of a 1x1 input); detached."""
        weight = self.main[0].weight  # [z_dim, C, 4, 4]
        return {"b4": weight.permute(1, 2, 3, 0).reshape(-1, self.z_dim).detach()}


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
