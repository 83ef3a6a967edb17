"""Datasets: image folders and zips, Fashion-MNIST, the world; labelled subsets.

``open_dataset("world:32" | "fashion-mnist[:split]" | PATH)`` is the one entry point; the world is
imported lazily from ``ganatomy.data.world``.
"""

from ganatomy.data.base import ImageDataset, RelabelledDataset
from ganatomy.data.fashion_mnist import FashionMNIST
from ganatomy.data.folder import ImageFolderDataset
from ganatomy.data.resolve import open_dataset
from ganatomy.data.subsets import labelled_subset, with_label_fraction

__all__ = [
    "FashionMNIST",
    "ImageDataset",
    "ImageFolderDataset",
    "RelabelledDataset",
    "labelled_subset",
    "open_dataset",
    "with_label_fraction",
]
