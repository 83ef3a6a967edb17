"""Mask-to-image synthesis with SPADE normalisation (Park et al., 2019), trained on KLiSH's pairs.

::

    mask (integer [N, H, W], K classes) -> one-hot [N, K, H, W]
    z [N, z_dim] -> linear -> [N, widths[0], 4, 4]
      per width: SPADE residual block, x2 nearest upsampling (4 -> 8 -> ... -> H = 4 * 2^len(widths))
      final: SPADE, LeakyReLU, 3x3 conv to the image channels, tanh

    SPADE(x, m) = norm(x) * (1 + gamma(m)) + beta(m)
      norm: parameter-free InstanceNorm (or BatchNorm) of x;
      gamma, beta: 3x3 convs of a shared 3x3 conv-ReLU of the one-hot mask resized (nearest) to x.

The discriminator is a PatchGAN on the image concatenated with the one-hot mask (spectral norm,
a score per patch), so it judges both realism and agreement with the mask. Losses as SPADE's:
hinge for both players and, for the generator, the discriminator's feature matching between the
real image of a mask and the generated one (weight ``feature_matching``). Adam with
beta = (0, 0.9), the two-time-scale learning rates of SPADE (D at twice G's).

``train_m2i(images, masks, n_classes)`` returns a :class:`SpadeGenerator`; ``generate(net, masks)``
images in [-1, 1].
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import spectral_norm

from ganatomy.errors import OptionsError
from ganatomy.segment.segmenter import check_pairs

NORMS = ("instance", "batch")
M2I_WIDTHS = (128, 64, 32)  # 4x4 -> 8 -> 16 -> 32 for a 32x32 image
SLOPE = 0.2  # LeakyReLU slope


def one_hot(masks: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Integer masks [N, H, W] -> float one-hot [N, K, H, W]."""
    return F.one_hot(masks.long(), n_classes).permute(0, 3, 1, 2).float()


