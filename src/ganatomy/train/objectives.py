"""Training objectives: what the loop optimises, chosen by name (``TrainOptions.objective``).

The loop owns the schedule (ticks, RNG streams, EMA, checkpoints) and asks the objective for the
rest, in this order:

1. ``check_dataset(dataset)`` once, before anything is built: are the labels usable?
2. ``setup(G, D, dataset)`` once, right after the networks are built and before the optimizers
   and the EMA copy: add D heads here (``D.add_head(name, {"kind": "linear", "out": K})``); their
   specs go into D's config, so a resume and a snapshot rebuild them.
3. per step: ``real_labels(labels)`` for the real batch (-1 marks an unlabelled image; only an
   objective with ``accepts_unlabelled`` may get any), ``fake_labels(n, generator, device)`` for
   G's samples (uniform over the classes), then ``d_step`` and ``g_step``.
4. ``state_dict()`` at every tick end and ``load_state_dict`` on resume: the objective's running
   values (the path-length mean), saved in the resume checkpoint.

``StandardGAN`` ("gan") is the plain (conditional) GAN with lazy R1 and path length. A method
that adds heads and losses (S2GAN-CO's class head, S3GAN's rotation head) subclasses it and
overrides the ``LossTerms`` hooks: ``real_adv_labels`` (labels for the projection head, e.g.
predictions in place of -1), ``d_extra_loss`` and ``g_extra_loss`` (terms added to the same
backward pass). It registers itself with ``register_objective``.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, ClassVar

import torch

from ganatomy.data.base import ImageDataset
from ganatomy.errors import CheckpointError, OptionsError
from ganatomy.train.options import MAX_CLASSES, TrainOptions
from ganatomy.train.phases import DiscriminatorPass, GeneratorPass, Networks, StepContext, d_step, g_step
from ganatomy.utils.registry import add_entry, get_entry


class Objective(abc.ABC):
    """A training objective. Subclasses set ``name`` and implement ``d_step`` and ``g_step``."""

    name: ClassVar[str] = ""
    accepts_unlabelled: ClassVar[bool] = False  # may real labels hold -1 ("unlabelled")?

    def __init__(self, opts: TrainOptions) -> None:
        self.opts = opts
        self.num_classes = 0  # G's classes, set by setup; 0: unconditional

    def check_dataset(self, dataset: ImageDataset) -> None:
        """Refuse data this objective cannot train on (one-line ``OptionsError``)."""
        if not self.opts.network.cond:
            return
        if not dataset.has_labels:
            raise OptionsError(f"--cond needs a labelled dataset; {dataset.name} has no labels")
        if dataset.num_classes > MAX_CLASSES:  # G's and D's label embeddings grow with the largest label
            raise OptionsError(
                f"--cond: {dataset.name} has labels up to {dataset.num_classes - 1}, i.e. {dataset.num_classes} "
                f"classes; at most {MAX_CLASSES} are supported (labels must be 0 .. K-1)"
            )
        unlabelled = int((dataset.labels < 0).sum())
        if unlabelled and not self.accepts_unlabelled:
            others = [n for n, cls in OBJECTIVES.items() if cls.accepts_unlabelled]
            hint = f"an objective that accepts them ({', '.join(others)})" if others else "fully labelled data"
            raise OptionsError(
                f"objective {self.name!r} with --cond needs every image labelled; {dataset.name} has {unlabelled} "
                f"unlabelled of {len(dataset)} (use {hint})"
            )

    def setup(self, G, D, dataset: ImageDataset) -> None:
        """Called once after the networks are built, before the optimizers: add D heads here
        (subclasses call ``super().setup``)."""
        self.num_classes = int(G.c_dim)

    def real_labels(self, labels: torch.Tensor) -> torch.Tensor | None:
        """Labels [N] the steps get for a real batch (-1 kept: unlabelled); None if unconditional."""
        return labels if self.num_classes else None

    def fake_labels(self, n: int, generator: torch.Generator, device) -> torch.Tensor | None:
        """Labels [N] for G's samples, uniform over the classes (as compare_gan and StyleGAN2 draw
        them); None if unconditional (and then no random numbers are drawn)."""
        if not self.num_classes:
            return None
        return torch.randint(self.num_classes, (n,), generator=generator).to(device)

    @abc.abstractmethod
    def d_step(
        self,
        nets: Networks,
        real: torch.Tensor,
        real_c: torch.Tensor | None,
        fake_c: torch.Tensor | None,
        ctx: StepContext,
    ) -> None:
        """One D update on a real batch; fakes are drawn from G with ``fake_c``."""

    @abc.abstractmethod
    def g_step(self, nets: Networks, n: int, fake_c: torch.Tensor | None, ctx: StepContext) -> None:
        """One G update on ``n`` fakes with labels ``fake_c``."""

    def state_dict(self) -> dict[str, Any]:
        """Running values a resume needs (floats or tensors); empty by default."""
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if state:
            raise CheckpointError(f"objective {self.name!r} keeps no state, but the checkpoint has {sorted(state)}")


class StandardGAN(Objective):
    """The GAN loss of ``loss.kind`` (non-saturating or hinge), lazy R1 on D, lazy path length on
    G; conditional through G's labels and D's projection head when ``network.cond``."""

    name: ClassVar[str] = "gan"

    def __init__(self, opts: TrainOptions) -> None:
        super().__init__(opts)
        self.pl_mean = torch.zeros([])

    # The LossTerms hooks: a subclass overrides these to add heads' losses.
    def real_adv_labels(self, D, h_real: torch.Tensor, real_c: torch.Tensor | None) -> torch.Tensor | None:
        return real_c

    def d_extra_loss(self, D, p: DiscriminatorPass, ctx: StepContext) -> torch.Tensor | None:
        return None

    def g_extra_loss(self, D, p: GeneratorPass, ctx: StepContext) -> torch.Tensor | None:
        return None

    def d_step(self, nets, real, real_c, fake_c, ctx) -> None:
        d_step(nets, real, real_c, fake_c, self.opts.loss, ctx, terms=self)

    def g_step(self, nets, n, fake_c, ctx) -> None:
        pl_mean = self.pl_mean.to(ctx.accelerator.device)
        self.pl_mean = g_step(nets, n, fake_c, self.opts.loss, pl_mean, ctx, terms=self)

    def state_dict(self) -> dict[str, Any]:
        return {"pl_mean": float(self.pl_mean)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        unknown = sorted(set(state) - {"pl_mean"})
        if unknown:
            raise CheckpointError(f"objective {self.name!r}: unknown state {unknown} in the checkpoint")
        self.pl_mean = torch.tensor(float(state.get("pl_mean", 0.0)))


_OBJECTIVES: dict[str, type[Objective]] = {}
OBJECTIVES: Mapping[str, type[Objective]] = MappingProxyType(_OBJECTIVES)  # read-only view


def register_objective(cls: type[Objective]) -> type[Objective]:
    """Make ``cls`` selectable as ``objective: cls.name``; usable as a class decorator."""
    if not (isinstance(cls, type) and issubclass(cls, Objective)) or getattr(cls, "__abstractmethods__", None):
        raise OptionsError(f"register_objective: {cls!r} is not a concrete Objective subclass")
    return add_entry(_OBJECTIVES, "training objective", cls.name, cls)


register_objective(StandardGAN)


def objective_class(name: str) -> type[Objective]:
    """The objective registered as ``name`` (one-line error listing the known names)."""
    return get_entry(OBJECTIVES, "training objective", name)


def make_objective(opts: TrainOptions) -> Objective:
    return objective_class(opts.objective)(opts)


# The fewer-labels objectives register themselves; imported last, as they subclass StandardGAN.
import ganatomy.train.fewer_labels  # noqa: E402, F401
