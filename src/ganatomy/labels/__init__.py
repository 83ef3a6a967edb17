"""Labels for training with fewer of them (Lucic et al. 2019, "High-Fidelity Image Generation With
Fewer Labels"): rotations as a self-supervised task, labels inferred before GAN training, and the
paper's variants as named presets.

- ``rotation``: rotating a batch by multiples of 90 degrees with its targets; the rotation-prediction
  network trained on the real images (self-supervised) whose features the inference uses.
- ``inference``: k-means on those features (Clustering) and a linear classifier on them from the
  labelled subset (S2GAN); the accuracy of inferred labels.
- ``variants``: unconditional, single label, random labels, Clustering, Clustering (SS), S2GAN,
  S2GAN-CO, S3GAN and fully supervised, each as the objective and the labels it trains with.
"""

from ganatomy.labels.rotation import NUM_ROTATIONS, rotate_batch, rotation_copies
from ganatomy.labels.variants import VARIANTS, LabelledData, Variant, get_variant, prepare_labels

__all__ = [
    "NUM_ROTATIONS",
    "VARIANTS",
    "LabelledData",
    "Variant",
    "get_variant",
    "prepare_labels",
    "rotate_batch",
    "rotation_copies",
]
