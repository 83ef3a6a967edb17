"""The KLiSH estimator: ``KLiSH(n_init_clusters=100).fit(G)`` -> ``merge_tree_``, masks at any K.

::

    from ganatomy.segment import KLiSH
    est = KLiSH(n_init_clusters=100).fit(G)
    masks = est.predict(latents, n_clusters=12)          # uint8 [N, H, W], latents in est.space_
    k = est.n_clusters_auto_                              # the automatic choice of K

Fitting: features of ``n_samples`` images (seeds ``seed * 100_000 + i``; truncation ``truncation_psi``
in W where the generator has it), k-means++ on ``kmeans_pixels`` of their pixels, the centroids
turned into a nearest-centroid linear classifier (w_k = c_k / D, b_k = -½‖c_k‖² / D with
D = max_k ‖c_k‖²) that labels every pixel, then the merge loop (``ganatomy.segment.merge``).

Masks for new latents come from per-layer 1x1 convolutions: the classifier's columns of each
selected layer applied to that layer's map at its own resolution, upsampled, summed, the bias added,
argmax. By linearity this equals the classifier on the upsampled concatenated features, without
building them.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from ganatomy.base import Estimator, describe_generator
from ganatomy.errors import OptionsError
from ganatomy.segment.features import (
    MAX_CHANNELS,
    check_layers,
    collect_features,
    layer_channels,
    select_layers,
    upsample,
)
from ganatomy.segment.kmeans import kmeans
from ganatomy.segment.merge import MERGE_RULES, MergeTree, merge_loop

LAYER_SCALES = ("unit", "none")

# Seeds of the fit's images: seed * SEED_STRIDE + i (evaluations draw far above, see ``EVAL_SEED``).
SEED_STRIDE = 100_000
EVAL_SEED = 2022 * SEED_STRIDE


def centroid_classifier(centres: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(w, b) whose argmax over k of w_k·x + b_k is the nearest centre (scaled so scores are O(1))."""
    sq = centres.square().sum(1)
    scale = sq.max().clamp_min(1e-12)
    return centres / scale, -0.5 * sq / scale


def layer_scales(x: torch.Tensor, channels: Sequence[int]) -> torch.Tensor:
    """Per-channel divisors [C] giving each layer's block unit mean squared norm per pixel.

    Raw, the coarse maps dominate the distances and the classifiers' margins (on world32-stylegan2
    the 256-channel 4x4 map has mean squared norm 9.0 against 0.94 for the 32x32 map that alone
    resolves eyes and mouth); scaled, every selected layer weighs the same.
    """
    parts = [block.square().sum(1).mean().sqrt().clamp_min(1e-12) for block in x.split(list(channels), dim=1)]
    return torch.cat([p.expand(c) for p, c in zip(parts, channels)])


