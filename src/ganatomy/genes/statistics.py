"""Gene statistics of a gene-bank generator, judged by a classifier: attribution and conditional sampling.

``GeneStatistics(n_samples=M).fit(G)`` draws M uniform DNAs, generates their images and reads
them with a judge (the world oracle by default; any object with the oracle's ``predict`` works).
For every categorical attribute a with classes c it keeps

    q[i, k, c] = mean of p(a = c | x) over the samples whose gene i has variant k,

(continuous factors are cut into ``num_bins`` equal-frequency bins, each bin one class, hard
labels). From q follow, exactly for the discrete genes:

- attribution: I(s_i; a) = sum_k,c P(k, c) log(P(k, c) / (P(k) P(c))) with P(k, c) = q[i, k, c] n_ik / M;
- conditional sampling (naive Bayes over genes): p(s_i = k | a = c) proportional to
  q[i, k, c]^(1/temperature), drawn independently per gene; several attributes multiply their
  likelihoods; ``top_genes`` re-weights only the genes most informative about the requested
  attributes and leaves the others uniform (diversity kept where a gene says nothing).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from ganatomy.base import Estimator, describe_generator
from ganatomy.errors import OptionsError
from ganatomy.metrics.disentanglement import equal_frequency_bins
from ganatomy.nets.genes import gene_prior

# Probabilities are floored here before the log / the power: a variant never seen with a class
# keeps a tiny chance instead of a zero that one sample more would have lifted.
PROB_FLOOR = 1e-6


def default_judge(G: Any) -> Any:
    """The shipped world oracle at the generator's resolution."""
    from ganatomy.directions.oracle_access import world_oracle

    return world_oracle(G.img_resolution)


def _attribute_probs(prediction: Any, judge: Any, num_bins: int) -> tuple[dict[str, np.ndarray], dict[str, list]]:
    """Per attribute: probabilities [M, C] and the class names (bins for continuous factors)."""
    probs, classes = {}, {}
    spec = getattr(judge, "spec", None)
    names = {t.name: list(t.classes) for t in spec.categorical} if spec is not None else {}
    for name, p in prediction.probs.items():
        probs[name] = np.asarray(p, dtype=np.float64)
        classes[name] = names.get(name, [str(c) for c in range(probs[name].shape[1])])
    for name, values in prediction.factors.items():
        if name in probs:
            continue
        bins = equal_frequency_bins(np.asarray(values, dtype=np.float64), num_bins)
        probs[name] = np.eye(num_bins)[bins]
        edges = np.quantile(values, np.linspace(0, 1, num_bins + 1))
        classes[name] = [f"{edges[b]:.3g}..{edges[b + 1]:.3g}" for b in range(num_bins)]
    return probs, classes


