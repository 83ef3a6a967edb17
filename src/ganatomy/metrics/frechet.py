"""Fréchet distance between Gaussians fitted to features (FID and its relatives).

For features X ~ N(mu1, S1) and Y ~ N(mu2, S2) (Heusel et al., 2017, "GANs Trained by a Two
Time-Scale Update Rule Converge to a Local Nash Equilibrium"; Dowson & Landau, 1982)::

    FD = ||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^(1/2))

The trace of the matrix square root is computed from an eigen-decomposition: with
A = S1^(1/2) (symmetric, from ``eigh``), S1 S2 is similar to A S2 A, which is symmetric positive
semi-definite, so tr((S1 S2)^(1/2)) = sum_i sqrt(lambda_i(A S2 A)). This never produces the
imaginary parts ``scipy.linalg.sqrtm`` returns on rounding noise, and it was 3.5x faster at
1024 dimensions on one core here (0.67 s vs 2.37 s, equal to 12 digits). ``method="sqrtm"``
uses scipy's ``sqrtm`` instead (as pytorch-fid does), for cross-checks. Everything is float64.

The value is only comparable between runs that share the feature extractor, its input
resizing, and the numbers of samples (the estimate is biased upwards for small N).
"""

from __future__ import annotations

import os
import warnings
from typing import Literal

import numpy as np
import scipy.linalg
import torch

from ganatomy.errors import CheckpointError, OptionsError
from ganatomy.metrics.features import feature_matrix
from ganatomy.runs.checkpoint import load_checkpoint, save_checkpoint

_STATS_KIND = "ganatomy.feature_stats"


class FeatureStats:
    """Running mean and covariance of features, accumulated batch by batch in float64.

    Keeps n, sum(x - s) and sum((x - s)(x - s)^T) where the shift s is the mean of the first
    batch: shifting by a rough mean avoids the cancellation in ``E[xx^T] - mu mu^T`` when the
    features have a large mean relative to their spread. Memory is O(D^2), independent of N.

    The covariance is the unbiased one (divided by n - 1), like ``numpy.cov``.
    """

    def __init__(self, dim: int):
        self.dim = int(dim)
        self.n = 0
        self._shift: np.ndarray | None = None
        self._sum = np.zeros(self.dim, dtype=np.float64)
        self._sum_outer = np.zeros((self.dim, self.dim), dtype=np.float64)

    @classmethod
    def from_features(cls, features: np.ndarray | torch.Tensor) -> FeatureStats:
        x = feature_matrix(features, "Fréchet distance:", torch.float64).numpy()
        stats = cls(x.shape[1])
        stats.update(x)
        return stats

    def update(self, features: np.ndarray | torch.Tensor) -> None:
        """Add a batch [B, D] of features."""
        x = feature_matrix(features, "Fréchet distance:", torch.float64).numpy()
        if x.shape[1] != self.dim:
            raise OptionsError(f"FeatureStats: expected {self.dim}-d features, got {x.shape[1]}-d")
        if not np.isfinite(x).all():
            raise OptionsError("FeatureStats: features contain NaN or Inf")
        if len(x) == 0:
            return
        if self._shift is None:
            self._shift = x.mean(axis=0)
        d = x - self._shift
        self.n += len(x)
        self._sum += d.sum(axis=0)
        self._sum_outer += d.T @ d

    @property
    def mean(self) -> np.ndarray:
        if self.n == 0:
            raise OptionsError("FeatureStats: no features were added")
        return self._shift + self._sum / self.n

    @property
    def cov(self) -> np.ndarray:
        if self.n < 2:
            raise OptionsError(f"FeatureStats: a covariance needs at least 2 samples, got {self.n}")
        m = self._sum / self.n
        cov = (self._sum_outer - self.n * np.outer(m, m)) / (self.n - 1)
        return (cov + cov.T) / 2  # exact symmetry for eigh

    def state_dict(self) -> dict:
        shift = self._shift if self._shift is not None else np.zeros(self.dim)
        return {
            "kind": _STATS_KIND,
            "dim": self.dim,
            "n": self.n,
            "shift": shift.copy(),
            "sum": self._sum.copy(),
            "sum_outer": self._sum_outer.copy(),
        }

    @classmethod
    def from_state_dict(cls, state: dict) -> FeatureStats:
        if not isinstance(state, dict) or state.get("kind") != _STATS_KIND:
            raise CheckpointError("not a ganatomy feature-statistics record")
        stats = cls(int(state["dim"]))
        stats.n = int(state["n"])
        stats._shift = np.asarray(state["shift"], dtype=np.float64) if stats.n else None
        stats._sum = np.asarray(state["sum"], dtype=np.float64)
        stats._sum_outer = np.asarray(state["sum_outer"], dtype=np.float64)
        return stats

    def save(self, path: str | os.PathLike) -> None:
        """Write atomically as a checksummed safetensors checkpoint."""
        save_checkpoint(path, self.state_dict())

    @classmethod
    def load(cls, path: str | os.PathLike) -> FeatureStats:
        """Read a file written by ``save``; a corrupt file raises ``CheckpointError``."""
        return cls.from_state_dict(load_checkpoint(path))


