"""Latent priors: where a StyleGAN2 generator's w comes from.

``LatentPrior`` is the small interface the generator needs: ``sample_z(n, generator) -> z``,
``forward(z, c) -> w [N, w_dim]``, and a ``w_avg`` buffer (the running mean of w used for
truncation). ``MappingNetwork`` is StyleGAN2's Gaussian z + MLP. Other priors (a StyleGenes gene
bank) subclass ``LatentPrior``, are registered by a short name with ``register_prior`` and are
named in the generator's config as ``{"kind": name, **kwargs}``; checkpoints store that name,
never a module path.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, ClassVar

import torch
from torch import nn

from ganatomy.errors import OptionsError
from ganatomy.nets._checks import assert_shape, check_input
from ganatomy.nets.layers import EqualLinear
from ganatomy.utils.registry import add_entry, get_entry


def normalize_2nd_moment(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """x / sqrt(mean(x^2) + eps) over the feature dimension (StyleGAN's pixel norm of z)."""
    return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()


class LatentPrior(nn.Module):
    """Base class of latent priors: z ~ prior, w = f(z, c).

    Subclasses implement ``sample_z`` and ``forward`` and call ``super().__init__`` with the
    dimensions; ``config()`` must return the subclass's extra constructor kwargs (JSON-able) and
    ``kind`` the name it is registered under (``register_prior``).

    ``z_discrete`` says what z is. False: a continuous vector (the mapping network's Gaussian z),
    so shifting or interpolating z makes sense. True: a tuple of ``z_dim`` discrete indices
    (int64, e.g. a gene bank's DNA), where a shift in Z is meaningless; analyses check this flag
    before they move latents in Z and work in W (or swap indices) instead.
    """

    kind: ClassVar[str] = "abstract"
    z_discrete: ClassVar[bool] = False

    def __init__(self, z_dim: int, w_dim: int, c_dim: int = 0, w_avg_beta: float = 0.995) -> None:
        super().__init__()
        self.z_dim, self.w_dim, self.c_dim, self.w_avg_beta = int(z_dim), int(w_dim), int(c_dim), float(w_avg_beta)
        self.register_buffer("w_avg", torch.zeros(self.w_dim))

    def sample_z(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` latents on the CPU, drawn from ``generator`` (torch's global RNG if None)."""
        raise NotImplementedError

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        """w [N, w_dim] for z and (one-hot float) labels c."""
        raise NotImplementedError

    @torch.no_grad()
    def update_w_avg(self, w: torch.Tensor) -> None:
        """w_avg <- lerp(mean_batch(w), w_avg, beta): the running mean used by truncation."""
        assert_shape(w, [None, self.w_dim], "w")
        self.w_avg.copy_(w.detach().float().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))

    def truncation_center(self) -> torch.Tensor:
        """The w that truncation pulls towards [w_dim]: the running mean w_avg."""
        return self.w_avg

    def truncate(self, ws: torch.Tensor, psi: float, cutoff: int | None = None) -> torch.Tensor:
        """w' = w_avg + psi (w - w_avg) for the first ``cutoff`` rows of ws [N, num_ws, w_dim]."""
        if psi == 1:
            return ws
        avg = self.truncation_center().to(ws.dtype)
        if cutoff is None:
            return avg.lerp(ws, psi)
        return torch.cat([avg.lerp(ws[:, :cutoff], psi), ws[:, cutoff:]], dim=1)

    def config(self) -> dict[str, Any]:
        return {}


class MappingNetwork(LatentPrior):
    """z ~ N(0, I); w = MLP([norm(z), norm(embed(c))]) with lrelu and a 0.01 learning-rate multiplier."""

    kind: ClassVar[str] = "mapping"

    def __init__(
        self,
        z_dim: int,
        w_dim: int,
        c_dim: int = 0,
        w_avg_beta: float = 0.995,
        num_layers: int = 2,
        lr_mul: float = 0.01,
    ) -> None:
        super().__init__(z_dim, w_dim, c_dim, w_avg_beta)
        if z_dim == 0 and c_dim == 0:
            raise OptionsError("mapping network: needs z_dim > 0 or c_dim > 0")
        if num_layers < 1:
            raise OptionsError(f"mapping network: num_layers must be >= 1, got {num_layers}")
        self.num_layers, self.lr_mul = int(num_layers), float(lr_mul)
        # The label embedding is normalised like z and concatenated to it (StyleGAN2-ADA).
        self.embed = EqualLinear(c_dim, w_dim) if c_dim > 0 else None
        dims = [z_dim + (w_dim if c_dim > 0 else 0)] + [w_dim] * num_layers
        self.layers = nn.Sequential(
            *[EqualLinear(dims[i], dims[i + 1], lr_mul=lr_mul, activation="lrelu") for i in range(num_layers)]
        )

    def sample_z(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.randn(n, self.z_dim, generator=generator)

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        # float32 even under autocast: it costs nothing here, and with lr_mul 0.01 the updates
        # to w (and to w_avg, which truncation reads) are below bf16's resolution.
        with torch.autocast(device_type=self.w_avg.device.type, enabled=False):
            return self._forward(z, c)

    def _forward(self, z: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        parts = []
        if self.z_dim > 0:
            check_input(z, [None, self.z_dim], "z")
            parts.append(normalize_2nd_moment(z.float()))
        if self.embed is not None:
            if c is None:
                raise OptionsError(f"mapping network is class-conditional ({self.c_dim} classes): pass labels c")
            check_input(c, [parts[0].shape[0] if parts else None, self.c_dim], "class labels")
            parts.append(normalize_2nd_moment(self.embed(c.float()).float()))
        x = torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]
        w = self.layers(x)
        assert_shape(w, [x.shape[0], self.w_dim], "w")
        return w

    def config(self) -> dict[str, Any]:
        return {"num_layers": self.num_layers, "lr_mul": self.lr_mul}


_PRIOR_KINDS: dict[str, type[LatentPrior]] = {}
PRIOR_KINDS: Mapping[str, type[LatentPrior]] = MappingProxyType(_PRIOR_KINDS)  # read-only view

_UNKNOWN_HINT = " (a prior from other code must be registered with ganatomy.nets.mapping.register_prior first)"


def register_prior(cls: type[LatentPrior]) -> type[LatentPrior]:
    """Make ``cls`` buildable by its ``kind`` (a short name); usable as a class decorator."""
    if not (isinstance(cls, type) and issubclass(cls, LatentPrior)) or cls is LatentPrior:
        raise OptionsError(f"register_prior: {cls!r} is not a LatentPrior subclass")
    return add_entry(_PRIOR_KINDS, "latent prior", cls.kind, cls)


register_prior(MappingNetwork)


def prior_class(kind: str) -> type[LatentPrior]:
    """The ``LatentPrior`` subclass registered as ``kind``."""
    return get_entry(PRIOR_KINDS, "latent prior", kind, _UNKNOWN_HINT)


def build_prior(spec: dict[str, Any], z_dim: int, w_dim: int, c_dim: int, w_avg_beta: float) -> LatentPrior:
    """Build a prior from ``{"kind": name, **kwargs}`` and the generator's dimensions."""
    spec = dict(spec)
    kind = spec.pop("kind", "mapping")
    cls = prior_class(kind)
    try:
        return cls(z_dim=z_dim, w_dim=w_dim, c_dim=c_dim, w_avg_beta=w_avg_beta, **spec)
    except TypeError as e:
        raise OptionsError(f"latent prior {kind!r}: bad arguments ({e})") from None


def prior_spec(prior: LatentPrior) -> dict[str, Any]:
    """The ``{"kind": ..., **kwargs}`` that ``build_prior`` turns back into ``prior``."""
    if PRIOR_KINDS.get(prior.kind) is not type(prior):
        raise OptionsError(
            f"latent prior {type(prior).__qualname__} (kind {prior.kind!r}) is not registered; "
            "call ganatomy.nets.mapping.register_prior on its class"
        )
    return {"kind": prior.kind, **prior.config()}
