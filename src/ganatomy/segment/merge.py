"""KLiSH's merge loop: from K0 over-clusters down to one, by linear separability.

At every level K the one-vs-rest classifiers (``ganatomy.segment.svm``) of the current clusters are
solved, then:

1. the least separable cluster is p = argmin_k CIoU_k, the IoU between the pixels classifier k
   accepts (s_k > 0) and the pixels of cluster k;
2. it is merged into q = argmax_{l != p} ECoS_pl, the cosine similarity of the soft responses
   u_k = (clip(s_k, -1, 1) + 1) / 2 of the two classifiers over all pixels (who p is confused with);
3. the pixels of p join q, q's classifier starts from the size-weighted mean of the two, p's row
   goes, and the classifiers are solved again, warm-started.

A merge changes one one-vs-rest problem only: for every other class k the positives (cluster k) and
the negatives (everything else) are the same pixels as before, so its solution is unchanged and
step 3 re-solves just q. Every tree node (a k-means cluster or a merge) keeps its own classifier
row, so the classifier at any level is the rows of the nodes alive there.

Cluster labels are never re-assigned by the classifiers: they change only by merges. Empty
clusters (k-means centres no pixel is nearest to) are dropped before the loop and listed in the tree.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import numpy as np
import torch

from ganatomy.errors import OptionsError
from ganatomy.segment.svm import SolverStats, solve_ovr


@dataclasses.dataclass
class MergeTree:
    """The full merge history of a KLiSH fit.

    Nodes 0..n_leaves-1 are the (non-empty) initial clusters, node n_leaves + t is made by step t.
    Step t goes from ``levels[t]`` clusters to one fewer by merging node ``merged[t]`` (p, the least
    separable) into ``into[t]`` (q), creating ``created[t]``; ``ciou[t]`` is p's CIoU (the smallest at
    that level: the separability score of the level), ``mean_ciou[t]`` the mean over its clusters and
    ``ecos[t]`` the ECoS between p and q. ``leaf_clusters`` maps each leaf to its k-means cluster;
    ``empty_clusters`` are the k-means clusters that had no pixel. ``colors[node]`` is the leaf whose
    colour a node keeps in pictures (a merge keeps q's).
    """

    n_leaves: int
    levels: list[int]
    merged: list[int]
    into: list[int]
    created: list[int]
    ciou: list[float]
    mean_ciou: list[float]
    ecos: list[float]
    leaf_clusters: list[int]
    empty_clusters: list[int]
    colors: list[int]
    step_seconds: list[float]

    def __len__(self) -> int:
        return len(self.merged)

    def to_tree(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_tree(cls, tree: dict[str, Any]) -> MergeTree:
        return cls(**tree)

    @property
    def max_clusters(self) -> int:
        return self.n_leaves

    def check_level(self, k: int) -> int:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= self.n_leaves:
            raise OptionsError(f"segment: n_clusters must be an integer in 1..{self.n_leaves}, got {k!r}")
        return int(k)

    def nodes_at(self, k: int) -> list[int]:
        """The nodes alive at level k (k clusters), in increasing node id."""
        k = self.check_level(k)
        alive = set(range(self.n_leaves))
        for step in range(self.n_leaves - k):
            alive -= {self.merged[step], self.into[step]}
            alive.add(self.created[step])
        return sorted(alive)

    def leaf_assignment(self, k: int) -> np.ndarray:
        """For each leaf, the index (0..k-1) of its cluster at level k."""
        k = self.check_level(k)
        parent: dict[int, int] = {}
        for step in range(self.n_leaves - k):
            parent[self.merged[step]] = parent[self.into[step]] = self.created[step]
        alive = self.nodes_at(k)
        position = {node: i for i, node in enumerate(alive)}
        out = np.empty(self.n_leaves, dtype=np.int64)
        for leaf in range(self.n_leaves):
            node = leaf
            while node in parent:
                node = parent[node]
            out[leaf] = position[node]
        return out

    def scores(self) -> dict[int, float]:
        """The separability score (smallest CIoU) of every level K >= 2."""
        return {k: s for k, s in zip(self.levels, self.ciou)}

    def auto_clusters(self, min_clusters: int = 2) -> int:
        """The level reached by the largest rise of the separability score along the tree.

        Going from K+1 to K clusters, the score rises by ciou(K) - ciou(K+1); the level after the
        largest rise is where merging stopped mixing inseparable pieces of one part.
        """
        scores = self.scores()
        rises = {k: scores[k] - scores[k + 1] for k in scores if k + 1 in scores and k >= min_clusters}
        if not rises:
            return max(min(self.n_leaves, max(min_clusters, 1)), 1)
        return max(rises, key=lambda k: (rises[k], k))


def separability(scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """CIoU_k [K]: IoU of {s_k > 0} with {y = k} over all pixels."""
    k = scores.shape[1]
    accepted = scores > 0
    size = torch.bincount(labels, minlength=k).to(torch.float64)
    inter = accepted.gather(1, labels[:, None])[:, 0]
    hits = torch.bincount(labels[inter], minlength=k).to(torch.float64)
    union = accepted.sum(0).to(torch.float64) + size - hits
    return torch.where(union > 0, hits / union.clamp_min(1), torch.zeros_like(hits))


def confusion_partner(scores: torch.Tensor, labels: torch.Tensor, p: int) -> tuple[int, float]:
    """(q, ECoS_pq): the cluster whose soft response overlaps p's most."""
    u = (scores.clamp(-1, 1) + 1) / 2
    up = u[:, p]
    dots = up @ u
    norms = u.norm(dim=0)
    cos = dots / (norms * norms[p]).clamp_min(1e-12)
    cos[p] = -1.0
    if float(norms[p]) == 0:  # p's classifier rejects every pixel: fall back to who scores p's pixels highest
        cos = scores[labels == p].mean(0)
        cos[p] = -float("inf")
    q = int(cos.argmax())
    return q, float(cos[q]) if float(norms[p]) > 0 else 0.0


def drop_empty(labels: torch.Tensor, weights: torch.Tensor, biases: torch.Tensor) -> tuple[Any, ...]:
    """Relabel to the non-empty clusters only: (labels, weights, biases, leaf_clusters, empty_clusters)."""
    k = len(weights)
    counts = torch.bincount(labels, minlength=k)
    keep = (counts > 0).nonzero().flatten()
    empty = (counts == 0).nonzero().flatten().tolist()
    remap = torch.full((k,), -1, dtype=torch.long, device=labels.device)
    remap[keep] = torch.arange(len(keep), device=labels.device)
    return remap[labels], weights[keep], biases[keep], keep.tolist(), empty


def merge_loop(
    x: torch.Tensor,
    labels: torch.Tensor,
    weights: torch.Tensor,
    biases: torch.Tensor,
    C: float = 5000.0,
    tol: float = 1e-2,
    max_newton: int = 20,
    max_cg: int = 30,
    progress: Any = None,
) -> tuple[MergeTree, torch.Tensor, torch.Tensor, SolverStats]:
    """Run the loop on pixel features ``x`` [N, D] with initial ``labels`` [N] and classifiers.

    Returns (tree, node_weights [2L-1, D], node_biases [2L-1], solver stats), L = non-empty clusters.
    ``progress`` (optional) is called with (steps done, steps in all).
    """
    labels, weights, biases, leaf_clusters, empty = drop_empty(labels, weights, biases)
    n_leaves = len(weights)
    if n_leaves < 1:
        raise OptionsError("segment: no pixels to cluster")
    stats = SolverStats()
    solve = dict(C=C, tol=tol, max_newton=max_newton, max_cg=max_cg, stats=stats)
    classes = torch.arange(n_leaves, device=x.device)
    w, b = solve_ovr(x, labels, weights, biases, classes, **solve)
    node_w = torch.zeros(2 * n_leaves - 1, x.shape[1], dtype=x.dtype, device=x.device)
    node_b = torch.zeros(2 * n_leaves - 1, dtype=x.dtype, device=x.device)
    node_w[:n_leaves], node_b[:n_leaves] = w, b
    nodes = list(range(n_leaves))  # column j of the scores <-> tree node nodes[j]
    colors = list(range(n_leaves))
    scores = x @ w.T + b[None, :]
    labels = labels.clone()
    tree = MergeTree(n_leaves, [], [], [], [], [], [], [], leaf_clusters, empty, colors, [])
    for step in range(n_leaves - 1):
        start = time.perf_counter()
        k = len(nodes)
        ciou = separability(scores, labels)
        p = int(ciou.argmin())
        q, ecos = confusion_partner(scores, labels, p)
        size_p, size_q = int((labels == p).sum()), int((labels == q).sum())
        alpha = size_p / max(size_p + size_q, 1)
        wq = alpha * w[p] + (1 - alpha) * w[q]
        bq = alpha * b[p] + (1 - alpha) * b[q]
        # Merge p into q, then drop column p (labels above p shift down by one).
        labels[labels == p] = q
        keep = [j for j in range(k) if j != p]
        q_new = q - (q > p)
        labels = labels - (labels > p).long()
        w, b, scores = w[keep].clone(), b[keep].clone(), scores[:, keep]
        w[q_new], b[q_new] = wq, bq
        if k > 2:  # at one cluster there are no negatives: nothing to separate
            wq, bq = solve_ovr(x, labels, wq[None], bq[None], torch.tensor([q_new], device=x.device), **solve)
            w[q_new], b[q_new] = wq[0], bq[0]
        scores[:, q_new] = x @ w[q_new] + b[q_new]
        new_node = n_leaves + step
        node_w[new_node], node_b[new_node] = w[q_new], b[q_new]
        tree.levels.append(k)
        tree.merged.append(nodes[p])
        tree.into.append(nodes[q])
        tree.created.append(new_node)
        tree.ciou.append(float(ciou[p]))
        tree.mean_ciou.append(float(ciou.mean()))
        tree.ecos.append(ecos)
        colors.append(colors[nodes[q]])
        nodes = [nodes[j] for j in keep]
        nodes[q_new] = new_node
        tree.step_seconds.append(time.perf_counter() - start)
        if progress is not None:
            progress(step + 1, n_leaves - 1)
    return tree, node_w, node_b, stats
