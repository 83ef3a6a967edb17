"""StyleGenes' gene-bank prior (Ntavelis et al. 2023): a discrete latent instead of the mapping network.

The latent w is split into ``n_genes`` disjoint slices (genes) of width ``w_dim / n_genes``; every
gene has a bank of ``variants`` learnable vectors. A sample is a DNA, one variant index per gene
drawn uniformly and independently, and w is the concatenation of the chosen variants, optionally
plus a shared learnable vector (``shared``) and/or through one linear layer (``linear``): the two
open choices of the method, kept as options. z is the DNA: int64 ``[N, n_genes]``, so
``z_discrete`` is True and ``z_dim`` is the number of genes.

- Gradients reach only the variants a batch selects (an embedding lookup), unless ``normalize``
  standardises each bank over its variants (then all of a gene's variants move with its statistics).
  ``normalize="whiten"`` goes one step further: each bank's covariance over its variants is the
  identity, as z's is before the mapping network, so a gene's variants cannot line up along one axis
  (standardised banks did: docs/results.md, "StyleGenes ablation").
- The mean of w over all DNAs is exact (the mean of each bank, through the linear layer), so
  truncation towards it is StyleGenes' truncation analogue: every gene pulled towards its bank mean.
- Style mixing draws a second DNA and switches at a layer, like the mapping network's second z.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from ganatomy.errors import OptionsError
from ganatomy.nets._checks import assert_shape
from ganatomy.nets.layers import EqualLinear
from ganatomy.nets.mapping import LatentPrior, register_prior

# The shipped model's shape at w_dim 128: 32 genes of 4 dimensions, 32 variants each (32^32 DNAs). Twice as
# many genes as the first shipped model (16 of 8): trained variants line up along about one axis per gene,
# so more genes span more of w (docs/results.md, "Why the genes lose recall").
DEFAULT_GENES = 32
DEFAULT_VARIANTS = 32
# How each bank is normalised over its variants; True (older files) means standardize.
NORMALIZATIONS = ("none", "standardize", "whiten")


def _normalization(value: bool | str) -> str:
    canonical = ("standardize" if value else "none") if isinstance(value, bool) else value
    if canonical not in NORMALIZATIONS:
        raise OptionsError(
            f"gene prior: normalize must be one of {', '.join(NORMALIZATIONS)}, true or false; got {value!r}"
        )
    return canonical


def check_dna(z: torch.Tensor, n_genes: int, variants: int) -> torch.Tensor:
    """z as DNAs int64 [N, n_genes] with every index in [0, variants); else a one-line error."""
    if not isinstance(z, torch.Tensor) or z.ndim != 2 or z.shape[1] != n_genes:
        shape = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
        raise OptionsError(f"gene prior: DNAs must be [N, {n_genes}] variant indices, got {shape}")
    if z.dtype.is_floating_point or z.dtype.is_complex or z.dtype == torch.bool:
        if z.dtype.is_floating_point and torch.equal(z, z.round()):
            z = z.long()
        else:
            raise OptionsError(f"gene prior: DNAs are integer variant indices, got {z.dtype} values")
    z = z.long()
    if z.numel() and (int(z.min()) < 0 or int(z.max()) >= variants):
        raise OptionsError(
            f"gene prior: variant indices must lie in [0, {variants}), got {int(z.min())}..{int(z.max())}"
        )
    return z


@register_prior
class GeneBankPrior(LatentPrior):
    """z = DNA [N, n_genes] (uniform indices); w = concat_i bank_i[dna_i] (+ shared) (-> linear)."""

    kind: ClassVar[str] = "genes"
    z_discrete: ClassVar[bool] = True

    def __init__(
        self,
        z_dim: int,
        w_dim: int,
        c_dim: int = 0,
        w_avg_beta: float = 0.995,
        variants: int = DEFAULT_VARIANTS,
        shared: bool = False,
        linear: bool = False,
        lr_mul: float = 1.0,
        normalize: bool | str = False,
    ) -> None:
        super().__init__(z_dim, w_dim, c_dim, w_avg_beta)
        if c_dim > 0:
            raise OptionsError(
                "gene prior: unconditional only (a class-conditional model uses the mapping network; "
                "condition a gene model by sampling, `ganatomy genes sample --attr ...`)"
            )
        if z_dim < 1 or w_dim % z_dim:
            raise OptionsError(f"gene prior: {z_dim} genes must divide w_dim {w_dim} (each gene is a slice of w)")
        if variants < 2:
            raise OptionsError(f"gene prior: needs at least 2 variants per gene, got {variants}")
        if not lr_mul > 0:
            raise OptionsError(f"gene prior: lr_mul must be > 0, got {lr_mul}")
        self.n_genes, self.variants, self.gene_dim = int(z_dim), int(variants), w_dim // z_dim
        self.shared_on, self.linear_on, self.lr_mul = bool(shared), bool(linear), float(lr_mul)
        # Each gene's variants standardised over the bank (zero mean, unit spread per dimension), as z
        # is normalised before the mapping network: without it the variants converge during training
        # (docs/results.md, world32-stylegenes). Every variant then gets gradient through the statistics.
        self.normalize = _normalization(normalize)
        if self.normalize == "whiten" and self.variants <= self.gene_dim:
            raise OptionsError(
                f"gene prior: whitening needs more variants than a gene's {self.gene_dim} dimensions, got {variants} "
                "(ask for more variants, or --set network.prior.normalize=standardize)"
            )
        # Stored divided by lr_mul and multiplied back on use: the same equalised learning rate as
        # the mapping network's lr_mul, so one optimiser lr serves both.
        self.bank = nn.Parameter(torch.randn(self.n_genes, self.variants, self.gene_dim) / self.lr_mul)
        self.shared = nn.Parameter(torch.zeros(w_dim)) if self.shared_on else None
        self.linear = EqualLinear(w_dim, w_dim) if self.linear_on else None

    # ------------------------------------------------------------------ sampling
    def sample_z(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.randint(0, self.variants, (int(n), self.n_genes), generator=generator)

    def num_latents(self) -> int:
        """How many distinct latents the prior can produce: variants ** n_genes."""
        return self.variants**self.n_genes

    # ------------------------------------------------------------------ latents
    def genes_of(self, z: torch.Tensor) -> torch.Tensor:
        """The chosen variants [N, n_genes, gene_dim] of DNAs z (before the shared part and the linear layer)."""
        z = check_dna(z, self.n_genes, self.variants).to(self.bank.device)
        rows = torch.arange(self.n_genes, device=z.device).unsqueeze(0)
        return self.variant_table()[rows, z]

    def variant_table(self) -> torch.Tensor:
        """Every gene's variants as the latent uses them [n_genes, K, gene_dim] (normalised with ``normalize``)."""
        bank = self.bank * self.lr_mul
        if self.normalize == "none":
            return bank
        if self.normalize == "standardize":
            return (bank - bank.mean(dim=1, keepdim=True)) / (bank.std(dim=1, keepdim=True) + 1e-8)
        return _whiten(bank)

    def combine(self, genes: torch.Tensor) -> torch.Tensor:
        """Gene vectors [N, n_genes, gene_dim] (any, e.g. bank means or interpolations) -> w [N, w_dim]."""
        x = genes.reshape(genes.shape[0], self.w_dim).float()
        if self.shared is not None:
            x = x + self.shared
        return self.linear(x) if self.linear is not None else x

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        # float32 even under autocast, as the mapping network: small Adam steps on the bank
        # would round away in bf16.
        with torch.autocast(device_type=self.bank.device.type, enabled=False):
            w = self.combine(self.genes_of(z))
        assert_shape(w, [z.shape[0], self.w_dim], "w")
        return w

    def bank_means(self) -> torch.Tensor:
        """The mean variant of every gene [n_genes, gene_dim] (the knock-out value)."""
        return self.variant_table().mean(dim=1)

    def mean_w(self) -> torch.Tensor:
        """The exact mean of w over all DNAs [w_dim] (w is affine in the gene vectors)."""
        with torch.autocast(device_type=self.bank.device.type, enabled=False):
            return self.combine(self.bank_means().unsqueeze(0))[0]

    @torch.no_grad()
    def update_w_avg(self, w: torch.Tensor) -> None:
        """w_avg <- the exact mean of w (no running estimate needed)."""
        assert_shape(w, [None, self.w_dim], "w")
        self.w_avg.copy_(self.mean_w().detach())

    def truncation_center(self) -> torch.Tensor:
        """The exact mean w: truncation then pulls every gene towards its bank mean by psi."""
        return self.mean_w()

    def config(self) -> dict[str, Any]:
        return {
            "variants": self.variants,
            "shared": self.shared_on,
            "linear": self.linear_on,
            "lr_mul": self.lr_mul,
            "normalize": self.normalize,
        }


