"""InterFaceGAN (Shen et al. 2020): the supervised reference, one direction per labelled attribute.

A linear SVM separates latents with and without an attribute; the unit normal of its hyperplane is
the direction (pointing towards the positive side). Labels are given (``fit(G, labels=..., latents=...)``)
or read off generated images by the world oracle: a continuous factor splits its samples into the
top and bottom ``tail`` fractions (InterFaceGAN keeps the extremes), a categorical factor gives one
direction per class (that class against the rest). Hue factors that wrap around the colour circle
have no "more" side and are skipped unless named.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import torch

from ganatomy.directions.estimator import DirectionEstimator, check_space, resolve_space
from ganatomy.directions.ganspace import sample_latents
from ganatomy.errors import OptionsError
from ganatomy.nets.protocol import generator_device

# Share of the labelled latents held out to score each boundary.
HOLDOUT = 0.2


def binary_labels(values: np.ndarray, tail: float) -> tuple[np.ndarray, np.ndarray]:
    """(kept sample indices, 0/1 labels): values already 0/1 are kept whole, others split into tails."""
    values = np.asarray(values, dtype=np.float64)
    if set(np.unique(values)) <= {0.0, 1.0}:
        return np.arange(len(values)), values.astype(np.int64)
    lo, hi = np.quantile(values, [tail, 1 - tail])
    keep = np.flatnonzero((values <= lo) | (values >= hi))
    return keep, (values[keep] >= hi).astype(np.int64)


def fit_boundary(latents: np.ndarray, labels: np.ndarray, C: float, seed: int) -> tuple[np.ndarray, float, float]:
    """(unit normal [D], intercept, held-out accuracy) of a linear SVM on the latents."""
    from sklearn.svm import LinearSVC

    if len(np.unique(labels)) < 2:
        raise OptionsError("interfacegan: an attribute needs samples on both sides of its boundary")
    order = np.random.default_rng(seed).permutation(len(labels))
    n_test = int(len(order) * HOLDOUT)
    test, train = order[:n_test], order[n_test:]
    svm = LinearSVC(C=C, max_iter=20_000, random_state=seed).fit(latents[train], labels[train])
    accuracy = float(svm.score(latents[test], labels[test])) if n_test else float("nan")
    scale = float(np.linalg.norm(svm.coef_[0]))
    return svm.coef_[0] / scale, float(svm.intercept_[0]) / scale, accuracy


class InterFaceGANDirections(DirectionEstimator):
    """InterFaceGAN directions (see the module docstring).

    Args:
        attributes: attribute names to fit (None: every label given, or every non-circular world factor).
        space: 'z', 'w' or 'auto' (W where the generator has it); the boundary lives there ('w+' rows
            are equal before mixing, so use 'w').
        n_samples: latents drawn and labelled by the oracle (when no labels are given).
        tail: share of samples kept at each end of a continuous attribute.
        C: the SVM's regularisation.
        seed: seed of the samples and of the held-out split.

    Fitted: ``directions_`` (names = attributes), ``intercepts_``, ``accuracy_`` {attribute: held-out
    accuracy}, ``generator_``.
    """

    method: ClassVar[str] = "interfacegan"

    def __init__(
        self,
        attributes: Sequence[str] | None = None,
        space: str = "auto",
        n_samples: int = 2000,
        tail: float = 0.3,
        C: float = 1.0,
        seed: int = 0,
    ):
        self.attributes = attributes
        self.space = space
        self.n_samples = n_samples
        self.tail = tail
        self.C = C
        self.seed = seed

    def fit(
        self,
        G: Any,
        labels: Mapping[str, Any] | None = None,
        latents: torch.Tensor | None = None,
        name: str | None = None,
    ) -> InterFaceGANDirections:
        """Fit one boundary per attribute; ``labels`` {name: [N] values} go with ``latents`` [N, D] in ``space``."""
        space = resolve_space(G, self.space)
        if space == "w+":
            raise OptionsError("interfacegan: fit the boundary in 'w' (W+ rows are equal before mixing)")
        check_space(G, space, "interfacegan")
        if not 0 < self.tail <= 0.5:
            raise OptionsError(f"interfacegan: tail must lie in (0, 0.5], got {self.tail!r}")
        if labels is None:
            if latents is not None:
                raise OptionsError("interfacegan: latents given without labels")
            latents, labels = self._oracle_labels(G, space)
        elif latents is None:
            raise OptionsError("interfacegan: labels need the latents they belong to (latents=...)")
        X = torch.as_tensor(latents).double().cpu().numpy()
        names = list(self.attributes) if self.attributes is not None else list(labels)
        missing = [n for n in names if n not in labels]
        if missing:
            raise OptionsError(f"interfacegan: no labels for {missing[0]!r}; labelled: {', '.join(labels)}")
        if not names:
            raise OptionsError("interfacegan: no attributes to fit")
        normals, intercepts, accuracy = [], {}, {}
        for attr in names:
            values = np.asarray(labels[attr])
            if len(values) != len(X):
                raise OptionsError(f"interfacegan: {len(values)} labels of {attr!r} for {len(X)} latents")
            keep, y = binary_labels(values, self.tail)
            normal, intercepts[attr], accuracy[attr] = fit_boundary(X[keep], y, self.C, self.seed)
            normals.append(normal)
        self.intercepts_, self.accuracy_ = intercepts, accuracy
        self._finish(
            G,
            torch.as_tensor(np.stack(normals)),
            space,
            None,
            name,
            names=names,
            meta={"accuracy": accuracy, "tail": self.tail},
        )
        return self

    def _oracle_labels(self, G: Any, space: str) -> tuple[torch.Tensor, dict[str, np.ndarray]]:
        from ganatomy.directions.oracle_access import circular, world_oracle
        from ganatomy.worlds import FACTORS

        latents, labels = sample_latents(G, space, int(self.n_samples), self.seed, 256)
        oracle = world_oracle(G.img_resolution)
        readings: dict[str, list] = {}
        with torch.no_grad():
            for lat, c in zip(latents.split(256), labels):
                pred = oracle.predict(G.synthesize(lat.float().to(generator_device(G)), space, c=c))
                for f in FACTORS:
                    if f.is_categorical:
                        for i, cls in enumerate(f.classes):
                            readings.setdefault(f"{f.name}={cls}", []).append(pred.probs[f.name][:, i] > 0.5)
                    elif self.attributes is not None or not circular(f):
                        readings.setdefault(f.name, []).append(pred.factors[f.name])
        return latents, {k: np.concatenate(v).astype(np.float64) for k, v in readings.items()}

    def conditional(self, index: int, against: int) -> torch.Tensor:
        """Direction ``index`` with direction ``against`` projected out (InterFaceGAN's conditional edit)."""
        self.check_fitted()
        v = self.directions_.vectors
        a, b = v[index], v[against] / v[against].norm()
        return a - (a @ b) * b
