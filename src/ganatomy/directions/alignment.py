"""How well directions line up with the world's factors, read by the oracle.

For direction k and a batch of prior latents l, the images G(l + t d_k) and G(l - t d_k) are read
by the world oracle (or any ``reader`` with the oracle's ``predict``). The change of a continuous
factor per unit shift is the mean |f(+) - f(-)| / 2t in units of the factor's range (hues on the
colour circle by their wrapped distance); of a categorical factor, the mean total-variation distance
of its class probabilities / 2t. From the matrix ``changes`` [K, F]:

- share[k, f] = changes[k, f] / sum_f' changes[k, f']: how much of what direction k does is factor f;
- the best direction of factor f: the largest share among the directions that move f at least
  ``MIN_RELATIVE_CHANGE`` x as much as the direction moving it most (a direction that barely acts
  cannot win by being pure noise);
- purity[f] = its best direction's share; coverage: the factors whose purity is >= ``PURE``.

The oracle is not perfect: a change of one factor alone moves its readings of the others a little,
so no direction scores a purity of 1. :func:`world_purity_ceiling` measures that ceiling on the
world itself: each continuous factor moved alone in the renderer, read the same way; a perfectly
disentangled direction would score about that.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ganatomy.errors import OptionsError
from ganatomy.latent import Directions

PURE = 0.7
MIN_RELATIVE_CHANGE = 0.25


@dataclasses.dataclass
class Alignment:
    """The factor change per unit shift of each direction and what follows from it (module docstring)."""

    factors: list[str]
    continuous: list[str]
    indices: list[int]
    changes: np.ndarray  # [K, F]
    best_direction: dict[str, int]
    purity: dict[str, float]
    names: list[str] | None = None  # one per row of ``changes`` (pooled sets: "fine 3"); None: the indices

    def direction_name(self, index: int) -> str:
        """How to call direction ``index`` (a value of ``best_direction``)."""
        if index < 0:
            return "none"
        return str(index) if self.names is None else self.names[self.indices.index(index)]

    @property
    def share(self) -> np.ndarray:
        return self.changes / np.maximum(self.changes.sum(axis=1, keepdims=True), 1e-12)

    @property
    def covered(self) -> list[str]:
        """Continuous factors with a direction of purity >= PURE."""
        return [f for f in self.continuous if self.purity[f] >= PURE]

    @property
    def mean_purity(self) -> float:
        """Mean best-direction purity over the continuous factors."""
        return float(np.mean([self.purity[f] for f in self.continuous]))

    def top_factor(self, k: int) -> tuple[str, float]:
        """(the factor direction row ``k`` moves most, its share)."""
        j = int(np.argmax(self.share[k]))
        return self.factors[j], float(self.share[k, j])

    def to_dict(self) -> dict[str, Any]:
        return {
            "factors": self.factors,
            "indices": self.indices,
            "changes": self.changes.round(6).tolist(),
            "best_direction": self.best_direction,
            "purity": self.purity,
            "covered": self.covered,
            "mean_purity": self.mean_purity,
            **({} if self.names is None else {"names": self.names}),
        }


def purity_from_changes(changes: np.ndarray, factors: Sequence[str]) -> tuple[dict[str, int], dict[str, float]]:
    """(best direction row, purity) per factor from a [K, F] change matrix."""
    share = changes / np.maximum(changes.sum(axis=1, keepdims=True), 1e-12)
    best, purity = {}, {}
    for j, f in enumerate(factors):
        strong = changes[:, j] >= MIN_RELATIVE_CHANGE * changes[:, j].max()
        if changes[:, j].max() <= 0:
            best[f], purity[f] = -1, 0.0
            continue
        candidates = np.flatnonzero(strong)
        k = int(candidates[np.argmax(share[candidates, j])])
        best[f], purity[f] = k, float(share[k, j])
    return best, purity


def _factor_table() -> tuple[list[Any], list[Any]]:
    from ganatomy.worlds import FACTORS

    return [f for f in FACTORS if not f.is_categorical], [f for f in FACTORS if f.is_categorical]


def _differences(plus: Any, minus: Any, continuous: list[Any], categorical: list[Any]) -> np.ndarray:
    """[N, F] absolute differences of the readings, continuous in range units, categorical as TV distance."""
    from ganatomy.directions.oracle_access import circular

    cols = []
    for f in continuous:
        d = np.abs(plus.factors[f.name] - minus.factors[f.name]) / (f.high - f.low)
        cols.append(np.minimum(d, 1 - d) if circular(f) else d)
    for f in categorical:
        cols.append(0.5 * np.abs(plus.probs[f.name] - minus.probs[f.name]).sum(axis=1))
    return np.stack(cols, axis=1)


def factor_alignment(
    G: Any,
    directions: Directions,
    reader: Any = None,
    indices: Sequence[int] | None = None,
    n: int = 32,
    shift: float = 1.5,
    seed: int = 0,
    batch_size: int = 64,
    progress: bool = False,
) -> Alignment:
    """The oracle's reading of what each direction moves (module docstring).

    ``reader`` defaults to the shipped world oracle at G's resolution; ``indices`` limits the
    directions measured (default: all); ``n`` latents per direction (the same for every direction),
    shifted by +-``shift`` units.
    """
    from ganatomy.latent.sampling import seeded_latents

    if not shift > 0 or n < 1:
        raise OptionsError(f"alignment: need shift > 0 and n >= 1, got shift={shift}, n={n}")
    from ganatomy.directions.oracle_access import reader_or_oracle

    reader = reader_or_oracle(reader, G.img_resolution)
    indices = list(range(len(directions))) if indices is None else [int(i) for i in indices]
    continuous, categorical = _factor_table()
    base = seeded_latents(G, range(seed, seed + n), space=directions.space)
    rows = []
    bar = _progress(len(indices)) if progress else None
    with torch.no_grad():
        for k in indices:
            plus, minus = [], []
            for start in range(0, n, batch_size):
                lat = base.latents[start : start + batch_size]
                c = None if base.c is None else base.c[start : start + batch_size]
                plus.append(G.synthesize(directions.apply(lat, k, shift), directions.space, c=c))
                minus.append(G.synthesize(directions.apply(lat, k, -shift), directions.space, c=c))
            diff = _differences(
                reader.predict(torch.cat(plus)), reader.predict(torch.cat(minus)), continuous, categorical
            )
            rows.append(diff.mean(axis=0) / (2 * shift))
            if bar is not None:
                bar[0].advance(bar[1])
    if bar is not None:
        bar[0].stop()
    changes = np.stack(rows)
    factors = [f.name for f in continuous + categorical]
    best, purity = purity_from_changes(changes, factors)
    best = {f: indices[k] if k >= 0 else -1 for f, k in best.items()}
    return Alignment(factors, [f.name for f in continuous], indices, changes, best, purity)


def pool_alignments(parts: dict[str, Alignment]) -> Alignment:
    """One alignment over several measured sets of directions, e.g. one per layer group.

    The rows are pooled and the best direction of each factor is chosen among all of them (so the
    ``MIN_RELATIVE_CHANGE`` bar is the pooled strongest's); rows are numbered through and named
    "<part> <index>".
    """
    if not parts:
        raise OptionsError("alignment: nothing to pool")
    first = next(iter(parts.values()))
    if any(a.factors != first.factors for a in parts.values()):
        raise OptionsError("alignment: the pooled alignments read different factors")
    changes = np.concatenate([a.changes for a in parts.values()])
    names = [f"{label} {i}" for label, a in parts.items() for i in a.indices]
    best, purity = purity_from_changes(changes, first.factors)
    return Alignment(first.factors, first.continuous, list(range(len(names))), changes, best, purity, names)


def world_purity_ceiling(
    reader: Any = None, res: int = 32, n: int = 256, move: float = 0.15, seed: int = 0
) -> dict[str, float]:
    """Purity of each continuous factor moved alone by +-``move`` of its range in the world's renderer.

    ``n`` world factor draws (from ``seed``); a non-circular factor is first clipped so both moves stay
    in its range, a hue wraps. The readings' differences are turned into a share exactly as a
    direction's are (``_differences``), so the result is the best purity the reader allows.
    """
    from ganatomy.directions.oracle_access import circular, reader_or_oracle
    from ganatomy.worlds.render import FaceWorld

    if not 0 < move < 0.5 or n < 1:
        raise OptionsError(f"alignment: need 0 < move < 0.5 and n >= 1, got move={move}, n={n}")
    reader = reader_or_oracle(reader, res)
    world = FaceWorld(res)
    continuous, categorical = _factor_table()
    base = world.sample_factors(n, np.random.default_rng(seed))

    def read(factors: dict[str, np.ndarray]) -> Any:
        return reader.predict(world.render(factors).torch_images())

    ceiling = {}
    for j, f in enumerate(continuous):
        span = f.high - f.low
        if circular(f):
            moved = [f.low + (base[f.name] - f.low + sign * move * span) % span for sign in (1, -1)]
        else:
            centre = np.clip(base[f.name], f.low + move * span, f.high - move * span)
            moved = [centre + sign * move * span for sign in (1, -1)]
        plus, minus = ({**base, f.name: values} for values in moved)
        diff = _differences(read(plus), read(minus), continuous, categorical).mean(axis=0)
        ceiling[f.name] = float(diff[j] / max(diff.sum(), 1e-12))
    return ceiling


def _progress(total: int) -> tuple[Any, Any]:
    from rich.progress import Progress

    bar = Progress()
    bar.start()
    return bar, bar.add_task("alignment", total=total)
