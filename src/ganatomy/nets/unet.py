"""A configurable U-Net: the world oracle's, the Voynov saliency segmenter's and the KLiSH segmenter's.

::

    image [N, in_channels, H, W]
      encoder: one block of ``encoder_convs`` 3x3 conv(-BN)-ReLU layers per level, widths ``widths``,
          2x2 pooling (average or max) between levels: H, H/2, ..., H / 2^(depth-1)
      decoder: per level up, a 2x2 transposed conv (x2, to that level's width), the encoder skip added
          (or concatenated), ``decoder_convs`` conv(-BN)-ReLU layers
      head: 1x1 conv to ``out_channels`` logits [N, out_channels, H, W] (none if out_channels is None:
          ``forward`` then returns the decoder's features [N, widths[0], H, W])

Adding skips and using one decoder conv (the defaults) is what the world oracle measured as the
better trade on two CPU cores, where the full-resolution layers dominate the cost; ``skip="concat"``
and ``decoder_convs=2`` give Ronneberger et al.'s original layout. H and W must be divisible by
2^(depth-1).

:class:`UNetEncoder` and :class:`UNetDecoder` are public so that networks with heads of their own
on the bottleneck (the world oracle) can use the same blocks with the same parameter names.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ganatomy.errors import OptionsError
from ganatomy.nets._checks import ShapeError, check_input

SKIPS = ("add", "concat")
POOLS = ("avg", "max")
NORMS = ("batch", "none")


def conv_norm_relu(cin: int, cout: int, norm: str = "batch") -> list[nn.Module]:
    """A 3x3 convolution, BatchNorm (or a bias when ``norm="none"``) and ReLU."""
    if norm == "batch":
        return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
    return [nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(inplace=True)]


class ConvBlock(nn.Sequential):
    """``layers`` 3x3 conv-norm-ReLU layers, the first from ``cin`` channels to ``cout``."""

    def __init__(self, cin: int, cout: int, layers: int = 2, norm: str = "batch"):
        super().__init__(*(m for i in range(layers) for m in conv_norm_relu(cin if i == 0 else cout, cout, norm)))


class UpBlock(nn.Module):
    """x2 upsampling by a 2x2 transposed conv, the skip added or concatenated, then conv layers."""

    def __init__(self, cin: int, cout: int, layers: int = 1, skip: str = "add", norm: str = "batch"):
        super().__init__()
        self.skip = skip
        self.up = nn.ConvTranspose2d(cin, cout, 2, stride=2)
        self.conv = ConvBlock(cout * (2 if skip == "concat" else 1), cout, layers=layers, norm=norm)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = self.up(x)
        return self.conv(torch.cat([x, skip], dim=1) if self.skip == "concat" else x + skip)


class UNetEncoder(nn.ModuleList):
    """The encoder levels; ``forward`` returns every level's output, full resolution first."""

    def __init__(self, in_channels: int, widths: Sequence[int], convs: int = 2, pool: str = "avg", norm: str = "batch"):
        super().__init__(ConvBlock(cin, cout, convs, norm) for cin, cout in zip([in_channels, *widths], widths))
        self.pool = pool

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        down = F.avg_pool2d if self.pool == "avg" else F.max_pool2d
        skips = []
        for i, block in enumerate(self):
            x = block(x if i == 0 else down(x, 2))
            skips.append(x)
        return skips


class UNetDecoder(nn.ModuleList):
    """The decoder levels, deepest first; ``forward(skips)`` climbs back to full resolution."""

    def __init__(self, widths: Sequence[int], convs: int = 1, skip: str = "add", norm: str = "batch"):
        super().__init__(UpBlock(widths[i + 1], widths[i], convs, skip, norm) for i in reversed(range(len(widths) - 1)))

    def forward(self, skips: Sequence[torch.Tensor]) -> torch.Tensor:
        y = skips[-1]
        for block, skip in zip(self, reversed(skips[:-1])):
            y = block(y, skip)
        return y


