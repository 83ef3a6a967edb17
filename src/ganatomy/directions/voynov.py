"""Voynov & Babenko (ICML 2020): K interpretable latent directions found with no labels.

A deformator A (``deformator.py``) proposes K directions; a reconstructor R (``reconstructor.py``)
sees G(l) and G(l + eps * A e_k) and must tell k (cross-entropy) and eps (L1, weight 0.25). Both are
trained together through the frozen generator, so A is pushed towards directions whose effects are
easy to tell apart. Per sample: k uniform over the K directions, eps uniform in [-E, E] with
|eps| >= the minimum shift (smaller draws are pushed out to it, keeping their sign), l a prior
latent mapped to the chosen space (Z, W, or W+ rows). Shifts are in units of the latent's
per-dimension std (``estimator.shift_unit``).

Speed: the unshifted image is rendered without a graph; with a fixed deformator (the coordinate
and random baselines) the shifted one is too; G and R run under bf16 autocast (``bf16``), both in
channels_last (G's weights are stored so once: values unchanged), G with its eval-mode BatchNorm folded
into the convolutions (``fold_batchnorm``: a copy, where it has any). The loop is
``ganatomy.fit.Trainer`` (constant learning rate as in the paper: Adam, no weight decay), so a run
directory gets stats, a checkpoint and an exact resume.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from collections.abc import Sequence
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ganatomy.directions.deformator import Deformator, check_deformator
from ganatomy.directions.estimator import (
    DirectionEstimator,
    add_shift,
    check_layers,
    check_n_directions,
    check_shift_range,
    check_space,
    latent_dim,
    resolve_space,
    shift_unit,
)
from ganatomy.directions.reconstructor import Reconstructor, resolve_arch
from ganatomy.errors import OptionsError
from ganatomy.latent import Directions
from ganatomy.nets.protocol import channels_last_, fold_batchnorm, generator_device
from ganatomy.utils.precision import use_bf16

# Fresh batches that RCA is measured on (the official code uses 100 of 32).
RCA_BATCHES = 20
# Offset between the training stream's seed and the RCA samples' seed: RCA is on unseen latents.
RCA_SEED_OFFSET = 10_007


def draw_shifts(n: int, shift_range: float, min_shift: float, generator: torch.Generator) -> torch.Tensor:
    """eps uniform in [-E, E], draws with |eps| < min_shift pushed out to +-min_shift (sign kept)."""
    eps = (2 * torch.rand(n, generator=generator) - 1) * shift_range
    sign = torch.where(eps < 0, -1.0, 1.0)
    return torch.where(eps.abs() < min_shift, sign * min_shift, eps)


@dataclasses.dataclass
class ShiftedPairs:
    """Draws (image, shifted image, index, shift) batches from a frozen generator."""

    G: Any
    space: str
    rows: tuple[int, ...] | None
    unit: float
    shift_range: float
    min_shift: float
    batch_size: int
    bf16: bool | str  # True, False or "auto": resolved for G's device below

    def __post_init__(self) -> None:
        self.device = generator_device(self.G)
        self.bf16 = use_bf16(self.bf16, self.device)
        # Frozen: a copy with BatchNorm folded into the convolutions, in NHWC, renders the pairs faster.
        self.G = channels_last_(fold_batchnorm(self.G))

    def autocast(self) -> contextlib.AbstractContextManager:
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16)

    def draw(self, deformator: Deformator, generator: torch.Generator, with_graph: bool):
        G, n = self.G, self.batch_size
        z = G.sample_latents(n, generator=generator)
        c = G.sample_c(n, generator=generator)
        index = torch.randint(deformator.n_directions, (n,), generator=generator)
        shift = draw_shifts(n, self.shift_range, self.min_shift, generator)
        index, shift = index.to(self.device), shift.to(self.device)
        with torch.no_grad(), self.autocast():
            base = G.to_space(z, self.space, c=c)
            image = G.synthesize(base, self.space, c=c)
        graph = torch.enable_grad() if with_graph else torch.no_grad()
        with graph, self.autocast():
            delta = deformator(index, shift * self.unit)
            shifted = G.synthesize(add_shift(base, delta, self.rows), self.space, c=c)
        return image, shifted, index, shift


class VoynovObjective:
    """The Trainer's loss: CE on the index + shift_weight x L1 on the signed shift.

    The model is ``{"deformator": A, "reconstructor": R}``."""

    def __init__(self, pairs: ShiftedPairs, label_weight: float, shift_weight: float):
        self.pairs, self.label_weight, self.shift_weight = pairs, label_weight, shift_weight

    def __call__(self, model: nn.ModuleDict, step: int, generator: torch.Generator) -> dict[str, Any]:
        deformator, reconstructor = model["deformator"], model["reconstructor"]
        image, shifted, index, shift = self.pairs.draw(deformator, generator, with_graph=deformator.trainable)
        with self.pairs.autocast():
            logits, predicted = reconstructor(image, shifted)
        ce = F.cross_entropy(logits.float(), index)
        l1 = (predicted.float() - shift).abs().mean()
        accuracy = (logits.argmax(dim=1) == index).float().mean()
        return {
            "loss": self.label_weight * ce + self.shift_weight * l1,
            "ce": ce.detach(),
            "l1": l1.detach(),
            "acc": accuracy,
        }


@torch.no_grad()
def reconstructor_accuracy(
    pairs: ShiftedPairs, deformator: Deformator, reconstructor: Reconstructor, batches: int = RCA_BATCHES, seed: int = 0
) -> tuple[float, float]:
    """RCA (share of fresh pairs whose direction R names right) and R's mean absolute shift error."""
    was_training = reconstructor.training
    reconstructor.eval()
    g = torch.Generator().manual_seed(int(seed))
    hits = total = 0
    error = 0.0
    try:
        for _ in range(batches):
            image, shifted, index, shift = pairs.draw(deformator, g, with_graph=False)
            with pairs.autocast():
                logits, predicted = reconstructor(image, shifted)
            hits += int((logits.argmax(dim=1) == index).sum())
            error += float((predicted.float() - shift).abs().sum())
            total += len(index)
    finally:
        reconstructor.train(was_training)
    return hits / total, error / total