def _whiten(bank: torch.Tensor) -> torch.Tensor:
    """Banks [n_genes, K, d] -> centred banks with identity covariance over their K variants.

    Cholesky whitening (x L^-T for cov = L L^T): its gradient stays stable where the eigenvalues of cov
    are close, which the symmetric (eigendecomposition) form's is not. In float64 (the banks are a few
    thousand numbers), so that a nearly flat bank, whose whitening divides by its small spread, keeps
    its precision; a small ridge relative to each bank's own scale keeps it invertible.
    """
    bank64 = bank.double()
    centred = bank64 - bank64.mean(dim=1, keepdim=True)
    k, d = centred.shape[1], centred.shape[2]
    cov = centred.transpose(1, 2) @ centred / (k - 1)
    scale = cov.diagonal(dim1=1, dim2=2).mean(dim=1).clamp_min(1e-12)[:, None, None]
    eye = torch.eye(d, dtype=cov.dtype, device=cov.device)
    lower = torch.linalg.cholesky(cov + 1e-9 * scale * eye)
    white = torch.linalg.solve_triangular(lower, centred.transpose(1, 2), upper=False).transpose(1, 2)
    return white.to(bank.dtype)


def gene_prior(G: Any) -> GeneBankPrior:
    """The gene-bank prior of generator G, or a one-line error naming what G has instead."""
    prior = getattr(G, "prior", None)
    if not isinstance(prior, GeneBankPrior):
        what = getattr(prior, "kind", None) or "no latent prior"
        raise OptionsError(
            f"{getattr(G, 'kind', type(G).__name__)} generator has {what!r}, not a gene-bank prior "
            "(train one with `ganatomy train --prior genes`)"
        )
    return prior
