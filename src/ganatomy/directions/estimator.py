"""What every direction method shares: its checks of the user's settings, the unit of a shift, the
finished ``Directions`` (with the generator's identity) and ``edit``.

All methods leave ``directions_`` (a :class:`ganatomy.latent.Directions`) whose rows are unit
directions times the latent's typical per-dimension standard deviation (``shift_unit``), so a shift
of 1 moves every method's latents by the same distance, one "std" of the latent distribution, and
the shift ranges of Z and W mean the same thing. ``generator_`` is ``describe_generator(G, name)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import torch

from ganatomy.base import Estimator, describe_generator
from ganatomy.errors import OptionsError
from ganatomy.latent import Directions
from ganatomy.nets.protocol import SPACES

# Latents drawn to measure the unit of a shift (latent_stats); seed fixed so a refit gives the same unit.
UNIT_SAMPLES = 2000


def check_n_directions(n: Any, where: str) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise OptionsError(f"{where}: n_directions must be an integer >= 1, got {n!r}")
    return n


def resolve_space(G: Any, space: str) -> str:
    """'auto' is W where the generator has it, else Z."""
    if space == "auto":
        return "w" if "w" in G.latent_spaces else "z"
    return space


def check_space(G: Any, space: str, where: str) -> None:
    """The space must be one we know and one the generator has."""
    if space not in SPACES:
        raise OptionsError(f"{where}: unknown latent space {space!r}; use one of {', '.join(SPACES)}")
    if space not in G.latent_spaces:
        spaces = ", ".join(G.latent_spaces)
        raise OptionsError(f"{where}: the generator ({G.kind}) has no {space!r} space; it has {spaces}")
    if space == "z" and getattr(G, "z_discrete", False):
        raise OptionsError(f"{where}: the generator's z is discrete (gene indices): shift in 'w' or 'w+' instead")


def check_layers(G: Any, space: str, layers: Sequence[int] | None, where: str) -> tuple[int, ...] | None:
    """W+ rows a direction moves (None: all rows); only meaningful in 'w+'."""
    if layers is None:
        return None
    if space != "w+":
        raise OptionsError(f"{where}: layers select W+ rows, but the space is {space!r}; use space='w+'")
    rows = sorted({int(r) for r in layers})
    if not rows or rows[0] < 0 or rows[-1] >= G.num_ws:
        raise OptionsError(f"{where}: layers must be W+ rows in [0, {G.num_ws}), got {list(layers)!r}")
    return tuple(rows)


def check_shift_range(shift_range: float, min_shift: float, where: str) -> None:
    if not shift_range > 0:
        raise OptionsError(f"{where}: shift_range must be > 0, got {shift_range!r}")
    if not 0 <= min_shift < shift_range:
        raise OptionsError(f"{where}: min_shift must lie in [0, shift_range={shift_range}), got {min_shift!r}")


def latent_dim(G: Any, space: str) -> int:
    """D: the size of one latent (one W+ row)."""
    return int(G.latent_shape(space)[-1])


def shift_unit(G: Any, space: str) -> float:
    """The mean per-dimension standard deviation of the latents in ``space`` (W's for 'w+')."""
    _, std = G.latent_stats("z" if space == "z" else "w", n=UNIT_SAMPLES, seed=0)
    return float(std.float().mean())


def add_shift(latents: torch.Tensor, delta: torch.Tensor, rows: Sequence[int] | None) -> torch.Tensor:
    """Latents moved by per-sample ``delta`` [N, D] (differentiable in it); in W+ only the ``rows`` move."""
    delta = delta.to(latents.dtype)
    if latents.ndim == 2:
        return latents + delta
    if rows is None:
        return latents + delta[:, None, :]
    mask = torch.zeros(latents.shape[1], dtype=latents.dtype, device=latents.device)
    mask[list(rows)] = 1
    return latents + mask[None, :, None] * delta[:, None, :]


class DirectionEstimator(Estimator):
    """Base of the direction methods: ``fit(G)`` leaves ``directions_`` and ``generator_``; ``edit`` moves latents."""

    method: ClassVar[str] = ""
    fitted_types: ClassVar[dict[str, type]] = {"directions_": Directions}

    def _finish(
        self,
        G: Any,
        unit_vectors: torch.Tensor,
        space: str,
        rows: Sequence[int] | None,
        name: str | None,
        meta: dict[str, Any] | None = None,
        names: Sequence[str] | None = None,
        unit: float | None = None,
    ) -> None:
        """Set ``directions_`` (unit vectors x the shift unit) and ``generator_``."""
        unit = shift_unit(G, space) if unit is None else unit
        identity = describe_generator(G, name)
        info = {
            "shift_unit": unit,
            "generator": {k: identity[k] for k in ("kind", "name", "config_sha256", "weights_sha256")},
        }
        info.update(meta or {})
        vectors = unit_vectors.detach().float().cpu() * unit
        num_ws = G.num_ws if space == "w+" else None
        self.directions_ = Directions(vectors, space, rows, num_ws, self.method, names, info)
        self.generator_ = identity

    def edit(self, latents: torch.Tensor, index: int | torch.Tensor, shift: float | torch.Tensor) -> torch.Tensor:
        """``latents`` (in ``directions_.space``) moved by ``shift`` units along direction ``index``."""
        self.check_fitted()
        return self.directions_.apply(latents, index, shift)

    def save_directions(self, path: Any) -> Any:
        """Write ``directions_`` alone (what ``ganatomy.directions.load`` reads)."""
        self.check_fitted()
        return self.directions_.save(path)