@contextlib.contextmanager
def _seeded(seed: int):
    """Seed torch's global RNG for the block only (network initialisation), restoring it afterwards."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        yield


class VoynovDirections(DirectionEstimator):
    """Unsupervised discovery of interpretable directions (Voynov & Babenko), scikit-learn style.

    Args:
        n_directions: K (None: the latent dimension, as the official code).
        deformator: 'ortho', 'proj', 'linear', or the fixed baselines 'coordinate' and 'random'
            (only R is trained: the paper's RCA baselines).
        space: 'z', 'w', 'w+' or 'auto' (W where the generator has it, else Z).
        layers: W+ rows the directions move (space 'w+' only; None: all).
        init: 'random' (official default) or 'coordinate' (start at the coordinate directions).
        shift_range, min_shift: E and the minimum |eps| of the training shifts, in latent std units.
        steps, batch_size, lr: training length, pairs per step, Adam's learning rate (A and R).
        final_lr: the learning rate's factor at the last step, reached along a cosine (1: constant, as
            the paper).
        deformator_gain: A learns this many times faster than R (``Deformator``'s gain; 1 = the paper's
            equal rates).
        label_weight, shift_weight: weights of the CE and L1 terms.
        reconstructor: 'auto' (LeNet below 64 px, small ResNet from 64 px), 'lenet' or 'resnet'.
        reconstructor_width: w of R (None: its default).
        bf16: bf16 autocast for G and R (CPU and CUDA): True, False, or "auto" (where the device
            computes bf16 natively; ``ganatomy.utils.precision``).
        seed: seed of the initialisation and of the training stream.
        run_dir, checkpoint_every: stats.jsonl and a resumable checkpoint there (see ``fit.Trainer``).
        progress: show a progress bar.
        rca_batches: fresh batches RCA is measured on after training.

    Fitted: ``directions_``, ``deformator_``, ``reconstructor_``, ``rca_`` (accuracy on fresh pairs),
    ``shift_error_``, ``steps_per_second_``, ``generator_``.
    """

    method: ClassVar[str] = "voynov"
    fitted_types: ClassVar[dict[str, type]] = {
        "directions_": Directions,
        "deformator_": Deformator,
        "reconstructor_": Reconstructor,
    }

    def __init__(
        self,
        n_directions: int | None = None,
        deformator: str = "ortho",
        space: str = "auto",
        layers: Sequence[int] | None = None,
        init: str = "random",
        shift_range: float = 6.0,
        min_shift: float = 0.5,
        steps: int = 2000,
        batch_size: int = 32,
        lr: float = 1e-4,
        final_lr: float = 1.0,
        deformator_gain: float = 1.0,
        label_weight: float = 1.0,
        shift_weight: float = 0.25,
        reconstructor: str = "auto",
        reconstructor_width: int | None = None,
        bf16: bool | str = "auto",
        seed: int = 0,
        run_dir: str | os.PathLike | None = None,
        checkpoint_every: int = 0,
        progress: bool = False,
        rca_batches: int = RCA_BATCHES,
    ):
        self.n_directions = n_directions
        self.deformator = deformator
        self.space = space
        self.layers = layers
        self.init = init
        self.shift_range = shift_range
        self.min_shift = min_shift
        self.steps = steps
        self.batch_size = batch_size
        self.lr = lr
        self.final_lr = final_lr
        self.deformator_gain = deformator_gain
        self.label_weight = label_weight
        self.shift_weight = shift_weight
        self.reconstructor = reconstructor
        self.reconstructor_width = reconstructor_width
        self.bf16 = bf16
        self.seed = seed
        self.run_dir = run_dir
        self.checkpoint_every = checkpoint_every
        self.progress = progress
        self.rca_batches = rca_batches

    def _pairs(self, G: Any, space: str, rows: tuple[int, ...] | None, unit: float) -> ShiftedPairs:
        return ShiftedPairs(
            G, space, rows, unit, float(self.shift_range), float(self.min_shift), int(self.batch_size), self.bf16
        )

    def _check(self, G: Any) -> tuple[str, tuple[int, ...] | None, int, int]:
        where = "voynov"
        space = resolve_space(G, self.space)
        check_space(G, space, where)
        rows = check_layers(G, space, self.layers, where)
        dim = latent_dim(G, space)
        k = dim if self.n_directions is None else check_n_directions(self.n_directions, where)
        check_deformator(self.deformator, k, dim)
        if not 0 <= self.final_lr <= 1:
            raise OptionsError(f"{where}: final_lr must lie in [0, 1], got {self.final_lr!r}")
        if not self.deformator_gain > 0:
            raise OptionsError(f"{where}: deformator_gain must be > 0, got {self.deformator_gain!r}")
        check_shift_range(self.shift_range, self.min_shift, where)
        resolve_arch(self.reconstructor, G.img_resolution)
        if self.batch_size < 1 or self.steps < 1:
            raise OptionsError(f"{where}: steps and batch_size must be >= 1, got {self.steps}, {self.batch_size}")
        return space, rows, dim, k

    def fit(self, G: Any, name: str | None = None, resume: bool = False) -> VoynovDirections:
        """Train A and R on ``G`` (frozen); ``name`` records where G came from; ``resume`` continues
        the checkpoint in ``run_dir``."""
        from ganatomy.fit import Trainer

        space, rows, dim, k = self._check(G)
        unit = shift_unit(G, space)
        with _seeded(self.seed):
            deformator = Deformator(k, dim, self.deformator, self.init, self.seed, self.deformator_gain)
            recon = Reconstructor(k, G.img_channels, G.img_resolution, self.reconstructor, self.reconstructor_width)
        pairs = self._pairs(G, space, rows, unit)
        model = nn.ModuleDict({"deformator": deformator, "reconstructor": recon}).to(pairs.device)
        trainer = Trainer(
            model,
            VoynovObjective(pairs, self.label_weight, self.shift_weight),
            steps=int(self.steps),
            lr=float(self.lr),
            weight_decay=0.0,
            final_lr=float(self.final_lr),
            seed=int(self.seed),
            run_dir=self.run_dir,
            checkpoint_every=int(self.checkpoint_every),
            progress=self.progress,
            description=f"voynov {self.deformator} K={k}",
        )
        start = time.perf_counter()
        trainer.fit(resume=resume)
        seconds = time.perf_counter() - start
        model.eval()
        rca, shift_error = reconstructor_accuracy(
            pairs, deformator, recon, int(self.rca_batches), seed=self.seed + RCA_SEED_OFFSET
        )
        vectors = deformator.vectors().detach()
        self.deformator_, self.reconstructor_ = deformator.cpu(), recon.cpu()
        self.rca_, self.shift_error_ = rca, shift_error
        self.steps_per_second_ = trainer.settings.steps / trainer.seconds if trainer.seconds else float("nan")
        # Unit-length rows for the edit; the deformator's own lengths ('linear') are kept in meta.
        lengths = vectors.norm(dim=1, keepdim=True).clamp_min(1e-12)
        self._finish(
            G,
            vectors / lengths,
            space,
            rows,
            name,
            unit=unit,
            meta={
                "deformator": self.deformator,
                "rca": rca,
                "shift_error": shift_error,
                "shift_range": float(self.shift_range),
                "min_shift": float(self.min_shift),
                "steps": int(self.steps),
                "lengths": lengths[:, 0].tolist(),
                "fit_seconds": seconds,
            },
        )
        return self

    def score(self, G: Any, batches: int = RCA_BATCHES, seed: int = 1) -> float:
        """RCA of the fitted A and R on ``batches`` fresh batches from ``G`` (the one they were fitted on)."""
        self.check_fitted()
        self.check_same_generator(G)
        space = self.directions_.space
        pairs = self._pairs(G, space, self.directions_.layers, float(self.directions_.meta["shift_unit"]))
        return reconstructor_accuracy(pairs, self.deformator_, self.reconstructor_, batches, seed)[0]
