"""The one input check every distribution metric makes: features are a 2-D matrix [N, D]."""

from __future__ import annotations

import numpy as np
import torch

from ganatomy.errors import OptionsError


def feature_matrix(x: np.ndarray | torch.Tensor, what: str, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``x`` as a CPU tensor of ``dtype``; a one-line OptionsError naming ``what`` unless it is [N, D]."""
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x).detach().to("cpu", dtype)
    if t.ndim != 2:
        raise OptionsError(f"{what} features must be a 2-D array [N, D], got shape {tuple(t.shape)}")
    return t


def feature_pair(
    real: np.ndarray | torch.Tensor, fake: np.ndarray | torch.Tensor, metric: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Both feature sets of a two-sample metric, checked to be matrices of one width."""
    x = feature_matrix(real, f"{metric}: real")
    y = feature_matrix(fake, f"{metric}: fake")
    if x.shape[1] != y.shape[1]:
        raise OptionsError(f"{metric}: feature dimensions differ ({x.shape[1]} vs {y.shape[1]})")
    return x, y
