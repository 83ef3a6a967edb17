"""Datasets: image folders and zips, Fashion-MNIST, the world; labelled subsets."""

from ganatomy.data.base import ImageDataset, RelabelledDataset

__all__ = ["ImageDataset", "RelabelledDataset"]