def unet_widths(depth: int, width: int, max_width: int | None = None) -> list[int]:
    """``width`` doubling per level over ``depth`` levels, capped at ``max_width``.

    ``unet_widths(4, 16)`` is [16, 32, 64, 128].
    """
    widths = [width * 2**i for i in range(depth)]
    return widths if max_width is None else [min(w, max_width) for w in widths]


def check_unet_options(
    widths: Sequence[int], encoder_convs: int, decoder_convs: int, skip: str, pool: str, norm: str, where: str = "U-Net"
) -> list[int]:
    """The widths as a list of ints; a one-line OptionsError for a bad option."""
    widths = list(widths)
    if not widths or not all(isinstance(w, int) and not isinstance(w, bool) and w > 0 for w in widths):
        raise OptionsError(f"{where}: widths must be positive integers, one per level, got {widths!r}")
    if encoder_convs < 1 or decoder_convs < 1:
        raise OptionsError(f"{where}: encoder_convs and decoder_convs must be >= 1")
    for name, value, allowed in (("skip", skip, SKIPS), ("pool", pool, POOLS), ("norm", norm, NORMS)):
        if value not in allowed:
            raise OptionsError(f"{where}: {name} {value!r} is unknown; use one of {', '.join(allowed)}")
    return widths


class UNet(nn.Module):
    """A U-Net image-to-image network (see the module docstring).

    Args:
        in_channels: input image channels.
        out_channels: logits per pixel; None for no head (``forward`` returns decoder features).
        widths: channels per level, full resolution first; their number is the depth.
        encoder_convs, decoder_convs: conv layers per encoder / decoder level.
        skip: 'add' or 'concat' the encoder features into the decoder.
        pool: 'avg' or 'max' 2x2 pooling between encoder levels.
        norm: 'batch' (BatchNorm after every conv) or 'none' (convs with biases).
    """

    kind = "unet"

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int | None = 1,
        widths: Sequence[int] = (16, 32, 64, 128),
        encoder_convs: int = 2,
        decoder_convs: int = 1,
        skip: str = "add",
        pool: str = "avg",
        norm: str = "batch",
    ):
        super().__init__()
        widths = check_unet_options(widths, encoder_convs, decoder_convs, skip, pool, norm)
        if out_channels is not None and out_channels < 1:
            raise OptionsError(f"U-Net: out_channels must be >= 1 or None, got {out_channels}")
        self._config = {
            "in_channels": int(in_channels),
            "out_channels": None if out_channels is None else int(out_channels),
            "widths": widths,
            "encoder_convs": int(encoder_convs),
            "decoder_convs": int(decoder_convs),
            "skip": skip,
            "pool": pool,
            "norm": norm,
        }
        self.in_channels, self.out_channels, self.depth = int(in_channels), out_channels, len(widths)
        self.encoder = UNetEncoder(in_channels, widths, encoder_convs, pool, norm)
        self.decoder = UNetDecoder(widths, decoder_convs, skip, norm)
        self.head = None if out_channels is None else nn.Conv2d(widths[0], out_channels, 1)

    def config(self) -> dict[str, Any]:
        return copy.deepcopy(self._config)

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self._config.items())

    def _check(self, x: torch.Tensor) -> None:
        check_input(x, [None, self.in_channels, None, None], "U-Net input")
        factor = 2 ** (self.depth - 1)
        if x.shape[-2] % factor or x.shape[-1] % factor:
            raise ShapeError(
                f"U-Net input: {x.shape[-2]}x{x.shape[-1]} is not divisible by {factor} ({self.depth} levels)"
            )

    def encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Every encoder level's features, full resolution first (the last is the bottleneck)."""
        self._check(x)
        return self.encoder(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits [N, out_channels, H, W] (decoder features [N, widths[0], H, W] without a head)."""
        y = self.decoder(self.encode(x))
        return y if self.head is None else self.head(y)
