"""The dataset contract every loader implements (image folders, zips, Fashion-MNIST, the world).

Images are uint8 tensors [C, H, W] (C = 1 or 3) at one square, power-of-two resolution; labels are
int64 class indices with -1 meaning "unlabelled". Batches are fetched by index array so that a
procedural source (the world) can render a whole batch at once.
"""

from __future__ import annotations

import abc

import numpy as np
import torch


class ImageDataset(abc.ABC):
    """A finite, indexable set of images with optional class labels and ground truth.

    Attributes:
        name: short name used in run-directory names (``world32``, ``fashion-mnist``).
        resolution: side of the square images.
        channels: 1 (grey) or 3 (RGB).
        num_classes: number of classes, 0 when the set has no labels at all.
        labels: int64 array [N]; -1 marks an image without a label.
        judge: the registered judge that reads this data in metric names (``ganatomy.metrics.judges``):
            'oracle' for the world, 'fmnist' for Fashion-MNIST; None (the default) leaves it to the
            generic one ('effnet').
    """

    name: str
    resolution: int
    channels: int
    num_classes: int
    labels: np.ndarray
    judge: str | None = None

    @abc.abstractmethod
    def __len__(self) -> int: ...

    @abc.abstractmethod
    def get_images(self, indices: np.ndarray) -> torch.Tensor:
        """uint8 images [B, C, H, W] for ``indices``."""

    def get_batch(self, indices: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """(uint8 images [B, C, H, W], int64 labels [B]) for ``indices``."""
        indices = np.asarray(indices, dtype=np.int64)
        return self.get_images(indices), torch.from_numpy(self.labels[indices].copy())

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        images, labels = self.get_batch(np.array([index]))
        return images[0], int(labels[0])

    # Optional ground truth (the world and exported world sets have it).
    def get_masks(self, indices: np.ndarray) -> torch.Tensor | None:
        """uint8 part masks [B, H, W], or None when the set has none."""
        return None

    def get_factors(self, indices: np.ndarray) -> dict[str, np.ndarray] | None:
        """Ground-truth factors by name (arrays [B]), or None when the set has none."""
        return None

    @property
    def has_labels(self) -> bool:
        return self.num_classes > 0 and bool((self.labels >= 0).any())

    def with_labels(self, labels: np.ndarray) -> ImageDataset:
        """The same images with another label array (e.g. a labelled subset with -1 elsewhere)."""
        return RelabelledDataset(self, labels)


class RelabelledDataset(ImageDataset):
    """A view of a dataset with its labels replaced; images and ground truth pass through."""

    def __init__(self, base: ImageDataset, labels: np.ndarray):
        labels = np.asarray(labels, dtype=np.int64)
        if labels.shape != (len(base),):
            raise ValueError(f"labels must have shape ({len(base)},), got {labels.shape}")
        self.base = base
        self.name = base.name
        self.resolution = base.resolution
        self.channels = base.channels
        self.num_classes = base.num_classes
        self.judge = base.judge
        self.labels = labels

    def __len__(self) -> int:
        return len(self.base)

    def get_images(self, indices: np.ndarray) -> torch.Tensor:
        return self.base.get_images(indices)

    def get_masks(self, indices: np.ndarray) -> torch.Tensor | None:
        return self.base.get_masks(indices)

    def get_factors(self, indices: np.ndarray) -> dict[str, np.ndarray] | None:
        return self.base.get_factors(indices)
