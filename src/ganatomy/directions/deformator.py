"""The latent deformator A of Voynov & Babenko: K directions in a D-dimensional latent, as a module.

``A(index, shift)`` is ``shift * vectors()[index]``, one row per sample. The variants:

- ``linear``: a free K x D matrix (K may exceed D);
- ``proj``: the same with each row rescaled to unit length, so a shift of 1 moves the latent by 1;
- ``ortho``: the first K rows of exp(S - S^T), the exponential of a skew-symmetric matrix, which is a
  rotation: the rows stay orthonormal however S is stepped (K <= D);
- ``coordinate``: the first K unit vectors of the latent, fixed (the paper's coordinate baseline);
- ``random``: K fixed random orthonormal rows (the paper's random baseline).

No bias (unlike the official code's linear layer): a direction is a vector, and a zero shift must
leave the latent where it is.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from ganatomy.errors import OptionsError

DEFORMATORS = ("linear", "proj", "ortho", "coordinate", "random")
FIXED = ("coordinate", "random")
INITS = ("random", "coordinate")
# The official random init of linear/proj: 0.1 N(0, 1).
_LINEAR_INIT_STD = 0.1


def random_orthonormal(k: int, d: int, seed: int) -> torch.Tensor:
    """K orthonormal rows in R^D (Haar-distributed: QR of a Gaussian with the signs fixed)."""
    g = torch.Generator().manual_seed(int(seed))
    q, r = torch.linalg.qr(torch.randn(d, k, generator=g, dtype=torch.float64))
    q = q * torch.sign(torch.diagonal(r))[None, :]
    return q.T.float().contiguous()


def check_deformator(kind: str, n_directions: int, dim: int) -> None:
    """A one-line OptionsError for an unknown variant or a K the variant cannot have."""
    if kind not in DEFORMATORS:
        raise OptionsError(f"deformator: unknown variant {kind!r}; use one of {', '.join(DEFORMATORS)}")
    if isinstance(n_directions, bool) or not isinstance(n_directions, int) or n_directions < 1:
        raise OptionsError(f"deformator: n_directions must be an integer >= 1, got {n_directions!r}")
    if kind in ("ortho", *FIXED) and n_directions > dim:
        raise OptionsError(
            f"deformator: {kind!r} has at most {dim} orthonormal directions in a {dim}-d latent, "
            f"got n_directions={n_directions}; use 'linear' or 'proj' for more"
        )


class Deformator(nn.Module):
    """K latent directions (see the module docstring).

    Args:
        n_directions: K.
        dim: D, the size of one latent (one W+ row).
        kind: one of ``DEFORMATORS``.
        init: 'random' (the official default: a random rotation for ortho, 0.1 N(0, 1) for linear/proj)
            or 'coordinate' (start at the coordinate directions, which the paper's author recommends
            when training is unstable).
        seed: seed of the initialisation (and of the fixed random rows).
        gain: A is computed from ``gain`` x its stored parameters (initialised divided by it), so the
            same Adam learning rate moves A ``gain`` times faster than R: what two optimisers with
            their own rates do (the official code's), with one.
    """

    kind_name = "deformator"

    def __init__(
        self, n_directions: int, dim: int, kind: str = "ortho", init: str = "random", seed: int = 0, gain: float = 1.0
    ):
        super().__init__()
        check_deformator(kind, n_directions, dim)
        if init not in INITS:
            raise OptionsError(f"deformator: unknown init {init!r}; use one of {', '.join(INITS)}")
        if not gain > 0:
            raise OptionsError(f"deformator: gain must be > 0, got {gain!r}")
        self._config = {
            "n_directions": int(n_directions),
            "dim": int(dim),
            "kind": kind,
            "init": init,
            "seed": int(seed),
            "gain": float(gain),
        }
        self.n_directions, self.dim, self.kind, self.gain = int(n_directions), int(dim), kind, float(gain)
        g = torch.Generator().manual_seed(int(seed))
        eye = torch.eye(max(n_directions, dim))[:n_directions, :dim]
        if kind == "coordinate":
            self.register_buffer("fixed", eye.clone())
        elif kind == "random":
            self.register_buffer("fixed", random_orthonormal(n_directions, dim, seed))
        elif kind == "ortho":
            # exp(S - S^T) with S = 0 is the identity: 'coordinate' starts there (a tiny S breaks the symmetry).
            std = 1.0 if init == "random" else 1e-3
            self.skew = nn.Parameter(std * torch.randn(dim, dim, generator=g) / self.gain)
        else:
            start = _LINEAR_INIT_STD * torch.randn(n_directions, dim, generator=g) if init == "random" else eye
            self.weight = nn.Parameter(start / self.gain)

    def config(self) -> dict[str, Any]:
        return copy.deepcopy(self._config)

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self._config.items())

    @property
    def trainable(self) -> bool:
        return self.kind not in FIXED

    def rotation(self) -> torch.Tensor:
        """The full D x D rotation exp(S - S^T) of an 'ortho' deformator."""
        if self.kind != "ortho":
            raise OptionsError(f"deformator: only 'ortho' has a rotation, this one is {self.kind!r}")
        return torch.linalg.matrix_exp(self.gain * (self.skew - self.skew.T))

    def vectors(self) -> torch.Tensor:
        """The directions as rows [K, D] (differentiable in the parameters)."""
        if self.kind in FIXED:
            return self.fixed
        if self.kind == "ortho":
            return self.rotation()[: self.n_directions]
        weight = self.gain * self.weight
        if self.kind == "proj":
            return weight / weight.norm(dim=1, keepdim=True).clamp_min(1e-12)
        return weight

    def forward(self, index: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
        """Latent shifts [N, D]: ``shift[i] * vectors()[index[i]]``."""
        return shift[:, None] * self.vectors()[index]
