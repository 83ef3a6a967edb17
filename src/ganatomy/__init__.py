"""ganatomy: take a GAN apart and find what it knows, with few or no labels.

The entry points, served from here (each method's own package has the rest)::

    import ganatomy
    G = ganatomy.load_generator("world32-stylegan2")      # zoo name, snapshot, NVIDIA .pkl, rosinality .pt
    ganatomy.list_pretrained()                            # the zoo
    directions = ganatomy.SeFaDirections(n_directions=8).fit(G).directions_
    parts = ganatomy.KLiSH(n_init_clusters=50).fit(G)     # semantic parts from G's features
    world = ganatomy.FaceWorld(32)                        # images with their ground truth
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

# Names served lazily, so that ``import ganatomy`` (the CLI's start) does not import torch.
_LAZY = {
    "load_generator": "ganatomy.nets.load",
    "list_pretrained": "ganatomy.zoo",
    "evaluate_generator": "ganatomy.metrics.evaluate",
    "evaluate_image_sets": "ganatomy.metrics.evaluate",
    "compute_metrics": "ganatomy.metrics.compute",
    "FaceWorld": "ganatomy.worlds.render",
    "load_oracle": "ganatomy.oracle",
    "VoynovDirections": "ganatomy.directions",
    "GANSpaceDirections": "ganatomy.directions",
    "SeFaDirections": "ganatomy.directions",
    "InterFaceGANDirections": "ganatomy.directions",
    "SaliencySegmenter": "ganatomy.directions.saliency",
    "GeneStatistics": "ganatomy.genes",
    "EncoderInverter": "ganatomy.invert",
    "OptimizationInverter": "ganatomy.invert",
    "LatentRegressor": "ganatomy.regress",
    "KLiSH": "ganatomy.segment",
    "write_report": "ganatomy.report",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'ganatomy' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
