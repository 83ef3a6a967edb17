"""Gene operations on DNAs: sweep, crossover, mutation, and knock-out (which leaves the DNA's support).

DNAs are int64 [n_genes] (one) or [N, n_genes] (a batch); every operation returns new tensors
and leaves its inputs alone. Random operations take a ``torch.Generator`` so that a seed gives
the same children on every call.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ganatomy.errors import OptionsError
from ganatomy.nets.genes import GeneBankPrior, check_dna


def _one(dna: torch.Tensor, prior: GeneBankPrior, what: str) -> torch.Tensor:
    if dna.ndim != 1:
        raise OptionsError(f"{what}: one DNA [n_genes] at a time, got shape {tuple(dna.shape)}")
    return check_dna(dna.unsqueeze(0), prior.n_genes, prior.variants)[0]


def _gene_index(gene: int, prior: GeneBankPrior) -> int:
    if not 0 <= int(gene) < prior.n_genes:
        raise OptionsError(f"gene {gene}: this model has genes 0..{prior.n_genes - 1}")
    return int(gene)


def sweep(prior: GeneBankPrior, dna: torch.Tensor, gene: int) -> torch.Tensor:
    """All ``variants`` DNAs [K, n_genes] that differ from ``dna`` in ``gene`` only (row k has variant k)."""
    dna, gene = _one(dna, prior, "sweep"), _gene_index(gene, prior)
    out = dna.repeat(prior.variants, 1)
    out[:, gene] = torch.arange(prior.variants)
    return out


def crossover(
    prior: GeneBankPrior,
    a: torch.Tensor,
    b: torch.Tensor,
    generator: torch.Generator | None = None,
    cut: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """A child of parents a and b and the mask of the genes it took from b.

    Uniform crossover (each gene from either parent with probability 1/2) unless ``cut`` is given:
    then genes [0, cut) come from a and [cut, n_genes) from b (one-point crossover).
    """
    a, b = _one(a, prior, "crossover"), _one(b, prior, "crossover")
    if cut is None:
        from_b = torch.rand(prior.n_genes, generator=generator) < 0.5
    else:
        if not 0 <= int(cut) <= prior.n_genes:
            raise OptionsError(f"crossover: cut {cut} must lie in [0, {prior.n_genes}]")
        from_b = torch.arange(prior.n_genes) >= int(cut)
    return torch.where(from_b, b, a), from_b


def mutate(
    prior: GeneBankPrior, dna: torch.Tensor, rate: float, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``dna`` with each gene, with probability ``rate``, set to another variant (uniform among
    the other K-1), and the mask of the genes that changed."""
    dna = _one(dna, prior, "mutate")
    if not 0 <= rate <= 1:
        raise OptionsError(f"mutate: rate must lie in [0, 1], got {rate}")
    changed = torch.rand(prior.n_genes, generator=generator) < rate
    # An offset in 1..K-1 added modulo K is a uniform draw among the other variants.
    offset = torch.randint(1, prior.variants, (prior.n_genes,), generator=generator)
    return torch.where(changed, (dna + offset) % prior.variants, dna), changed


def knock_out(prior: GeneBankPrior, dnas: torch.Tensor, genes: Sequence[int]) -> torch.Tensor:
    """w [N, w_dim] of DNAs [N, n_genes] with ``genes`` replaced by their bank mean (not a variant:
    a knock-out leaves the DNA's discrete support, so the result is a latent in W, not a DNA)."""
    if dnas.ndim == 1:
        dnas = dnas.unsqueeze(0)
    index = [_gene_index(g, prior) for g in genes]
    vectors = prior.genes_of(dnas).clone()
    if index:
        vectors[:, index] = prior.bank_means()[index].to(vectors.dtype)
    return prior.combine(vectors)