class SPADE(nn.Module):
    """Parameter-free normalisation, then a per-pixel scale and shift predicted from the mask."""

    def __init__(self, channels: int, n_classes: int, hidden: int = 32, norm: str = "instance"):
        super().__init__()
        if norm not in NORMS:
            raise OptionsError(f"SPADE: norm must be one of {', '.join(NORMS)}, got {norm!r}")
        self.norm = (
            nn.InstanceNorm2d(channels, affine=False) if norm == "instance" else nn.BatchNorm2d(channels, affine=False)
        )
        self.shared = nn.Sequential(nn.Conv2d(n_classes, hidden, 3, padding=1), nn.ReLU(inplace=True))
        self.gamma = nn.Conv2d(hidden, channels, 3, padding=1)
        self.beta = nn.Conv2d(hidden, channels, 3, padding=1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        m = F.interpolate(mask, size=x.shape[-2:], mode="nearest")
        h = self.shared(m)
        return self.norm(x) * (1 + self.gamma(h)) + self.beta(h)


class SpadeResBlock(nn.Module):
    """SPADE-LReLU-conv twice, with a SPADE-conv shortcut when the width changes."""

    def __init__(self, cin: int, cout: int, n_classes: int, norm: str = "instance"):
        super().__init__()
        middle = min(cin, cout)
        self.norm0, self.conv0 = SPADE(cin, n_classes, norm=norm), nn.Conv2d(cin, middle, 3, padding=1)
        self.norm1, self.conv1 = SPADE(middle, n_classes, norm=norm), nn.Conv2d(middle, cout, 3, padding=1)
        self.shortcut = None
        if cin != cout:
            self.norm_s, self.shortcut = SPADE(cin, n_classes, norm=norm), nn.Conv2d(cin, cout, 1, bias=False)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        skip = x if self.shortcut is None else self.shortcut(self.norm_s(x, mask))
        h = self.conv0(F.leaky_relu(self.norm0(x, mask), SLOPE))
        h = self.conv1(F.leaky_relu(self.norm1(h, mask), SLOPE))
        return skip + h


@dataclasses.dataclass(frozen=True)
class M2IConfig:
    n_classes: int
    resolution: int
    channels: int = 3
    z_dim: int = 64
    widths: tuple[int, ...] = M2I_WIDTHS
    norm: str = "instance"


class SpadeGenerator(nn.Module):
    """One-hot mask (+ noise) -> image in [-1, 1]; ``len(widths)`` blocks, each doubling from 4x4 to ``resolution``."""

    def __init__(self, config: M2IConfig):
        super().__init__()
        levels = len(config.widths)
        if config.resolution != 4 * 2**levels:
            size = 4 * 2**levels
            raise OptionsError(f"m2i: {levels} widths make {size}x{size} images, not {config.resolution}")
        self.config = config
        self.fc = nn.Linear(config.z_dim, config.widths[0] * 16)
        outs = [*config.widths[1:], config.widths[-1] // 2 or 1]
        self.blocks = nn.ModuleList(
            SpadeResBlock(cin, cout, config.n_classes, config.norm) for cin, cout in zip(config.widths, outs)
        )
        self.out_norm = SPADE(outs[-1], config.n_classes, norm=config.norm)
        self.to_image = nn.Conv2d(outs[-1], config.channels, 3, padding=1)

    def forward(self, mask_one_hot: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        h = self.fc(z).view(len(z), self.config.widths[0], 4, 4)
        for block in self.blocks:
            h = F.interpolate(block(h, mask_one_hot), scale_factor=2, mode="nearest")
        return torch.tanh(self.to_image(F.leaky_relu(self.out_norm(h, mask_one_hot), SLOPE)))


class PatchDiscriminator(nn.Module):
    """PatchGAN on [image, one-hot mask]: stride-2 4x4 convs, then a 1-channel score map.

    ``forward`` returns the score map and the intermediate activations (for feature matching)."""

    def __init__(self, channels: int, n_classes: int, widths: Sequence[int] = (64, 128, 256)):
        super().__init__()
        layers, cin = [], channels + n_classes
        for i, width in enumerate(widths):
            stride = 2 if i < len(widths) - 1 else 1
            layers.append(spectral_norm(nn.Conv2d(cin, width, 4, stride, padding=1)))
            cin = width
        self.layers = nn.ModuleList(layers)
        self.score = spectral_norm(nn.Conv2d(cin, 1, 3, padding=1))

    def forward(self, image: torch.Tensor, mask_one_hot: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        h = torch.cat([image, mask_one_hot], 1)
        feats = []
        for layer in self.layers:
            h = F.leaky_relu(layer(h), SLOPE)
            feats.append(h)
        return self.score(h), feats


def train_m2i(
    images: torch.Tensor | np.ndarray,
    masks: torch.Tensor | np.ndarray,
    n_classes: int,
    steps: int = 2000,
    batch_size: int = 32,
    lr: float = 2e-4,
    feature_matching: float = 10.0,
    seed: int = 0,
    widths: tuple[int, ...] = M2I_WIDTHS,
    progress: Any = None,
    device: str = "cpu",
) -> SpadeGenerator:
    """A SPADE generator fitted on ``device`` to uint8 images [N, C, H, W] (or [-1, 1] floats) and masks [N, H, W]."""
    x, y = check_pairs(images, masks, n_classes, steps, batch_size, "m2i", lr)
    x, y = x.to(device), y.to(device)
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    config = M2IConfig(n_classes=n_classes, resolution=x.shape[-1], channels=x.shape[1], widths=tuple(widths))
    net, disc = SpadeGenerator(config).to(device), PatchDiscriminator(x.shape[1], n_classes).to(device)
    opt_g = torch.optim.Adam(net.parameters(), lr=lr, betas=(0.0, 0.9))
    opt_d = torch.optim.Adam(disc.parameters(), lr=2 * lr, betas=(0.0, 0.9))
    net.train()
    for step in range(steps):
        idx = torch.randint(len(x), (min(batch_size, len(x)),), generator=g)
        real, m = x[idx], one_hot(y[idx], n_classes)
        z = torch.randn(len(idx), config.z_dim, generator=g).to(device)
        fake = net(m, z)
        # Discriminator: hinge on real and generated images of the same masks.
        d_real, _ = disc(real, m)
        d_fake, _ = disc(fake.detach(), m)
        loss_d = F.relu(1 - d_real).mean() + F.relu(1 + d_fake).mean()
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        # Generator: hinge plus matching the discriminator's features of the real image of each mask.
        d_fake, feats_fake = disc(fake, m)
        with torch.no_grad():
            _, feats_real = disc(real, m)
        matching = sum(F.l1_loss(a, b) for a, b in zip(feats_fake, feats_real)) / len(feats_real)
        loss_g = -d_fake.mean() + feature_matching * matching
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        if progress is not None:
            progress(step + 1, float(loss_g.detach()), float(loss_d.detach()))
    return net.eval()


@torch.no_grad()
def generate(net: SpadeGenerator, masks: torch.Tensor | np.ndarray, seed: int = 0, batch_size: int = 128):
    """Images [N, C, H, W] in [-1, 1] (on the CPU) for integer masks [N, H, W], noise seeded by ``seed``;
    computed where ``net`` is."""
    y = torch.as_tensor(np.asarray(masks)).long()
    cfg = net.config
    if y.ndim != 3 or y.shape[1:] != (cfg.resolution, cfg.resolution):
        raise OptionsError(f"m2i: masks must be [N, {cfg.resolution}, {cfg.resolution}], got {list(y.shape)}")
    if len(y) and (int(y.max()) >= cfg.n_classes or int(y.min()) < 0):
        raise OptionsError(f"m2i: mask values must lie in 0..{cfg.n_classes - 1}")
    z = torch.randn(len(y), cfg.z_dim, generator=torch.Generator().manual_seed(seed))
    device = next(net.parameters()).device
    net.eval()
    out = [
        net(one_hot(m.to(device), cfg.n_classes), zz.to(device)).cpu()
        for m, zz in zip(y.split(batch_size), z.split(batch_size))
    ]
    return torch.cat(out) if out else torch.zeros(0, cfg.channels, cfg.resolution, cfg.resolution)


def m2i_checkpoint(net: SpadeGenerator, part_labels: Sequence[str] = ()) -> dict[str, Any]:
    """What ``segment m2i train`` saves (``ganatomy.runs.checkpoint``)."""
    return {
        "format": "ganatomy-m2i",
        "config": dataclasses.asdict(net.config),
        "state": net.state_dict(),
        "part_labels": list(part_labels),
    }


def m2i_from_checkpoint(tree: dict[str, Any]) -> SpadeGenerator:
    from ganatomy.errors import CheckpointError

    if tree.get("format") != "ganatomy-m2i":
        raise CheckpointError(f"not a mask-to-image file (format {tree.get('format')!r})")
    config = dict(tree["config"])
    config["widths"] = tuple(int(w) for w in config["widths"])
    net = SpadeGenerator(M2IConfig(**config))
    net.load_state_dict(tree["state"])
    return net.eval()
