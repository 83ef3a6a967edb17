"""Semantic parts without labels: KLiSH (Xu et al., 2022) and what is built on its masks.

- :class:`KLiSH`: k-means over-clustering of the generator's per-pixel features, merged by linear
  separability into a tree of linear pixel classifiers (``merge_tree_``; masks at any K with
  ``predict``; an automatic K, ``n_clusters_auto_``);
- :mod:`ganatomy.segment.baselines`: k-means at K, agglomerative and spectral clustering of the
  k-means centroids, on the same features;
- :mod:`ganatomy.segment.evaluate`: mIoU (many-to-one and Hungarian), ARI and AMI against part masks.
"""

from ganatomy.segment.features import select_layers
from ganatomy.segment.klish import KLiSH
from ganatomy.segment.merge import MergeTree

__all__ = ["KLiSH", "MergeTree", "select_layers"]
