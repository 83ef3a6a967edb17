"""The procedural world as a dataset: images rendered on the fly, with masks, factors and labels.

Image ``i`` of ``WorldDataset(res, size, seed)`` is world seed ``seed * 2**32 + i`` (so with the default
seed 0 it is what ``ganatomy world --seeds i`` shows, and an export with the same seed holds the same
images). The class label is the world's ``label_factor`` (hair style, 4 classes).
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from ganatomy.data.base import ImageDataset
from ganatomy.errors import OptionsError
from ganatomy.worlds import FaceWorld, image_seeds


class WorldDataset(ImageDataset):
    """``size`` world images at ``res`` x ``res``, rendered a batch at a time when asked for.

    Factors of all images are drawn once, on first use (about 1 s for 50k images), and kept; images
    and masks are rendered per call, so memory stays small for any ``size``.
    """

    channels = 3
    judge = "oracle"  # the world oracle reads its factors, classes and parts

    def __init__(self, res: int = 32, size: int = 50000, seed: int = 0):
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
            raise OptionsError(f"world dataset: size {size!r} must be a positive number of images")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise OptionsError(f"world dataset: seed {seed!r} must be a non-negative integer")
        self.world = FaceWorld(res)  # checks res
        self.resolution = int(res)
        self.size = int(size)
        self.seed = int(seed)
        self.name = f"world{self.resolution}"
        self.label_factor = self.world.label_factor
        self.num_classes = self.world.num_classes
        self.part_labels = self.world.part_labels

    def __len__(self) -> int:
        return self.size

    @functools.cached_property
    def _factors(self) -> dict[str, np.ndarray]:
        return self.world.factors_for_seeds(image_seeds(self.seed, range(self.size)))

    @property
    def labels(self) -> np.ndarray:  # type: ignore[override]
        return self._factors[self.label_factor]

    def _index(self, indices: np.ndarray) -> np.ndarray:
        indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        if indices.size and (indices.min() < 0 or indices.max() >= self.size):
            bad = indices[(indices < 0) | (indices >= self.size)][0]
            raise IndexError(f"{self.name}: index {bad} out of range for {self.size} images")
        return indices

    def _render(self, indices: np.ndarray):
        indices = self._index(indices)
        return self.world.render({k: v[indices] for k, v in self._factors.items()})

    def get_images(self, indices: np.ndarray) -> torch.Tensor:
        return self._render(indices).torch_images()

    def get_masks(self, indices: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(self._render(indices).masks)

    def get_factors(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        indices = self._index(indices)
        return {k: v[indices].copy() for k, v in self._factors.items()}

    def get_ground_truth(self, indices: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, dict[str, np.ndarray]]:
        """(images [B, 3, H, W], masks [B, H, W], factors) from one render."""
        batch = self._render(indices)
        return batch.torch_images(), torch.from_numpy(batch.masks), {k: v.copy() for k, v in batch.factors.items()}
