"""DNAs as text: one variant index per gene, joined by dots (``3.17.0.42...``)."""

from __future__ import annotations

import torch

from ganatomy.errors import OptionsError


def format_dna(dna: torch.Tensor) -> str:
    """One DNA [n_genes] as text, e.g. ``3.17.0.42``."""
    if dna.ndim != 1:
        raise OptionsError(f"format_dna: one DNA [n_genes] at a time, got shape {tuple(dna.shape)}")
    return ".".join(str(int(v)) for v in dna.tolist())


def parse_dna(text: str, n_genes: int, variants: int) -> torch.Tensor:
    """``3.17.0.42...`` -> int64 [n_genes]; a one-line error names what is wrong with the text."""
    parts = [p.strip() for p in str(text).strip().split(".")]
    for i, p in enumerate(parts):  # a typo first: it also explains a wrong count
        if not p.isdigit():
            raise OptionsError(f"DNA {text!r}: gene {i} is {p!r}, not a variant index")
    if len(parts) != n_genes:
        raise OptionsError(f"DNA {text!r}: has {len(parts)} genes, this model has {n_genes} (dot-separated indices)")
    values = []
    for i, p in enumerate(parts):
        v = int(p)
        if v >= variants:
            raise OptionsError(f"DNA {text!r}: gene {i} is variant {v}; this model has variants 0..{variants - 1}")
        values.append(v)
    return torch.tensor(values, dtype=torch.long)
