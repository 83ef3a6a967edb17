"""Disentanglement of a latent code against known factors: MIG, DCI and SAP.

Inputs everywhere: ``codes`` [N, L] (a generator's z or w, or gene indices) and ``factors``, a
dict name -> array [N] of ground-truth values, with ``kinds`` name -> ``"continuous"`` |
``"categorical"`` (when ``kinds`` is None or misses a name, integer and bool arrays are categorical
and float arrays continuous). All three subsample to ``max_samples`` (default 10,000) with a fixed
seed, and the ones that fit predictors split the samples into train and test sets
(``train_fraction`` = 0.8) with the same seed.

Code units. By default every column is one code unit. ``unit_size=d`` groups the columns into
L/d consecutive slices of d columns, each one unit: the natural unit of a code whose pieces are
vectors, such as a gene-bank latent (one gene = one slice of w). Per column, a gene's d columns all
carry the same information, so a factor that one gene controls has its top two units inside that
gene and a gap near 0 (MIG and SAP are gaps): the per-column score reads a redundant code as an
entangled one. Below, "unit" is a column or a slice; a slice is handled as follows.

MIG (Chen et al., 2018, "Isolating Sources of Disentanglement in VAEs"): for factor v_k,
    MIG_k = (I(c_(1); v_k) - I(c_(2); v_k)) / H(v_k),
with c_(1), c_(2) the code units of largest and second-largest mutual information; MIG is the
mean over factors. Mutual information needs discrete variables: every code unit and every
continuous factor is cut into ``num_bins`` (default 20) equal-frequency bins (quantile edges,
so each bin holds about N/20 samples and the result does not depend on the scale); categorical
factors are used as they are. I and H use ``sklearn.metrics.mutual_info_score`` (nats). A slice
unit is cut into ``num_bins`` cells by k-means on its standardised columns (the vector analogue of
the bins; a slice that takes at most ``num_bins`` distinct values keeps them as its cells).

DCI (Eastwood & Williams, 2018, "A Framework for the Quantitative Evaluation of Disentangled
Representations"): one predictor per factor from all code units gives an importance matrix
R [L, K] (column k = the predictor's importances, each column summing to 1; a slice unit's row is
the sum of its columns' rows). Eastwood & Williams use Lasso and random forests; here the default
is gradient-boosted trees (``sklearn.ensemble.GradientBoostingRegressor``/``...Classifier``,
impurity-based ``feature_importances_``, 50 trees of depth 3) as in disentanglement_lib, because
trees also see non-linear codes; ``model="forest"`` uses random forests instead. With P_jk = R_jk / sum_k R_jk:
    D_j = 1 - H_K(P_j.),  D = sum_j rho_j D_j,  rho_j = sum_k R_jk / sum_jk R_jk
    C_k = 1 - H_L(P~_.k), P~_jk = R_jk / sum_j R_jk,  C = weighted mean of C_k by column mass
(H_K is the entropy with logarithm base K). Informativeness is the predictor's quality on the
held-out split: R^2 for continuous factors, accuracy for categorical ones, averaged over factors.
D is undefined (NaN) for one factor, C for one code unit.

SAP (Kumar et al., 2018, "Variational Inference of Disentangled Latent Concepts from Unlabeled
Observations"): a score matrix S [L, K] of how well each single code unit predicts each factor;
SAP = mean over factors of the gap between the two best code units. For continuous factors S is
the R^2 of a linear regression on the unit (on all samples; for one column the squared Pearson
correlation); for categorical factors it is the balanced accuracy of thresholds on the code unit
(a decision tree with at most one leaf per class, fitted on the train split, scored on the test split),
adjusted for chance (``balanced_accuracy_score(adjusted=True)``: 0 for chance, 1 for perfect) and
clipped at 0, so that continuous and categorical factors share the 0..1 scale.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Literal

import numpy as np
import torch
from sklearn.cluster import KMeans
from sklearn.ensemble import (
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LinearRegression
from sklearn.metrics import balanced_accuracy_score, mutual_info_score
from sklearn.tree import DecisionTreeClassifier

from ganatomy.errors import OptionsError

FactorKind = Literal["continuous", "categorical"]
_KINDS = ("continuous", "categorical")


@dataclasses.dataclass
class MIGResult:
    score: float
    per_factor: dict[str, float]
    mutual_info: np.ndarray  # [L, K] in nats
    factor_entropy: dict[str, float]


@dataclasses.dataclass
class DCIResult:
    disentanglement: float
    completeness: float
    informativeness: float
    importance: np.ndarray  # [L, K]
    informativeness_per_factor: dict[str, float]


@dataclasses.dataclass
class SAPResult:
    score: float
    per_factor: dict[str, float]
    scores: np.ndarray  # [L, K]


@dataclasses.dataclass
class _Prepared:
    codes: np.ndarray  # [n, L] float64
    names: list[str]
    values: list[np.ndarray]  # per factor, [n]; categorical ones as int codes 0..C-1
    kinds: list[str]
    train: np.ndarray  # indices
    test: np.ndarray


def _prepare(
    codes: np.ndarray | torch.Tensor,
    factors: Mapping[str, np.ndarray | torch.Tensor],
    kinds: Mapping[str, str] | None,
    max_samples: int | None,
    train_fraction: float,
    seed: int,
    min_samples: int = 10,
) -> _Prepared:
    if isinstance(codes, torch.Tensor):
        codes = codes.detach().cpu().numpy()
    codes = np.asarray(codes, dtype=np.float64)
    if codes.ndim == 1:
        codes = codes[:, None]
    if codes.ndim != 2:
        raise OptionsError(f"disentanglement: codes must be [N, L], got shape {codes.shape}")
    if not factors:
        raise OptionsError("disentanglement: no factors given")
    n = len(codes)
    if n < min_samples:
        raise OptionsError(f"disentanglement: needs at least {min_samples} samples, got {n}")
    if not np.isfinite(codes).all():
        raise OptionsError("disentanglement: codes contain NaN or Inf")
    kinds = dict(kinds or {})
    unknown = set(kinds) - set(factors)
    if unknown:
        raise OptionsError(f"disentanglement: kinds name unknown factors {sorted(unknown)}")
    rng = np.random.default_rng(seed)
    keep = np.sort(rng.choice(n, max_samples, replace=False)) if max_samples and n > max_samples else np.arange(n)
    names, values, kind_list = [], [], []
    for name, v in factors.items():
        if isinstance(v, torch.Tensor):
            v = v.detach().cpu().numpy()
        v = np.asarray(v)
        if v.shape != (n,):
            raise OptionsError(f"disentanglement: factor {name!r} must have shape ({n},), got {v.shape}")
        kind = kinds.get(name) or ("continuous" if v.dtype.kind == "f" else "categorical")
        if kind not in _KINDS:
            raise OptionsError(f"disentanglement: factor {name!r} has kind {kind!r}; use 'continuous' or 'categorical'")
        v = v[keep]
        if kind == "categorical":
            v = np.unique(v, return_inverse=True)[1].astype(np.int64)
        else:
            v = v.astype(np.float64)
            if not np.isfinite(v).all():
                raise OptionsError(f"disentanglement: factor {name!r} contains NaN or Inf")
        if np.all(v == v[0]):
            raise OptionsError(f"disentanglement: factor {name!r} is constant; it cannot be predicted")
        names.append(name)
        values.append(v)
        kind_list.append(kind)
    perm = rng.permutation(len(keep))
    n_train = int(round(train_fraction * len(keep)))
    if not 0 < n_train < len(keep):
        raise OptionsError(f"disentanglement: train_fraction={train_fraction} leaves no train or no test samples")
    return _Prepared(codes[keep], names, values, kind_list, np.sort(perm[:n_train]), np.sort(perm[n_train:]))


def equal_frequency_bins(x: np.ndarray, num_bins: int = 20) -> np.ndarray:
    """Bin indices 0..num_bins-1 with quantile edges (about N/num_bins samples per bin; ties share a bin)."""
    edges = np.unique(np.quantile(x, np.linspace(0, 1, num_bins + 1)[1:-1]))
    return np.searchsorted(edges, x, side="right")


def _units(codes: np.ndarray, unit_size: int) -> list[np.ndarray]:
    """The code units: consecutive slices [n, unit_size] of the columns."""
    width = codes.shape[1]
    if unit_size < 1 or width % unit_size:
        raise OptionsError(f"disentanglement: unit_size={unit_size} must divide the code's {width} columns")
    return [codes[:, i : i + unit_size] for i in range(0, width, unit_size)]


def _discretise_unit(unit: np.ndarray, num_bins: int, seed: int) -> np.ndarray:
    """Cell indices of one unit: equal-frequency bins for a column, k-means cells for a slice."""
    if unit.shape[1] == 1:
        return equal_frequency_bins(unit[:, 0], num_bins)
    values, cells = np.unique(unit, axis=0, return_inverse=True)
    if len(values) <= num_bins:
        return cells.reshape(-1)
    std = unit.std(axis=0)
    scaled = (unit - unit.mean(axis=0)) / np.where(std > 0, std, 1.0)
    return KMeans(n_clusters=num_bins, n_init=3, random_state=seed).fit_predict(scaled)


def mig(
    codes: np.ndarray | torch.Tensor,
    factors: Mapping[str, np.ndarray | torch.Tensor],
    kinds: Mapping[str, str] | None = None,
    num_bins: int = 20,
    max_samples: int | None = 10_000,
    seed: int = 0,
    unit_size: int = 1,
) -> MIGResult:
    """Mutual Information Gap (formula, discretisation and code units in the module doc)."""
    p = _prepare(codes, factors, kinds, max_samples, 0.5, seed)
    binned_codes = [_discretise_unit(u, num_bins, seed) for u in _units(p.codes, unit_size)]
    mi = np.zeros((len(binned_codes), len(p.names)))
    per_factor, entropy = {}, {}
    for k, (name, v, kind) in enumerate(zip(p.names, p.values, p.kinds)):
        vb = v if kind == "categorical" else equal_frequency_bins(v, num_bins)
        h = mutual_info_score(vb, vb)
        for j, cb in enumerate(binned_codes):
            mi[j, k] = mutual_info_score(cb, vb)
        top = np.sort(mi[:, k])[::-1]
        second = top[1] if len(top) > 1 else 0.0
        per_factor[name] = float((top[0] - second) / h)
        entropy[name] = float(h)
    return MIGResult(float(np.mean(list(per_factor.values()))), per_factor, mi, entropy)


def _entropy_base(p: np.ndarray, base: int) -> float:
    p = p[p > 0]
    return float(-(p * np.log(p)).sum() / np.log(base))


def _importance_model(kind: str, model: str, seed: int):
    if model == "gbt":
        cls = GradientBoostingClassifier if kind == "categorical" else GradientBoostingRegressor
        return cls(n_estimators=50, max_depth=3, random_state=seed)
    if model == "forest":
        cls = RandomForestClassifier if kind == "categorical" else RandomForestRegressor
        return cls(n_estimators=50, max_depth=8, random_state=seed, n_jobs=1)
    raise OptionsError(f"DCI: unknown model {model!r}; use 'gbt' or 'forest'")


def dci(
    codes: np.ndarray | torch.Tensor,
    factors: Mapping[str, np.ndarray | torch.Tensor],
    kinds: Mapping[str, str] | None = None,
    model: Literal["gbt", "forest"] = "gbt",
    train_fraction: float = 0.8,
    max_samples: int | None = 10_000,
    seed: int = 0,
    unit_size: int = 1,
) -> DCIResult:
    """Disentanglement, completeness and informativeness (formulas and code units in the module doc)."""
    p = _prepare(codes, factors, kinds, max_samples, train_fraction, seed)
    num_codes, num_factors = len(_units(p.codes, unit_size)), len(p.names)
    importance = np.zeros((p.codes.shape[1], num_factors))
    info = {}
    xtr, xte = p.codes[p.train], p.codes[p.test]
    for k, (name, v, kind) in enumerate(zip(p.names, p.values, p.kinds)):
        est = _importance_model(kind, model, seed)
        if kind == "categorical" and len(np.unique(v[p.train])) < 2:
            raise OptionsError(f"DCI: factor {name!r} has a single class in the train split; use more samples")
        est.fit(xtr, v[p.train])
        importance[:, k] = np.abs(est.feature_importances_)
        # .score is R^2 for regressors and accuracy for classifiers
        info[name] = float(est.score(xte, v[p.test]))
    importance = importance.reshape(num_codes, unit_size, num_factors).sum(axis=1)
    total = importance.sum()
    if total <= 0:
        return DCIResult(0.0, 0.0, float(np.mean(list(info.values()))), importance, info)
    if num_factors > 1:
        rows = importance.sum(axis=1)
        d_j = np.array([1.0 - _entropy_base(r / r.sum(), num_factors) if r.sum() > 0 else 0.0 for r in importance])
        disentanglement = float((rows / total) @ d_j)
    else:
        disentanglement = float("nan")
    if num_codes > 1:
        cols = importance.sum(axis=0)
        c_k = np.array([1.0 - _entropy_base(c / c.sum(), num_codes) if c.sum() > 0 else 0.0 for c in importance.T])
        completeness = float((cols / total) @ c_k)
    else:
        completeness = float("nan")
    return DCIResult(disentanglement, completeness, float(np.mean(list(info.values()))), importance, info)


def sap(
    codes: np.ndarray | torch.Tensor,
    factors: Mapping[str, np.ndarray | torch.Tensor],
    kinds: Mapping[str, str] | None = None,
    train_fraction: float = 0.8,
    max_samples: int | None = 10_000,
    seed: int = 0,
    unit_size: int = 1,
) -> SAPResult:
    """Separated Attribute Predictability (formula and code units in the module doc)."""
    p = _prepare(codes, factors, kinds, max_samples, train_fraction, seed)
    units = _units(p.codes, unit_size)
    num_codes = len(units)
    scores = np.zeros((num_codes, len(p.names)))
    per_factor = {}
    for k, (name, v, kind) in enumerate(zip(p.names, p.values, p.kinds)):
        for j, c in enumerate(units):
            if kind == "continuous":
                if (c.std(axis=0) > 0).any():
                    scores[j, k] = max(0.0, LinearRegression().fit(c, v).score(c, v))
            else:
                num_classes = int(v.max()) + 1
                tree = DecisionTreeClassifier(max_leaf_nodes=max(2, num_classes), random_state=seed)
                tree.fit(c[p.train], v[p.train])
                bacc = balanced_accuracy_score(v[p.test], tree.predict(c[p.test]), adjusted=True)
                scores[j, k] = max(0.0, bacc)
        top = np.sort(scores[:, k])[::-1]
        per_factor[name] = float(top[0] - (top[1] if num_codes > 1 else 0.0))
    return SAPResult(float(np.mean(list(per_factor.values()))), per_factor, scores)


def disentanglement_scores(
    codes: np.ndarray | torch.Tensor,
    factors: Mapping[str, np.ndarray | torch.Tensor],
    kinds: Mapping[str, str] | None = None,
    max_samples: int | None = 10_000,
    seed: int = 0,
    unit_size: int = 1,
) -> dict[str, float]:
    """MIG, DCI and SAP in one flat dict (``mig``, ``dci_disentanglement``, ..., ``sap``)."""
    m = mig(codes, factors, kinds, max_samples=max_samples, seed=seed, unit_size=unit_size)
    d = dci(codes, factors, kinds, max_samples=max_samples, seed=seed, unit_size=unit_size)
    s = sap(codes, factors, kinds, max_samples=max_samples, seed=seed, unit_size=unit_size)
    return {
        "mig": m.score,
        "dci_disentanglement": d.disentanglement,
        "dci_completeness": d.completeness,
        "dci_informativeness": d.informativeness,
        "sap": s.score,
    }
