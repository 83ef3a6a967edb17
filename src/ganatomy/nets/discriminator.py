"""Discriminators as a trunk plus named heads.

``D.trunk(img) -> h [N, feat_dim]`` computes the shared representation; ``D.heads`` is a
``ModuleDict``. ``heads["adv"]`` is the adversarial head, called as ``heads["adv"](h, c)`` (its
projection term needs the labels); every other head is called as ``head(h)``. ``forward(img, c)``
returns the adversarial logits [N]. Training methods that need more outputs (rotation or class
heads of S2GAN-CO / S3GAN) attach them with ``add_head(name, {"kind": "linear", "out": 4})`` and
call ``run_heads`` on one trunk pass, without touching the discriminator classes. Heads are
declared by such specs, which ``config()`` records under ``"heads"``, so a saved D with heads is
rebuilt with them (``nets.registry.build_discriminator``). Head kinds are registered by name
(``register_head_kind``); ``linear`` is built in.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ganatomy.errors import OptionsError
from ganatomy.nets._checks import assert_shape, check_input
from ganatomy.nets.protocol import labels_to_onehot
from ganatomy.utils.registry import add_entry, get_entry

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


class LinearHead(nn.Module):
    """h [N, feat_dim] -> logits [N, out] in float32 (class or rotation logits), initialised and
    stored like the projection head's weights (``equalized`` as in the discriminator)."""

    def __init__(self, feat_dim: int, out: int, equalized: bool = True) -> None:
        super().__init__()
        if isinstance(out, bool) or not isinstance(out, int) or out < 1:
            raise OptionsError(f"linear head: 'out' must be a positive integer, got {out!r}")
        self.feat_dim, self.out = feat_dim, out
        std = 1.0 / math.sqrt(feat_dim)
        self.gain = std if equalized else 1.0
        self.weight = nn.Parameter(torch.randn(out, feat_dim) * (1.0 if equalized else std))
        self.bias = nn.Parameter(torch.zeros(out))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        assert_shape(h, [None, self.feat_dim], "head input h")
        with torch.autocast(device_type=h.device.type, enabled=False):  # cross-entropies read these
            return F.linear(h.float(), self.weight * self.gain, self.bias)

    def extra_repr(self) -> str:
        return f"feat_dim={self.feat_dim}, out={self.out}"


# A head kind builds a module from (feat_dim, equalized, **spec without "kind").
HeadBuilder = Callable[..., nn.Module]
_HEAD_KINDS: dict[str, HeadBuilder] = {}
HEAD_KINDS: Mapping[str, HeadBuilder] = MappingProxyType(_HEAD_KINDS)


def register_head_kind(name: str, builder: HeadBuilder) -> HeadBuilder:
    """Make ``{"kind": name, ...}`` a head spec: ``builder(feat_dim=, equalized=, **rest)`` -> module."""
    if not callable(builder):
        raise OptionsError(f"head kind {name!r}: the builder must be callable")
    return add_entry(_HEAD_KINDS, "head kind", name, builder)


register_head_kind("linear", LinearHead)


def build_head(spec: Mapping[str, Any], feat_dim: int, equalized: bool) -> nn.Module:
    """The head module that ``spec`` (``{"kind": ..., **kwargs}``) declares."""
    if not isinstance(spec, Mapping) or "kind" not in spec:
        raise OptionsError(f"head spec {spec!r}: expected a mapping with a 'kind', e.g. {{'kind': 'linear', 'out': 4}}")
    kwargs = {k: v for k, v in spec.items() if k != "kind"}
    builder = get_entry(HEAD_KINDS, "head kind", spec["kind"])
    try:
        return builder(feat_dim=feat_dim, equalized=equalized, **kwargs)
    except TypeError as e:
        raise OptionsError(f"head kind {spec['kind']!r}: bad arguments ({e})") from None


class DiscriminatorBase(nn.Module):
    """Trunk + heads. Subclasses set ``self.trunk``, ``self.feat_dim``, ``self.c_dim``,
    ``self.img_resolution``, ``self.img_channels`` and ``self._config``, then call ``_init_heads``."""

    kind: ClassVar[str] = "discriminator"

    def _init_heads(self, equalized: bool) -> None:
        self._equalized = equalized
        self._head_specs: dict[str, dict[str, Any]] = {}
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

    def add_head(self, name: str, spec: Mapping[str, Any]) -> nn.Module:
        """Attach the head that ``spec`` declares (e.g. ``{"kind": "linear", "out": 4}``), mapping
        h [N, feat_dim] to its outputs; it is created on D's device and dtype and returned.

        Add heads before the optimizers are built (they snapshot D's parameters)."""
        if isinstance(spec, nn.Module):
            raise OptionsError(
                f"head {name!r}: pass a spec such as {{'kind': 'linear', 'out': 4}}, not a module "
                "(a module cannot be rebuilt from a snapshot; register_head_kind adds kinds)"
            )
        if not isinstance(name, str) or not name or "." in name:
            raise OptionsError(f"head name {name!r}: use a non-empty name without dots")
        if name in self.heads:
            raise OptionsError(f"discriminator already has a head {name!r}")
        try:
            spec = json.loads(json.dumps(dict(spec)))  # a copy, and proof that a checkpoint can hold it
        except (TypeError, ValueError):
            raise OptionsError(f"head {name!r}: spec {spec!r} must be JSON-able") from None
        p = next(self.parameters())
        module = build_head(spec, self.feat_dim, self._equalized).to(device=p.device, dtype=p.dtype)
        self.heads[name] = module
        self._head_specs[name] = spec
        return module

    def config(self) -> dict[str, Any]:
        """Constructor kwargs (JSON-able), plus ``"heads"``: the specs of the added heads, if any."""
        cfg = copy.deepcopy(self._config)
        if self._head_specs:
            cfg["heads"] = copy.deepcopy(self._head_specs)
        return cfg

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self._config.items())
