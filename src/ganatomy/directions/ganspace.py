"""GANSpace (Härkönen et al. 2020): principal directions of the latent distribution, or of a layer's activations.

- ``feature=None``: PCA of N latents in W (Z for a generator without W): the directions are the
  leading eigenvectors of Cov(w). In 'w+' they move the chosen rows (``layers``), as GANSpace's edits do.
- ``feature="<layer>"``: PCA of that layer's flattened activations, then the latent basis that
  reproduces the activations' principal coordinates: least squares of the centred latents on the
  coordinates (GANSpace's recipe for generators whose latent is not W, such as BigGAN or a DCGAN).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import torch

from ganatomy.directions.estimator import (
    DirectionEstimator,
    check_layers,
    check_n_directions,
    check_space,
    latent_dim,
    resolve_space,
)
from ganatomy.directions.pca import fix_signs, top_eigenvectors
from ganatomy.errors import OptionsError


def sample_latents(G: Any, space: str, n: int, seed: int, batch_size: int) -> tuple[torch.Tensor, list]:
    """n prior latents in ``space`` (W rows for 'w+': they are equal before mixing) and their labels."""
    g = torch.Generator().manual_seed(int(seed))
    latents, labels = [], []
    with torch.no_grad():
        for start in range(0, n, batch_size):
            b = min(batch_size, n - start)
            z = G.sample_latents(b, generator=g)
            c = G.sample_c(b, generator=g)
            latents.append(G.to_space(z, "w" if space == "w+" else space, c=c).double().cpu())
            labels.append(c)
    return torch.cat(latents), labels


class GANSpaceDirections(DirectionEstimator):
    """GANSpace directions (see the module docstring).

    Args:
        n_directions: K principal directions.
        space: 'z', 'w', 'w+' or 'auto' (W where the generator has it, else Z).
        layers: W+ rows the directions move (space 'w+' only).
        feature: a feature-map name of G (``G.feature_names``) to take the PCA of, or None for the latents.
        n_samples: latents drawn for the PCA (for a feature map: also the regression's samples).
        batch_size: latents per generator call.
        seed: seed of the samples.

    Fitted: ``directions_``, ``explained_variance_`` [K] (of the latents or the activations),
    ``explained_variance_ratio_`` [K], ``generator_``.
    """

    method: ClassVar[str] = "ganspace"

    def __init__(
        self,
        n_directions: int = 10,
        space: str = "auto",
        layers: Sequence[int] | None = None,
        feature: str | None = None,
        n_samples: int = 10_000,
        batch_size: int = 500,
        seed: int = 0,
    ):
        self.n_directions = n_directions
        self.space = space
        self.layers = layers
        self.feature = feature
        self.n_samples = n_samples
        self.batch_size = batch_size
        self.seed = seed

    def fit(self, G: Any, name: str | None = None) -> GANSpaceDirections:
        where = "ganspace"
        space = resolve_space(G, self.space)
        check_space(G, space, where)
        rows = check_layers(G, space, self.layers, where)
        k = check_n_directions(self.n_directions, where)
        dim = latent_dim(G, space)
        if self.n_samples < 2 or self.batch_size < 1:
            raise OptionsError(f"{where}: n_samples must be >= 2 and batch_size >= 1")
        if self.feature is None:
            if k > dim:
                raise OptionsError(f"{where}: at most {dim} principal directions in a {dim}-d latent, got {k}")
            latents, _ = sample_latents(G, space, int(self.n_samples), self.seed, int(self.batch_size))
            values, vectors = top_eigenvectors(torch.cov(latents.T), k)
            total = float(torch.var(latents, dim=0).sum())
        else:
            values, vectors, total = self._fit_feature(G, space, k)
        self.explained_variance_ = values.float()
        self.explained_variance_ratio_ = (values / total).float()
        meta = {"feature": self.feature, "explained_variance_ratio": self.explained_variance_ratio_.tolist()}
        self._finish(G, vectors, space, rows, name, meta=meta)
        return self

    def _fit_feature(self, G: Any, space: str, k: int) -> tuple[torch.Tensor, torch.Tensor, float]:
        names = list(getattr(G, "feature_names", []))
        if self.feature not in names:
            raise OptionsError(f"ganspace: unknown feature {self.feature!r}; the generator has {', '.join(names)}")
        g = torch.Generator().manual_seed(int(self.seed))
        latents, acts = [], []
        with torch.no_grad():
            for start in range(0, int(self.n_samples), int(self.batch_size)):
                b = min(int(self.batch_size), int(self.n_samples) - start)
                z = G.sample_latents(b, generator=g)
                c = G.sample_c(b, generator=g)
                lat = G.to_space(z, space, c=c)
                acts.append(G.features(lat, [self.feature], space, c=c)[self.feature].flatten(1).double().cpu())
                latents.append((lat[:, 0] if space == "w+" else lat).double().cpu())
        X, L = torch.cat(acts), torch.cat(latents)
        if k > min(X.shape):
            raise OptionsError(f"ganspace: at most {min(X.shape)} components from {len(X)} samples of {self.feature}")
        Xc = X - X.mean(0)
        # Principal axes of the activations from the SVD of the centred samples (D may be large).
        _, s, vt = torch.linalg.svd(Xc, full_matrices=False)
        coords = Xc @ vt[:k].T  # [N, K] principal coordinates
        basis = torch.linalg.lstsq(coords, L - L.mean(0)).solution  # [K, D]: latent step per unit coordinate
        basis = fix_signs(basis / basis.norm(dim=1, keepdim=True).clamp_min(1e-12))
        values = s[:k].square() / (len(X) - 1)
        return values, basis, float(Xc.square().sum() / (len(X) - 1))
