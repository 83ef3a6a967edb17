"""Interpretable latent directions: Voynov & Babenko's unsupervised discovery and its baselines.

Every method has scikit-learn's shape (``fit(G)`` leaves ``directions_``; ``edit(latents, index, shift)``)::

    from ganatomy.directions import VoynovDirections
    est = VoynovDirections(n_directions=16, deformator="ortho", space="w").fit(G)
    moved = est.edit(G.to_space(z, "w"), index=3, shift=2.0)

- :class:`VoynovDirections`: learned (deformator 'ortho', 'proj', 'linear') or the fixed baselines
  ('coordinate', 'random') with their reconstructor, and RCA (``rca_``);
- :class:`GANSpaceDirections`: PCA of W (or of a layer's activations, regressed back to the latent);
- :class:`SeFaDirections`: eigenvectors of AᵀA of the weights that read the latent;
- :class:`InterFaceGANDirections`: SVM normals for labelled attributes (labels given or read by the oracle);
- :func:`factor_alignment`: what each direction moves, read by the world oracle (purity, coverage),
  :func:`pool_alignments`: one reading over several sets (e.g. one per layer group), and
  :func:`world_purity_ceiling`: the purity of the world's own factors through the same oracle;
- :func:`load`: a directions file, refused for another generator than its own;
- ``ganatomy.directions.saliency``: the background direction's (image, mask) pairs and the
  :class:`~ganatomy.directions.saliency.SaliencySegmenter` U-Net trained on them.

Shifts are in units of the latent's per-dimension std (``directions_.meta["shift_unit"]``).
"""

from ganatomy.directions.alignment import (
    PURE,
    Alignment,
    factor_alignment,
    pool_alignments,
    purity_from_changes,
    world_purity_ceiling,
)
from ganatomy.directions.deformator import DEFORMATORS, Deformator
from ganatomy.directions.ganspace import GANSpaceDirections
from ganatomy.directions.interfacegan import InterFaceGANDirections
from ganatomy.directions.io import DIRECTIONS_FILE, check_generator, load
from ganatomy.directions.reconstructor import Reconstructor
from ganatomy.directions.sefa import SeFaDirections
from ganatomy.directions.voynov import VoynovDirections, reconstructor_accuracy

METHODS = {
    "voynov": VoynovDirections,
    "ganspace": GANSpaceDirections,
    "sefa": SeFaDirections,
    "interfacegan": InterFaceGANDirections,
}

__all__ = [
    "DEFORMATORS",
    "DIRECTIONS_FILE",
    "METHODS",
    "PURE",
    "Alignment",
    "Deformator",
    "GANSpaceDirections",
    "InterFaceGANDirections",
    "Reconstructor",
    "SeFaDirections",
    "VoynovDirections",
    "check_generator",
    "factor_alignment",
    "load",
    "pool_alignments",
    "purity_from_changes",
    "reconstructor_accuracy",
    "world_purity_ceiling",
]
