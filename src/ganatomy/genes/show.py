"""Pictures of gene operations: grids of generated DNAs, with the DNAs beside them as text."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from ganatomy.genes.dna import format_dna, parse_dna
from ganatomy.nets.genes import GeneBankPrior
from ganatomy.utils.atomic import atomic_write_text
from ganatomy.utils.images import save_image_grid


def resolve_dna(text: str, G, prior: GeneBankPrior) -> torch.Tensor:
    """A DNA from text: dot-separated indices (``3.17.0.42...``) or ``seed:N`` (the DNA seed N draws)."""
    text = str(text).strip()
    if text.startswith("seed:"):
        from ganatomy.generate import parse_image_seeds

        (seed,) = parse_image_seeds(text[5:], flag="DNA seed:", limit=1)
        return G.sample_latents(1, seed=seed)[0].cpu()
    return parse_dna(text, prior.n_genes, prior.variants)


def write_grid(G, latents: torch.Tensor, path: Path, ncols: int, space: str = "z") -> Path:
    """Generate ``latents`` (DNAs for space 'z', else w) and tile them, ``ncols`` per row."""
    with torch.no_grad():
        images = torch.cat([G.synthesize(chunk, space) for chunk in latents.split(256)])
    save_image_grid(path, images, ncols=ncols)
    return path


def write_dnas(path: Path, rows: Sequence[tuple[str, torch.Tensor]]) -> Path:
    """``label<TAB>dna`` lines, one per grid cell, in grid order."""
    atomic_write_text(path, "".join(f"{label}\t{format_dna(dna)}\n" for label, dna in rows))
    return path