class GeneStatistics(Estimator):
    """Gene-attribute statistics q and mutual information, and sampling conditioned on attributes."""

    def __init__(self, n_samples: int = 10_000, batch_size: int = 256, num_bins: int = 8, seed: int = 0) -> None:
        self.n_samples = n_samples
        self.batch_size = batch_size
        self.num_bins = num_bins
        self.seed = seed

    def fit(
        self, G: Any, judge: Any = None, name: str | None = None, progress: Callable | None = None
    ) -> GeneStatistics:
        """Draw ``n_samples`` DNAs of G, judge their images, keep q and the mutual information.

        ``progress(done, total)`` is called after every batch when given."""
        prior = gene_prior(G)
        if int(self.n_samples) < 2 * prior.variants:
            raise OptionsError(
                f"GeneStatistics: n_samples {self.n_samples} is too few for {prior.variants} variants per gene "
                f"(at least {2 * prior.variants}; ~100 per variant gives usable statistics)"
            )
        if int(self.num_bins) < 2:
            raise OptionsError(f"GeneStatistics: num_bins must be >= 2, got {self.num_bins}")
        judge = default_judge(G) if judge is None else judge
        generator = torch.Generator().manual_seed(int(self.seed))
        dnas, predictions = [], []
        n = int(self.n_samples)
        with torch.no_grad():
            for start in range(0, n, int(self.batch_size)):
                dna = prior.sample_z(min(int(self.batch_size), n - start), generator)
                predictions.append(judge.predict(G(dna.to(G.w_avg.device)).float().cpu()))
                dnas.append(dna)
                if progress is not None:
                    progress(start + len(dna), n)
        prediction = _concat_predictions(predictions)
        self.dna_ = torch.cat(dnas).numpy()
        self.probs_, self.classes_ = _attribute_probs(prediction, judge, int(self.num_bins))
        self.q_ = {a: self._q(p, prior.variants) for a, p in self.probs_.items()}
        self.counts_ = np.stack([np.bincount(self.dna_[:, i], minlength=prior.variants) for i in range(prior.n_genes)])
        self.mutual_info_ = {a: self._mutual_info(q) for a, q in self.q_.items()}
        self.generator_ = describe_generator(G, name)
        return self

    def _q(self, probs: np.ndarray, variants: int) -> np.ndarray:
        """q [n_genes, K, C] from per-sample probabilities [M, C]."""
        n_genes = self.dna_.shape[1]
        q = np.zeros((n_genes, variants, probs.shape[1]))
        for i in range(n_genes):
            np.add.at(q[i], self.dna_[:, i], probs)
            counts = np.bincount(self.dna_[:, i], minlength=variants)
            q[i] /= np.maximum(counts, 1)[:, None]
        return q

    def _mutual_info(self, q: np.ndarray) -> np.ndarray:
        """I(s_i; a) in nats for every gene [n_genes]."""
        p_k = self.counts_ / self.counts_.sum(axis=1, keepdims=True)  # [n_genes, K]
        joint = q * p_k[:, :, None]  # P(k, c)
        p_c = joint.sum(axis=1, keepdims=True)  # [n_genes, 1, C]
        ratio = np.where(joint > 0, joint / np.maximum(p_k[:, :, None] * p_c, 1e-300), 1.0)
        return (joint * np.log(ratio)).sum(axis=(1, 2))

    # ------------------------------------------------------------------ reading
    @property
    def attributes(self) -> list[str]:
        self.check_fitted()
        return list(self.q_)

    def class_index(self, attribute: str, value: str | int) -> int:
        """The class of ``attribute`` named (or numbered) ``value``; a one-line error lists the known ones."""
        self.check_fitted()
        if attribute not in self.q_:
            raise OptionsError(f"unknown attribute {attribute!r}; known: {', '.join(self.q_)}")
        classes = self.classes_[attribute]
        text = str(value)
        if text in classes:
            return classes.index(text)
        aliases = {"on": "1", "yes": "1", "true": "1", "off": "0", "no": "0", "false": "0"}
        text = aliases.get(text.lower(), text)
        if text.isdigit() and int(text) < len(classes):
            return int(text)
        raise OptionsError(f"{attribute}={value}: unknown class; {attribute} has {', '.join(map(str, classes))}")

    def informative_genes(self, attribute: str, top: int | None = None) -> list[int]:
        """Genes by decreasing I(s_i; attribute), the first ``top`` of them (all when None)."""
        self.check_fitted()
        if attribute not in self.mutual_info_:
            raise OptionsError(f"unknown attribute {attribute!r}; known: {', '.join(self.mutual_info_)}")
        order = np.argsort(-self.mutual_info_[attribute], kind="stable").tolist()
        return order if top is None else order[: int(top)]

    def conditional(
        self, request: Mapping[str, str | int], temperature: float = 1.0, top_genes: int | None = None
    ) -> np.ndarray:
        """p(s_i = k | request) [n_genes, K] for ``request`` = {attribute: class}."""
        self.check_fitted()
        if not request:
            raise OptionsError("conditional sampling: request at least one attribute, e.g. glasses=1")
        if not temperature > 0:
            raise OptionsError(f"conditional sampling: temperature must be > 0, got {temperature}")
        n_genes, variants = self.counts_.shape
        log_p = np.zeros((n_genes, variants))
        reweight: set[int] = set()
        for attribute, value in request.items():
            c = self.class_index(attribute, value)
            log_p += np.log(np.maximum(self.q_[attribute][:, :, c], PROB_FLOOR)) / float(temperature)
            reweight.update(self.informative_genes(attribute, top_genes))
        keep = np.zeros(n_genes, dtype=bool)
        keep[sorted(reweight)] = True
        log_p[~keep] = 0.0  # uninformative genes stay uniform
        p = np.exp(log_p - log_p.max(axis=1, keepdims=True))
        return p / p.sum(axis=1, keepdims=True)

    def sample(
        self,
        n: int,
        request: Mapping[str, str | int],
        temperature: float = 1.0,
        top_genes: int | None = None,
        seed: int = 0,
    ) -> torch.Tensor:
        """``n`` DNAs [n, n_genes] drawn from ``conditional(request, ...)``, independently per gene."""
        p = torch.from_numpy(self.conditional(request, temperature, top_genes))
        generator = torch.Generator().manual_seed(int(seed))
        return torch.multinomial(p, int(n), replacement=True, generator=generator).T.contiguous()


def _concat_predictions(predictions: Sequence[Any]) -> Any:
    from types import SimpleNamespace

    first = predictions[0]
    return SimpleNamespace(
        factors={k: np.concatenate([p.factors[k] for p in predictions]) for k in first.factors},
        probs={k: np.concatenate([p.probs[k] for p in predictions]) for k in first.probs},
    )