def check_int(value: Any, name: str, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low or (high and value > high):
        bound = f">= {low}" if high is None else f"in {low}..{high}"
        raise OptionsError(f"KLiSH: {name} must be an integer {bound}, got {value!r}")
    return int(value)


def fit_space(G: Any) -> str:
    """Where KLiSH samples: W+ when the generator has it (truncation acts there), else Z."""
    return "w+" if "w+" in G.latent_spaces else "z"


class KLiSH(Estimator):
    """K-means with the linear separability heuristic (Xu et al., 2022).

    Args:
        n_init_clusters: K0, the k-means over-clustering.
        n_samples: images whose pixels are clustered (256 in the paper).
        truncation_psi: truncation in W of the sampled images (ignored without W).
        layers: feature maps to use (None: the last of each resolution, within ``max_channels``).
        max_channels: the cap on the selected channels.
        resolution: pixels per side of the features (None: the generator's image size).
        kmeans_pixels: pixels sampled for k-means (None: all).
        merge_pixels: pixels the merge loop uses (None: all).
        C: the squared-hinge weight (paper: 5000).
        tol, max_newton, max_cg: solver stopping (relative gradient norm) and iteration caps.
        merge_rule: "ciou" (the paper's heuristic) or "ecos" (the most confused pair; see ``merge``).
        layer_scale: "unit" (each layer's features scaled to unit mean squared norm, see
            :func:`layer_scales`) or "none" (raw, as the paper).
        chunk_size: images per generator pass while extracting features.
        device: where the features and solver live ('cpu', 'cuda').
        seed: seeds the images, the pixel subsample and k-means.
        progress: show progress bars.
    """

    state_version: ClassVar[int] = 2
    fitted_types: ClassVar[dict[str, type]] = {"merge_tree_": MergeTree}

    def __init__(
        self,
        n_init_clusters: int = 100,
        n_samples: int = 256,
        truncation_psi: float = 0.7,
        layers: Sequence[str] | None = None,
        max_channels: int = MAX_CHANNELS,
        resolution: int | None = None,
        kmeans_pixels: int | None = 65_536,
        merge_pixels: int | None = None,
        C: float = 5000.0,
        tol: float = 1e-2,
        max_newton: int = 20,
        max_cg: int = 30,
        merge_rule: str = "ciou",
        layer_scale: str = "unit",
        chunk_size: int = 32,
        device: str = "cpu",
        seed: int = 0,
        progress: bool = False,
    ):
        self.n_init_clusters = n_init_clusters
        self.n_samples = n_samples
        self.truncation_psi = truncation_psi
        self.layers = layers
        self.max_channels = max_channels
        self.resolution = resolution
        self.kmeans_pixels = kmeans_pixels
        self.merge_pixels = merge_pixels
        self.C = C
        self.tol = tol
        self.max_newton = max_newton
        self.max_cg = max_cg
        self.merge_rule = merge_rule
        self.layer_scale = layer_scale
        self.chunk_size = chunk_size
        self.device = device
        self.seed = seed
        self.progress = progress
        self._G: Any = None

    # ------------------------------------------------------------------ checks
    def _check_params(self) -> None:
        check_int(self.n_init_clusters, "n_init_clusters", 2, 10_000)
        check_int(self.n_samples, "n_samples", 1)
        check_int(self.max_channels, "max_channels", 1)
        check_int(self.chunk_size, "chunk_size", 1)
        check_int(self.seed, "seed", 0)
        check_int(self.max_newton, "max_newton", 1)
        check_int(self.max_cg, "max_cg", 1)
        for name in ("kmeans_pixels", "merge_pixels", "resolution"):
            if getattr(self, name) is not None:
                check_int(getattr(self, name), name, 1)
        if not 0 < float(self.truncation_psi) <= 1:
            raise OptionsError(f"KLiSH: truncation_psi must lie in (0, 1], got {self.truncation_psi!r}")
        if self.merge_rule not in MERGE_RULES:
            raise OptionsError(f"KLiSH: merge_rule must be one of {', '.join(MERGE_RULES)}, got {self.merge_rule!r}")
        if self.layer_scale not in LAYER_SCALES:
            raise OptionsError(f"KLiSH: layer_scale must be one of {', '.join(LAYER_SCALES)}, got {self.layer_scale!r}")
        if not float(self.C) > 0 or not float(self.tol) > 0:
            raise OptionsError(f"KLiSH: C and tol must be > 0, got C={self.C!r}, tol={self.tol!r}")

    # ------------------------------------------------------------------ fit
    def sample_latents(self, G: Any, n: int, seed: int) -> torch.Tensor:
        """Latents (in ``fit_space(G)``) of images ``seed * SEED_STRIDE + i``, with this estimator's truncation."""
        from ganatomy.latent.sampling import seeded_latents

        space = fit_space(G)
        psi = float(self.truncation_psi) if space != "z" else 1.0
        return seeded_latents(G, range(seed * SEED_STRIDE, seed * SEED_STRIDE + n), space, truncation_psi=psi).latents

    def features(self, G: Any, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(pixel features [n * R², C] on the estimator's device, images [n, C, R, R]) for ``n`` seeded images."""
        layers = list(self.layers_) if hasattr(self, "layers_") else self._layers(G)
        size = self.resolution or G.img_resolution
        bar = _Bar(self.progress, "features", n)
        with torch.no_grad():
            feats, images = collect_features(
                G, self.sample_latents(G, n, seed), layers, fit_space(G), size, self.chunk_size, bar.update
            )
        bar.close()
        return feats.to(self.device), images

    def _layers(self, G: Any) -> list[str]:
        if self.layers is None:
            return select_layers(G, self.max_channels)
        return check_layers(G, list(self.layers))

    def fit(self, G: Any, name: str | None = None, features: torch.Tensor | None = None) -> KLiSH:
        """Cluster G's pixel features and build the merge tree; ``features`` [N, C] skips the extraction."""
        self._check_params()
        layers = self._layers(G)
        start = time.perf_counter()
        self.layers_ = layers  # features() reads it
        if features is None:
            x, _ = self.features(G, self.n_samples, self.seed)
        else:
            x = features.to(self.device, torch.float32)
        channels = sum(layer_channels(G, layers))
        if x.ndim != 2 or x.shape[1] != channels:
            raise OptionsError(f"KLiSH: features must be [N, {channels}] for the layers, got {list(x.shape)}")
        self.fit_features(x, layer_channels(G, layers))
        self.layers_ = layers
        self.channels_ = layer_channels(G, layers)
        self.space_ = fit_space(G)
        self.resolution_ = int(self.resolution or G.img_resolution)
        self.fit_seconds_ = time.perf_counter() - start
        self.generator_ = describe_generator(G, name)
        self._G = G
        return self

    def fit_features(self, x: torch.Tensor, channels: Sequence[int] | None = None) -> KLiSH:
        """k-means and the merge loop on pixel features [N, C] alone (no generator: ``predict_features``
        works afterwards, ``predict`` needs ``fit``). ``channels`` are the layers' widths, for the
        per-layer scaling (without them the features are used as given)."""
        self._check_params()
        if x.ndim != 2:
            raise OptionsError(f"KLiSH: pixel features must be [N, C], got {list(x.shape)}")
        x = x.to(self.device, torch.float32)
        scales = torch.ones(x.shape[1], device=x.device)
        if self.layer_scale == "unit" and channels is not None:
            if sum(channels) != x.shape[1]:
                raise OptionsError(f"KLiSH: layer widths {list(channels)} do not add up to {x.shape[1]} channels")
            scales = layer_scales(x, channels)
            x = x / scales
        self.feature_scales_ = scales.cpu()
        k0 = int(self.n_init_clusters)
        g = torch.Generator().manual_seed(int(self.seed))
        n = len(x)
        if n < k0:
            raise OptionsError(f"KLiSH: {n} pixels cannot make {k0} initial clusters")
        sub = x
        if self.kmeans_pixels is not None and self.kmeans_pixels < n:
            sub = x[torch.randperm(n, generator=g)[: self.kmeans_pixels].to(x.device)]
        centres, _ = kmeans(sub, k0, seed=int(self.seed))
        w0, b0 = centroid_classifier(centres)
        merge_x = x
        if self.merge_pixels is not None and self.merge_pixels < n:
            merge_x = x[torch.randperm(n, generator=g)[: self.merge_pixels].to(x.device)]
        labels = (merge_x @ w0.T + b0[None, :]).argmax(1)
        bar = _Bar(self.progress, "merge", k0 - 1)
        start = time.perf_counter()
        tree, node_w, node_b, stats = merge_loop(
            merge_x,
            labels,
            w0,
            b0,
            float(self.C),
            float(self.tol),
            int(self.max_newton),
            int(self.max_cg),
            progress=lambda done, total: bar.update(done, total),
            rule=str(self.merge_rule),
        )
        bar.close()
        self.merge_seconds_ = time.perf_counter() - start
        self.centroids_ = centres.cpu()
        self.node_weights_ = node_w.cpu()
        self.node_biases_ = node_b.cpu()
        self.merge_tree_ = tree
        self.n_clusters_auto_ = tree.auto_clusters()
        self.solver_steps_ = {"newton": stats.newton_steps, "cg": stats.cg_steps}
        return self

    # ------------------------------------------------------------------ classifiers
    def classifier(self, n_clusters: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(W [K, C], b [K]) of level K (default: the automatic choice) on the raw features (the layer
        scaling folded into W); row j is cluster j."""
        self.check_fitted()
        k = self.n_clusters_auto_ if n_clusters is None else n_clusters
        nodes = self.merge_tree_.nodes_at(k)
        return self.node_weights_[nodes] / self.feature_scales_[None, :], self.node_biases_[nodes]

    def cluster_colors(self, n_clusters: int | None = None) -> list[int]:
        """For each cluster of level K, the leaf whose colour it keeps across levels."""
        k = self.n_clusters_auto_ if n_clusters is None else n_clusters
        return [self.merge_tree_.colors[n] for n in self.merge_tree_.nodes_at(k)]

    def predict_features(self, x: torch.Tensor, n_clusters: int | None = None) -> torch.Tensor:
        """Cluster of each pixel feature row [N, C] at level K."""
        w, b = self.classifier(n_clusters)
        return (x.to(w) @ w.T + b).argmax(1)

    def logits(self, G: Any, latents: torch.Tensor, n_clusters: int | None = None, return_image: bool = False):
        """Per-pixel classifier scores [N, K, R, R] by per-layer 1x1 convolutions (and the images)."""
        w, b = self.classifier(n_clusters)
        out = G.features(latents, list(self.layers_), space=self.space_, return_image=return_image)
        image, feats = out if return_image else (None, out)
        total = None
        for name, part in zip(self.layers_, w.split(self.channels_, dim=1)):
            fmap = feats[name].float()
            score = F.conv2d(fmap, part.to(fmap)[:, :, None, None])  # 1x1 conv at the layer's own resolution
            score = upsample(score, self.resolution_)
            total = score if total is None else total + score
        total = total + b.to(total)[None, :, None, None]
        return (image, total) if return_image else total

    def _generator(self, G: Any) -> Any:
        if G is None:
            if self._G is None:
                raise OptionsError("KLiSH.predict: pass the generator (G=...): a loaded estimator does not hold one")
            return self._G
        if G is not self._G:
            self.check_same_generator(G)
            self._G = G
        return G

    @torch.no_grad()
    def predict(
        self, latents: torch.Tensor, n_clusters: int | None = None, G: Any = None, return_image: bool = False
    ) -> np.ndarray | tuple[torch.Tensor, np.ndarray]:
        """uint8 masks [N, R, R] (cluster 0..K-1) of the images of ``latents`` (in ``space_``) at level K."""
        self.check_fitted()
        G = self._generator(G)
        k = self.n_clusters_auto_ if n_clusters is None else n_clusters
        if k > 255:
            raise OptionsError(f"KLiSH.predict: masks are uint8, so at most 255 clusters, got {k}")
        images, masks = [], []
        for start in range(0, len(latents), int(self.chunk_size)):
            image, logit = self.logits(G, latents[start : start + int(self.chunk_size)], k, return_image=True)
            images.append(image)
            masks.append(logit.argmax(1).to(torch.uint8).cpu())
        mask = torch.cat(masks).numpy()
        return (torch.cat(images), mask) if return_image else mask


class _Bar:
    """A rich progress bar when asked for, nothing otherwise."""

    def __init__(self, show: bool, description: str, total: int):
        self.progress = None
        if show:
            from rich.progress import Progress

            self.progress = Progress(transient=True)
            self.progress.start()
            self.task = self.progress.add_task(description, total=total)

    def update(self, done: int, total: int | None = None) -> None:
        if self.progress is not None:
            self.progress.update(self.task, completed=done, total=total)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
