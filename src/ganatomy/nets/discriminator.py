"""Discriminators as a trunk plus named heads.

``D.trunk(img) -> h [N, feat_dim]`` computes the shared representation; ``D.heads`` is a
``ModuleDict``. ``heads["adv"]`` is the adversarial head, called as ``heads["adv"](h, c)`` (its
projection term needs the labels); every other head is called as ``head(h)``. ``forward(img, c)``
returns the adversarial logits [N]. Training methods that need more outputs (rotation or class
heads of S2GAN-CO / S3GAN) attach them with ``add_head`` and call ``run_heads`` on one trunk
pass, without touching the discriminator classes.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ganatomy.errors import OptionsError
from ganatomy.nets._checks import assert_shape, check_input
from ganatomy.nets.protocol import labels_to_onehot

ADV = "adv"


class ProjectionHead(nn.Module):
    """logit = linear(h) + <embed(c), h> (Miyato & Koyama 2018); linear(h) only when c_dim = 0.

    Both weights start N(0, 1/feat_dim) so that the two terms have the same scale. With
    ``equalized=True`` they are stored N(0, 1) and scaled at run time (StyleGAN2 convention);
    otherwise stored at their scale (plain Adam, DCGAN convention).
    """

    def __init__(self, feat_dim: int, c_dim: int = 0, equalized: bool = True) -> None:
        super().__init__()
        self.feat_dim, self.c_dim = feat_dim, c_dim
        std = 1.0 / math.sqrt(feat_dim)
        self.gain = std if equalized else 1.0
        init = 1.0 if equalized else std
        self.weight = nn.Parameter(torch.randn(feat_dim) * init)
        self.bias = nn.Parameter(torch.zeros([]))
        self.embed = nn.Parameter(torch.randn(c_dim, feat_dim) * init) if c_dim > 0 else None

    def forward(self, h: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        n = h.shape[0]
        assert_shape(h, [n, self.feat_dim], "head input h")
        # float32 logits even under autocast: the losses (softplus, hinge) and R1 read them.
        with torch.autocast(device_type=h.device.type, enabled=False):
            h = h.float()
            out = F.linear(h, (self.weight * self.gain).unsqueeze(0), self.bias.reshape(1)).squeeze(1)
            if self.embed is not None:
                c = labels_to_onehot(c, self.c_dim, n, h.device).float()
                e = c @ (self.embed * self.gain)  # [N, feat_dim]
                out = out + (e * h).sum(dim=1)
        return out

    def extra_repr(self) -> str:
        return f"feat_dim={self.feat_dim}, c_dim={self.c_dim}"


class DiscriminatorBase(nn.Module):
    """Trunk + heads. Subclasses set ``self.trunk``, ``self.feat_dim``, ``self.c_dim``,
    ``self.img_resolution``, ``self.img_channels`` and ``self._config``, then call ``_init_heads``."""

    kind: ClassVar[str] = "discriminator"

    def _init_heads(self, equalized: bool) -> None:
        self.heads = nn.ModuleDict({ADV: ProjectionHead(self.feat_dim, self.c_dim, equalized)})

    def features(self, img: torch.Tensor) -> torch.Tensor:
        """The trunk's representation h [N, feat_dim] (alias of ``self.trunk(img)`` with input checks)."""
        check_input(img, [None, self.img_channels, self.img_resolution, self.img_resolution], "images")
        h = self.trunk(img)
        assert_shape(h, [img.shape[0], self.feat_dim], "trunk output h")
        return h

    def forward(self, img: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        """Adversarial logits [N] for images [N, C, R, R] (and labels, if conditional)."""
        return self.heads[ADV](self.features(img), c)

    def run_heads(
        self, h: torch.Tensor, c: torch.Tensor | None = None, names: Sequence[str] | None = None
    ) -> dict[str, torch.Tensor]:
        """Outputs of the named heads (all by default) on one representation h."""
        names = list(self.heads) if names is None else list(names)
        out = {}
        for name in names:
            if name not in self.heads:
                raise OptionsError(f"discriminator has no head {name!r}; heads: {', '.join(self.heads)}")
            out[name] = self.heads[name](h, c) if name == ADV else self.heads[name](h)
        return out

    def add_head(self, name: str, module: nn.Module) -> None:
        """Attach a head that maps h [N, feat_dim] to anything (moved to D's device and dtype)."""
        if name in self.heads:
            raise OptionsError(f"discriminator already has a head {name!r}")
        p = next(self.parameters())
        self.heads[name] = module.to(device=p.device, dtype=p.dtype)

    def config(self) -> dict[str, Any]:
        """Constructor kwargs (JSON-able). Heads added later are not part of it: re-add them."""
        return copy.deepcopy(self._config)

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self._config.items())
