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
import math
import time
from typing import Any

import numpy as np
import torch

from ganatomy.errors import OptionsError
from ganatomy.segment.svm import SolverStats, class_sums, solve_ovr, zero_gradient_norm

# How the pair to merge is chosen: "ciou" (the paper's heuristic: the least separable cluster p by CIoU,
# into its ECoS partner) or "ecos" (the most confused pair by ECoS over all pairs, the paper's
# confusion-matrix ablation).
MERGE_RULES = ("ciou", "ecos")

# Floor of the inseparability in the automatic choice of K (scores within 0.01 of 1 count as separable).
AUTO_EPS = 0.01


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
        """The level reached by the largest jump of the separability score along the tree.

        The jump from K+1 to K clusters is measured on the inseparability 1 - score, relatively:
        log((1 - s(K+1) + e) / (1 - s(K) + e)) with e = AUTO_EPS. A rise from 0.75 to 0.998 (the
        last inseparable pieces of a part reunited) then outweighs one from 0 to 0.25 (a stray
        tiny cluster absorbed), which an absolute difference would not.
        """
        scores = self.scores()
        jumps = {
            k: math.log((1 - scores[k + 1] + AUTO_EPS) / (1 - scores[k] + AUTO_EPS))
            for k in scores
            if k + 1 in scores and k >= min_clusters
        }
        if not jumps:
            return max(min(self.n_leaves, max(min_clusters, 1)), 1)
        return max(jumps, key=lambda k: (jumps[k], k))


