"""SeFa (Shen & Zhou 2021): closed-form directions from the weights that read the latent.

For the linear maps A_l from a latent to the style codes of the chosen layers (StyleGAN's style
affines; a DCGAN's first layer: ``G.style_weights()``), the directions n maximising sum_l |A_l n|^2
with |n| = 1 are the leading eigenvectors of sum_l A_lᵀ A_l. No sampling, no training.
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
)
from ganatomy.directions.pca import top_eigenvectors
from ganatomy.errors import OptionsError


def weights_space(G: Any) -> str:
    """The space ``style_weights`` read from: W where the generator has it, else Z."""
    return "w" if "w" in G.latent_spaces else "z"


def chosen_weights(G: Any, rows: Sequence[int] | None) -> dict[str, torch.Tensor]:
    """The style weights of the layers that consume the W+ ``rows`` (all layers for None)."""
    weights = G.style_weights()
    if not weights:
        raise OptionsError(f"sefa: the generator ({G.kind}) exposes no weights that read its latent (style_weights)")
    if rows is None:
        return weights
    layout = G.ws_layout()
    names = [layer for r in rows for layer in layout[r] if layer in weights]
    if not names:
        raise OptionsError(f"sefa: W+ rows {list(rows)} feed no layer with style weights")
    return {n: weights[n] for n in names}


class SeFaDirections(DirectionEstimator):
    """SeFa directions (see the module docstring).

    Args:
        n_directions: K.
        layers: W+ rows whose layers' weights are decomposed; the directions then move only those rows
            (space 'w+'). None: every layer, directions in W (Z for a generator without W).
        normalize: divide each layer's weight by its Frobenius norm first, so that wide layers do not
            outweigh narrow ones (off: the plain closed form).

    Fitted: ``directions_``, ``eigenvalues_`` [K], ``layer_names_``, ``generator_``.
    """

    method: ClassVar[str] = "sefa"

    def __init__(self, n_directions: int = 10, layers: Sequence[int] | None = None, normalize: bool = False):
        self.n_directions = n_directions
        self.layers = layers
        self.normalize = normalize

    def fit(self, G: Any, name: str | None = None) -> SeFaDirections:
        k = check_n_directions(self.n_directions, "sefa")
        space = weights_space(G) if self.layers is None else "w+"
        check_space(G, space, "sefa")
        rows = check_layers(G, space, self.layers, "sefa")
        weights = chosen_weights(G, rows)
        dim = int(G.latent_shape(space)[-1])
        gram = torch.zeros(dim, dim, dtype=torch.float64)
        for layer, A in weights.items():
            A = A.detach().double().cpu()
            if A.shape[1] != dim:
                raise OptionsError(f"sefa: layer {layer} reads {A.shape[1]} inputs, the {space} latent has {dim}")
            if self.normalize:
                A = A / A.norm()
            gram += A.T @ A
        if k > dim:
            raise OptionsError(f"sefa: at most {dim} directions in a {dim}-d latent, got {k}")
        values, vectors = top_eigenvectors(gram, k)
        self.eigenvalues_ = values.float()
        self.layer_names_ = list(weights)
        self._finish(
            G, vectors, space, rows, name, meta={"layers": self.layer_names_, "eigenvalues": self.eigenvalues_.tolist()}
        )
        return self