def _trace_sqrt_product(s1: np.ndarray, s2: np.ndarray) -> float:
    """tr((S1 S2)^(1/2)) for symmetric PSD S1, S2, via eigen-decompositions."""
    w1, v1 = np.linalg.eigh(s1)
    a = (v1 * np.sqrt(np.clip(w1, 0, None))) @ v1.T  # S1^(1/2)
    m = a @ s2 @ a
    w = np.linalg.eigvalsh((m + m.T) / 2)
    return float(np.sqrt(np.clip(w, 0, None)).sum())


def _trace_sqrt_product_scipy(s1: np.ndarray, s2: np.ndarray) -> complex:
    root = scipy.linalg.sqrtm(s1 @ s2)
    if isinstance(root, tuple):  # older scipy returns (root, errest) with disp=False
        root = root[0]
    return complex(np.trace(root))


def frechet_distance(
    mu1: np.ndarray,
    sigma1: np.ndarray,
    mu2: np.ndarray,
    sigma2: np.ndarray,
    eps: float = 1e-6,
    method: Literal["eigh", "sqrtm"] = "eigh",
) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2) (formula in the module doc).

    If the square root fails (non-finite, or with ``method="sqrtm"`` an imaginary part larger than
    1e-3 relative to the trace), ``eps`` times the identity is added to both covariances, with a
    warning; tiny imaginary parts from rounding are dropped silently.
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    s1, s2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != (len(mu1), len(mu1)):
        raise OptionsError(
            f"frechet_distance: shapes do not match (mu {mu1.shape} vs {mu2.shape}, sigma {s1.shape} vs {s2.shape})"
        )
    if method not in ("eigh", "sqrtm"):
        raise OptionsError(f"frechet_distance: unknown method {method!r}; use 'eigh' or 'sqrtm'")
    diff = mu1 - mu2

    def trace_root(a: np.ndarray, b: np.ndarray) -> float | None:
        try:
            if method == "eigh":
                t = _trace_sqrt_product(a, b)
                return t if np.isfinite(t) else None
            t = _trace_sqrt_product_scipy(a, b)
        except (np.linalg.LinAlgError, ValueError):
            return None
        if not np.isfinite(t.real) or abs(t.imag) > 1e-3 * max(1.0, abs(t.real)):
            return None
        return t.real

    tr_root = trace_root(s1, s2)
    if tr_root is None:
        warnings.warn(
            f"frechet_distance: the covariance product is near-singular; adding {eps:g} * I to both covariances",
            RuntimeWarning,
            stacklevel=2,
        )
        offset = eps * np.eye(len(s1))
        tr_root = trace_root(s1 + offset, s2 + offset)
        if tr_root is None:
            raise OptionsError("frechet_distance: the covariances are not finite, even after the eps offset")
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * tr_root)


def frechet_distance_from_stats(a: FeatureStats, b: FeatureStats, eps: float = 1e-6) -> float:
    """FD between two accumulated feature sets; warns when a covariance must be singular (N <= D)."""
    if a.dim != b.dim:
        raise OptionsError(f"FD: feature dimensions differ ({a.dim} vs {b.dim})")
    for name, s in (("first", a), ("second", b)):
        if s.n < 2:
            raise OptionsError(f"FD: needs at least 2 samples per set, the {name} set has {s.n}")
        if s.n <= s.dim:
            warnings.warn(
                f"FD: the {name} set has {s.n} samples of {s.dim}-d features, so its covariance is singular "
                f"(needs at least {s.dim + 1}); the value is biased and not comparable",
                RuntimeWarning,
                stacklevel=2,
            )
    return frechet_distance(a.mean, a.cov, b.mean, b.cov, eps=eps)


def frechet_distance_from_features(
    x: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor, eps: float = 1e-6
) -> float:
    """FD between Gaussians fitted to feature sets x [N1, D] and y [N2, D]."""
    return frechet_distance_from_stats(FeatureStats.from_features(x), FeatureStats.from_features(y), eps=eps)
