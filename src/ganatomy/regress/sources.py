"""Where a regression direction comes from.

- any direction file or ``Directions`` (Voynov, GANSpace, SeFa, InterFaceGAN, ...), one chosen index;
- :func:`best_aligned`: of K unsupervised directions, the one the few labels say moves the attribute
  most, with its sign. The score of direction k is the labels' covariance with its distances in
  units of the direction's spread over the generator's prior latents (not over the labelled few):

      score_k = |cov(d_k, y)| / (σ_k σ_y),  σ_k = std of d_k over prior latents.

  With many labels this is |correlation|; with two (where every correlation is ±1) it prefers the
  direction along which the two labelled images lie furthest apart relative to how far apart
  images usually lie along it. Only the labelled images (and G's prior) are used.
- :func:`supervised_normal`: a linear normal fitted on the labelled latents, ridge regression of the
  labels on the standardised latents (minimum-norm through two points), mapped back to latent units.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ganatomy.errors import OptionsError
from ganatomy.latent import Directions
from ganatomy.regress.distance import distance_features


def flat_latents(latents: torch.Tensor, rows: Any = None) -> torch.Tensor:
    """[N, D] latents: W+ rows are averaged (over ``rows`` when given), so a W direction reads them."""
    latents = torch.as_tensor(latents).double().cpu()
    if latents.ndim == 3:
        return (latents if rows is None else latents[:, list(rows)]).mean(1)
    return latents


def alignment_scores(distances: np.ndarray, labels: np.ndarray, prior_sigma: np.ndarray) -> np.ndarray:
    """Signed scores [K] from the labelled images' distances [n, K] along K directions and their spread
    ``prior_sigma`` [K] over prior latents (the formula of the module docstring)."""
    d = np.asarray(distances, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    cov = ((d - d.mean(0)) * (y - y.mean())[:, None]).mean(0)
    scale = np.asarray(prior_sigma, dtype=np.float64) * y.std()
    return np.divide(cov, scale, out=np.zeros_like(cov), where=scale > 0)


def distance_matrix(directions: Directions, latents: torch.Tensor) -> np.ndarray:
    """Distances [N, K] of latents along every direction (projection)."""
    return np.stack([distance_features(latents, v, directions.layers)[:, 0] for v in directions.vectors], axis=1)


def direction_scores(
    directions: Directions, latents: torch.Tensor, labels: np.ndarray, prior_latents: torch.Tensor
) -> np.ndarray:
    """Signed alignment score [K] of each direction with the labels (see the module docstring)."""
    sigma = distance_matrix(directions, prior_latents).std(0)
    return alignment_scores(distance_matrix(directions, latents), labels, sigma)


def best_aligned(
    directions: Directions, latents: torch.Tensor, labels: np.ndarray, prior_latents: torch.Tensor
) -> tuple[int, float, np.ndarray]:
    """(index, sign +-1, all scores [K]) of the direction best aligned with the labels."""
    if len(directions) == 0:
        raise OptionsError("best aligned direction: no directions to choose from")
    scores = direction_scores(directions, latents, labels, prior_latents)
    k = int(np.argmax(np.abs(scores)))
    return k, (1.0 if scores[k] >= 0 else -1.0), scores


def supervised_normal(
    latents: torch.Tensor, labels: np.ndarray, prior_std: torch.Tensor | None = None, alpha: float = 1.0
) -> torch.Tensor:
    """The unit normal [D] of a ridge regression of the labels on the latents ([N, D], or W+ rows averaged).

    Latents are standardised by the prior's per-dimension std (``prior_std``; a few labelled latents
    cannot tell it), so the ridge penalty treats every dimension alike.
    """
    if not alpha > 0:
        raise OptionsError(f"supervised normal: alpha must be > 0, got {alpha!r}")
    X = flat_latents(latents).numpy()
    y = np.asarray(labels, dtype=np.float64)
    centre = X.mean(0)
    scale = np.ones(X.shape[1]) if prior_std is None else flat_latents(prior_std[None]).numpy()[0]
    scale = np.where(scale > 0, scale, 1.0)
    Xs = (X - centre) / scale
    # The dual form (N x N system): cheap for few labels in a wide latent.
    dual = np.linalg.solve(Xs @ Xs.T + alpha * np.eye(len(Xs)), y - y.mean())
    beta = (Xs.T @ dual) / scale  # back to latent units: y ≈ beta · (x - centre)
    norm = np.linalg.norm(beta)
    if not norm > 0:
        raise OptionsError("supervised normal: the labelled latents do not vary with the labels")
    return torch.from_numpy(beta / norm)
