"""k-means++ with Lloyd iterations on pixel features, robust to empty clusters.

Seeding draws each next centre with probability proportional to the squared distance to the
nearest centre so far (D² sampling) from a seeded CPU generator. Lloyd's iterations stop after
``max_iter`` or once no centre moves by more than ``tol`` times the data's RMS norm. A cluster that
loses all its points (possible with duplicated pixels or a poor start) is re-seeded at the point
that is worst served by its centre, one distinct point per empty cluster, so that every centre
stays a mean of real points and nothing downstream divides by a zero count. When the data has
fewer distinct points than ``k``, duplicated centres remain and their clusters stay empty: the
caller (the merge loop) drops empty clusters instead of failing.
"""

from __future__ import annotations

import torch

from ganatomy.errors import OptionsError

# Rows of X whose distances to the centres are computed at once (bounds the [rows, k] matrix).
CHUNK_ROWS = 65_536


def squared_distances(x: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """||x_i - c_k||² [N, K], clamped at 0 (the expansion can go slightly negative)."""
    d = x.square().sum(1, keepdim=True) - 2 * x @ centres.T + centres.square().sum(1)[None, :]
    return d.clamp_min_(0)


def nearest(x: torch.Tensor, centres: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(index of the nearest centre [N], its squared distance [N]), computed in chunks."""
    labels = torch.empty(len(x), dtype=torch.long, device=x.device)
    dist = torch.empty(len(x), dtype=x.dtype, device=x.device)
    for start in range(0, len(x), CHUNK_ROWS):
        d = squared_distances(x[start : start + CHUNK_ROWS], centres)
        dist[start : start + len(d)], labels[start : start + len(d)] = d.min(1)
    return labels, dist


def kmeans_pp_init(x: torch.Tensor, k: int, generator: torch.Generator) -> torch.Tensor:
    """k centres by D² sampling (the first uniformly)."""
    n = len(x)
    first = int(torch.randint(n, (1,), generator=generator))
    centres = [x[first]]
    best = squared_distances(x, x[first : first + 1])[:, 0]
    for _ in range(1, k):
        total = float(best.sum())
        if total <= 0:  # every point coincides with a centre: duplicate one (its cluster will be empty)
            idx = int(torch.randint(n, (1,), generator=generator))
        else:
            idx = int(torch.multinomial((best / total).cpu().double(), 1, generator=generator))
        centres.append(x[idx])
        best = torch.minimum(best, squared_distances(x, x[idx : idx + 1])[:, 0])
    return torch.stack(centres)


def kmeans(
    x: torch.Tensor, k: int, seed: int = 0, max_iter: int = 20, tol: float = 1e-3
) -> tuple[torch.Tensor, torch.Tensor]:
    """(centres [k, D], labels [N]) of k-means++ on ``x`` [N, D]."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise OptionsError(f"k-means: k must be an integer >= 1, got {k!r}")
    if x.ndim != 2 or len(x) < k:
        raise OptionsError(f"k-means: needs at least k = {k} points [N, D], got shape {list(x.shape)}")
    generator = torch.Generator().manual_seed(int(seed))
    centres = kmeans_pp_init(x, k, generator)
    scale = float(x.square().sum(1).mean().sqrt()) or 1.0
    labels, dist = nearest(x, centres)
    for _ in range(max_iter):
        counts = torch.bincount(labels, minlength=k)
        sums = torch.zeros_like(centres).index_add_(0, labels, x)
        new = torch.where(counts[:, None] > 0, sums / counts.clamp_min(1)[:, None].to(x.dtype), centres)
        empty = (counts == 0).nonzero().flatten()
        if len(empty) and float(dist.max()) > 0:
            # Re-seed empty clusters at the worst-served points, distinct ones, largest distance first.
            worst = dist.argsort(descending=True)[: len(empty)]
            worst = worst[dist[worst] > 0]
            new[empty[: len(worst)]] = x[worst]
        shift = float((new - centres).norm(dim=1).max())
        centres = new
        labels, dist = nearest(x, centres)
        if shift <= tol * scale:
            break
    return centres, labels
