"""Eigen-decompositions shared by the closed-form methods (GANSpace's covariance, SeFa's AᵀA)."""

from __future__ import annotations

import torch


def fix_signs(vectors: torch.Tensor) -> torch.Tensor:
    """Rows with their largest-magnitude entry made positive: eigenvectors have no sign, files should."""
    pivot = vectors.gather(1, vectors.abs().argmax(dim=1, keepdim=True))
    return vectors * torch.where(pivot < 0, -1.0, 1.0).to(vectors.dtype)


def top_eigenvectors(matrix: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` leading eigenvalues [k] (descending) and eigenvectors as rows [k, D] of a symmetric matrix."""
    values, vectors = torch.linalg.eigh(matrix.double())
    order = torch.argsort(values, descending=True)[:k]
    return values[order], fix_signs(vectors[:, order].T.contiguous())