def separability(scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """CIoU_k [K]: IoU of {s_k > 0} with {y = k} over all pixels."""
    accepted, hits, size = acceptance_counts(scores, labels)
    return ciou_from_counts(accepted, hits, size)


def acceptance_counts(scores: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Per class: pixels accepted (s_k > 0), pixels of the class accepted, class size (float64)."""
    k = scores.shape[1]
    accepted = scores > 0
    inter = accepted.gather(1, labels[:, None])[:, 0]
    return (
        accepted.sum(0).to(torch.float64),
        torch.bincount(labels[inter], minlength=k).to(torch.float64),
        torch.bincount(labels, minlength=k).to(torch.float64),
    )


def ciou_from_counts(accepted: torch.Tensor, hits: torch.Tensor, size: torch.Tensor) -> torch.Tensor:
    union = accepted + size - hits
    return torch.where(union > 0, hits / union.clamp_min(1), torch.zeros_like(hits))


def soft_response(scores: torch.Tensor) -> torch.Tensor:
    return (scores.clamp(-1, 1) + 1) / 2


def confusion_partner(
    scores: torch.Tensor, labels: torch.Tensor, p: int, alive: torch.Tensor, norms: torch.Tensor
) -> tuple[int, float]:
    """(q, ECoS_pq): the alive column whose soft response overlaps column p's most.

    ``norms`` are the columns' ‖u_k‖; only pixels where u_p > 0 contribute to the dot products.
    """
    rows = (scores[:, p] > -1).nonzero().flatten()
    candidates = alive.clone()
    candidates[p] = False
    if len(rows) == 0 or float(norms[p]) == 0:
        # p's classifier rejects every pixel: fall back to who scores p's pixels highest
        mean = scores[labels == p].mean(0) if bool((labels == p).any()) else scores.mean(0)
        mean = torch.where(candidates, mean, torch.full_like(mean, -float("inf")))
        return int(mean.argmax()), 0.0
    u = soft_response(scores[rows])
    cos = (u[:, p] @ u) / (norms * norms[p]).clamp_min(1e-12)
    cos = torch.where(candidates, cos, torch.full_like(cos, -float("inf")))
    q = int(cos.argmax())
    return q, float(cos[q])


def response_gram(scores: torch.Tensor) -> torch.Tensor:
    """⟨u_k, u_l⟩ [K, K] of the soft responses over all pixels (float64 for the cosines)."""
    u = soft_response(scores)
    return (u.T @ u).to(torch.float64)


def most_confused_pair(gram: torch.Tensor, alive: torch.Tensor, size: torch.Tensor) -> tuple[int, int, float]:
    """(p, q, ECoS_pq) of the alive pair with the largest ECoS; the smaller cluster p goes into q."""
    norms = gram.diagonal().clamp_min(1e-12).sqrt()
    cos = gram / (norms[:, None] * norms[None, :])
    pair = alive[:, None] & alive[None, :]
    pair.fill_diagonal_(False)
    cos = torch.where(pair, cos, torch.full_like(cos, -float("inf")))
    flat = int(cos.argmax())
    a, b = divmod(flat, len(cos))
    p, q = (a, b) if size[a] <= size[b] else (b, a)
    return p, q, float(cos[a, b])


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
    rule: str = "ciou",
) -> tuple[MergeTree, torch.Tensor, torch.Tensor, SolverStats]:
    """Run the loop on pixel features ``x`` [N, D] with initial ``labels`` [N] and classifiers.

    Returns (tree, node_weights [2L-1, D], node_biases [2L-1], solver stats), L = non-empty clusters.
    ``progress`` (optional) is called with (steps done, steps in all).

    The scores stay in one [N, L] matrix whose column j belongs to leaf slot j; a merge overwrites
    q's column and retires p's, and the per-class counts behind CIoU and the response norms behind
    ECoS are updated for q only, so a step costs O(N) besides solving q.
    """
    if rule not in MERGE_RULES:
        raise OptionsError(f"segment: merge rule must be one of {', '.join(MERGE_RULES)}, got {rule!r}")
    labels, weights, biases, leaf_clusters, empty = drop_empty(labels, weights, biases)
    n_leaves = len(weights)
    if n_leaves < 1:
        raise OptionsError("segment: no pixels to cluster")
    stats = SolverStats()
    solve = dict(C=C, tol=tol, max_newton=max_newton, max_cg=max_cg, stats=stats)
    sums, counts = class_sums(x, labels, n_leaves)
    total, coef = x.sum(0), C / len(x)
    zero_grad = zero_gradient_norm(sums, counts, total, len(x), coef)
    leaves = torch.arange(n_leaves, device=x.device)
    w, b, scores = solve_ovr(x, labels, weights, biases, leaves, zero_grad=zero_grad, **solve)
    node_w = torch.zeros(2 * n_leaves - 1, x.shape[1], dtype=x.dtype, device=x.device)
    node_b = torch.zeros(2 * n_leaves - 1, dtype=x.dtype, device=x.device)
    node_w[:n_leaves], node_b[:n_leaves] = w, b
    slot_node = list(range(n_leaves))  # score column (slot) -> tree node living there
    alive = torch.ones(n_leaves, dtype=torch.bool, device=x.device)
    colors = list(range(n_leaves))
    labels = labels.clone()  # values are slots
    accepted, hits, size = acceptance_counts(scores, labels)
    norms = soft_response(scores).norm(dim=0)
    gram = response_gram(scores) if rule == "ecos" else None
    tree = MergeTree(n_leaves, [], [], [], [], [], [], [], leaf_clusters, empty, colors, [])
    for step in range(n_leaves - 1):
        start = time.perf_counter()
        k = int(alive.sum())
        ciou = ciou_from_counts(accepted, hits, size)
        ciou_alive = torch.where(alive, ciou, torch.full_like(ciou, float("inf")))
        if gram is None:
            p = int(ciou_alive.argmin())
            q, ecos = confusion_partner(scores, labels, p, alive, norms)
        else:
            p, q, ecos = most_confused_pair(gram, alive, size)
        alpha = float(size[p] / (size[p] + size[q]).clamp_min(1))
        wq = alpha * w[p] + (1 - alpha) * w[q]
        bq = alpha * b[p] + (1 - alpha) * b[q]
        labels[labels == p] = q
        alive[p] = False
        start_scores = alpha * scores[:, p : p + 1] + (1 - alpha) * scores[:, q : q + 1]
        sums[q] += sums[p]
        counts[q] += counts[p]
        if k > 2:  # at one cluster there are no negatives: nothing to separate
            g0 = zero_gradient_norm(sums[q : q + 1], counts[q : q + 1], total, len(x), coef)
            wq, bq, start_scores = solve_ovr(
                x,
                labels,
                wq[None],
                bq[None],
                torch.tensor([q], device=x.device),
                zero_grad=g0,
                scores=start_scores,
                **solve,
            )
            wq, bq = wq[0], bq[0]
        w[q], b[q] = wq, bq
        scores[:, q] = start_scores[:, 0]
        mine = labels == q
        accepted[q] = float((scores[:, q] > 0).sum())
        hits[q] = float((scores[mine, q] > 0).sum())
        size[q] += size[p]
        norms[q] = soft_response(scores[:, q]).norm()
        if gram is not None:
            gram[q] = gram[:, q] = soft_response(scores[:, q]) @ soft_response(scores)
        new_node = n_leaves + step
        node_w[new_node], node_b[new_node] = wq, bq
        tree.levels.append(k)
        tree.merged.append(slot_node[p])
        tree.into.append(slot_node[q])
        tree.created.append(new_node)
        tree.ciou.append(float(ciou[p]))
        tree.mean_ciou.append(float(ciou[alive | (torch.arange(n_leaves, device=x.device) == p)].mean()))
        tree.ecos.append(ecos)
        colors.append(colors[slot_node[q]])
        slot_node[q] = new_node
        tree.step_seconds.append(time.perf_counter() - start)
        if progress is not None:
            progress(step + 1, n_leaves - 1)
    return tree, node_w, node_b, stats
