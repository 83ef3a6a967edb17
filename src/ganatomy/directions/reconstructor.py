"""The reconstructor R of Voynov & Babenko: from (image, shifted image), which direction moved and how far.

Both images are stacked along channels. ``lenet`` (the paper's choice for small images): three 5x5
conv-BN-ReLU blocks of widths 3w, 8w, 60w with max pooling after the first two, global average
pooling and two heads FC(84)-BN-ReLU-FC. ``resnet`` (for 64 px and more): a small ResNet of basic
blocks, one per stage at widths w, 2w, 4w, 8w, each stage halving the resolution, then the heads.
``forward`` returns (logits [N, K], predicted shift [N]).
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from ganatomy.errors import OptionsError
from ganatomy.nets._checks import check_input

ARCHS = ("auto", "lenet", "resnet")
# From this resolution on, 'auto' picks the ResNet (the paper: LeNet for MNIST/Anime, ResNet for larger).
RESNET_FROM = 64
DEFAULT_WIDTH = {"lenet": 4, "resnet": 16}


def resolve_arch(arch: str, resolution: int) -> str:
    if arch not in ARCHS:
        raise OptionsError(f"reconstructor: unknown architecture {arch!r}; use one of {', '.join(ARCHS)}")
    if arch == "auto":
        return "resnet" if resolution >= RESNET_FROM else "lenet"
    return arch


def _head(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(cin, 84), nn.BatchNorm1d(84), nn.ReLU(inplace=True), nn.Linear(84, cout))


def _conv_bn_relu(cin: int, cout: int, kernel: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with an identity (or 1x1 strided) shortcut."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.body = nn.Sequential(
            *_conv_bn_relu(cin, cout, 3, stride), nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout)
        )
        self.shortcut = (
            nn.Identity()
            if stride == 1 and cin == cout
            else nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.shortcut(x))


def _lenet_trunk(cin: int, w: int) -> tuple[nn.Sequential, int]:
    layers = [
        *_conv_bn_relu(cin, 3 * w, 5),
        nn.MaxPool2d(2),
        *_conv_bn_relu(3 * w, 8 * w, 5),
        nn.MaxPool2d(2),
        *_conv_bn_relu(8 * w, 60 * w, 5),
    ]
    return nn.Sequential(*layers), 60 * w


def _resnet_trunk(cin: int, w: int) -> tuple[nn.Sequential, int]:
    widths = [w, 2 * w, 4 * w, 8 * w]
    blocks = [*_conv_bn_relu(cin, w, 3)]
    for cprev, c in zip([w, *widths], widths):
        blocks.append(BasicBlock(cprev, c, stride=2))
    return nn.Sequential(*blocks), widths[-1]


class Reconstructor(nn.Module):
    """R (see the module docstring).

    Args:
        n_directions: K, the classes of the index head.
        channels: channels of one image (the input has twice as many).
        resolution: image side (picks the architecture for ``arch='auto'``).
        arch: 'auto', 'lenet' or 'resnet'.
        width: w (default: 4 for lenet, 16 for resnet).
    """

    def __init__(
        self, n_directions: int, channels: int = 3, resolution: int = 32, arch: str = "auto", width: int | None = None
    ):
        super().__init__()
        arch = resolve_arch(arch, resolution)
        width = DEFAULT_WIDTH[arch] if width is None else int(width)
        if n_directions < 1 or width < 1:
            raise OptionsError(f"reconstructor: n_directions and width must be >= 1, got {n_directions}, {width}")
        self._config = {
            "n_directions": int(n_directions),
            "channels": int(channels),
            "resolution": int(resolution),
            "arch": arch,
            "width": width,
        }
        self.channels = int(channels)
        self.trunk, features = (_lenet_trunk if arch == "lenet" else _resnet_trunk)(2 * channels, width)
        self.index_head = _head(features, n_directions)
        self.shift_head = _head(features, 1)

    def config(self) -> dict[str, Any]:
        return copy.deepcopy(self._config)

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self._config.items())

    def forward(self, image: torch.Tensor, shifted: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        check_input(image, [None, self.channels, None, None], "reconstructor image")
        check_input(shifted, list(image.shape), "reconstructor shifted image")
        x = torch.cat([image, shifted], dim=1).contiguous(memory_format=torch.channels_last)
        h = self.trunk(x).mean(dim=(2, 3))
        return self.index_head(h), self.shift_head(h)[:, 0]
