"""The fewer-labels objectives (Lucic et al. 2019): D heads beside the projection, and their losses.

All reuse the trunk pass of the standard steps (``train/phases.py``) through its ``LossTerms``
hooks, with the paper's weights (``labels.*`` options):

- ``gan-ss`` (the "(SS)" variants): a 4-way rotation head on D's features. The last ``m`` images
  of each batch (``rotation_share`` of it, counted with their copies) go through D once more,
  together with their copies turned by 90, 180 and 270 degrees; D adds ``rotation_d_weight``
  (1) x the rotation cross-entropy on real images, G adds ``rotation_g_weight`` (0.2) x the one
  on its rotated fakes (D never learns rotations of fakes). The GAN loss reads the unrotated
  images only.
- ``s2gan-co``: a class head on D's features. D adds ``class_weight`` (1) x the cross-entropy on
  the labelled reals (mean over them); unlabelled reals (label -1) carry no class. The projection
  head uses the true label where there is one and the class head's hard prediction, without
  gradient, where there is none; fakes use their sampled labels.
- ``s3gan``: both heads.
- ``random-labels``: the projection reads a fresh uniform label for every real image each time it
  is drawn (from the tick's seeded stream, so a resume is exact).
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F

from ganatomy.errors import OptionsError
from ganatomy.labels.rotation import NUM_ROTATIONS, rotated_count, rotation_copies
from ganatomy.train.objectives import StandardGAN, register_objective
from ganatomy.train.phases import DiscriminatorPass, GeneratorPass, StepContext, to_memory_format

ROTATION_HEAD = "rotation"
CLASS_HEAD = "class"


def projection_labels(labels: torch.Tensor, class_head: torch.nn.Module, h: torch.Tensor) -> torch.Tensor:
    """``labels`` [N] where >= 0, the class head's argmax on ``h`` elsewhere; no gradient reaches the head."""
    with torch.no_grad():
        predicted = class_head(h.detach()).argmax(dim=1)
    return torch.where(labels >= 0, labels, predicted.to(labels.dtype))


def rotation_loss(D, images: torch.Tensor, share: float, ctx: StepContext) -> tuple[torch.Tensor, torch.Tensor]:
    """(cross-entropy, accuracy) of D's rotation head on the last ``m`` of ``images`` (target 0)
    and their three rotated copies (targets 1, 2, 3), all in one trunk pass: with BatchNorm or
    minibatch statistics in the trunk, a separate pass for the originals would tell them apart by
    their batch alone."""
    m = rotated_count(images.shape[0], share)
    turned, targets = rotation_copies(images[-m:])
    h = D.features(to_memory_format(torch.cat([images[-m:], turned]), ctx))
    logits = D.heads[ROTATION_HEAD](h)
    targets = torch.cat([torch.zeros(m, dtype=torch.long, device=targets.device), targets])
    accuracy = (logits.detach().argmax(dim=1) == targets).float().mean()
    return F.cross_entropy(logits, targets), accuracy


class HeadsGAN(StandardGAN):
    """StandardGAN plus the rotation head (``rotation``) and/or the class head (``co_training``)."""

    rotation: ClassVar[bool] = False
    co_training: ClassVar[bool] = False

    def check_dataset(self, dataset) -> None:
        if self.co_training and not self.opts.network.cond:
            raise OptionsError(f"objective {self.name!r} trains a class head for the projection: it needs --cond")
        super().check_dataset(dataset)

    def setup(self, G, D, dataset) -> None:
        super().setup(G, D, dataset)
        if self.rotation:
            D.add_head(ROTATION_HEAD, {"kind": "linear", "out": NUM_ROTATIONS})
        if self.co_training:
            D.add_head(CLASS_HEAD, {"kind": "linear", "out": self.num_classes})

    def real_adv_labels(self, D, h_real, real_c):
        if not self.co_training or real_c is None:
            return real_c
        return projection_labels(real_c, D.heads[CLASS_HEAD], h_real)

    def d_extra_loss(self, D, p: DiscriminatorPass, ctx: StepContext) -> torch.Tensor | None:
        w = self.opts.labels
        total = None
        if self.rotation:
            loss, acc = rotation_loss(D, p.real.detach(), w.rotation_share, ctx)
            ctx.stats.report("loss/rotation_real", loss)
            ctx.stats.report("heads/rotation_acc_real", acc)
            total = loss * w.rotation_d_weight
        if self.co_training:
            labelled = p.real_c >= 0
            ctx.stats.report("heads/labelled_share", labelled.float().mean())
            if bool(labelled.any()):
                logits = D.heads[CLASS_HEAD](p.h_real[labelled])
                loss = F.cross_entropy(logits, p.real_c[labelled])
                ctx.stats.report("loss/class", loss)
                ctx.stats.report("heads/class_acc_labelled", (logits.detach().argmax(1) == p.real_c[labelled]).float())
                total = loss * w.class_weight if total is None else total + loss * w.class_weight
        return total

    def g_extra_loss(self, D, p: GeneratorPass, ctx: StepContext) -> torch.Tensor | None:
        if not self.rotation:
            return None
        loss, acc = rotation_loss(D, p.fake, self.opts.labels.rotation_share, ctx)
        ctx.stats.report("loss/rotation_fake", loss)
        ctx.stats.report("heads/rotation_acc_fake", acc)
        return loss * self.opts.labels.rotation_g_weight


@register_objective
class SelfSupervisedGAN(HeadsGAN):
    name: ClassVar[str] = "gan-ss"
    rotation = True


@register_objective
class CoTrainingGAN(HeadsGAN):
    name: ClassVar[str] = "s2gan-co"
    accepts_unlabelled = True
    co_training = True


@register_objective
class S3GAN(HeadsGAN):
    name: ClassVar[str] = "s3gan"
    accepts_unlabelled = True
    rotation = True
    co_training = True


@register_objective
class RandomLabelGAN(StandardGAN):
    """The projection reads a uniform random label for each real image, drawn anew at every step."""

    name: ClassVar[str] = "random-labels"

    def check_dataset(self, dataset) -> None:
        if not self.opts.network.cond:
            raise OptionsError(f"objective {self.name!r} gives the projection random labels: it needs --cond")
        super().check_dataset(dataset)

    def d_step(self, nets, real, real_c, fake_c, ctx) -> None:
        drawn = torch.randint(self.num_classes, (real.shape[0],), generator=ctx.generator).to(real.device)
        super().d_step(nets, real, drawn, fake_c, ctx)
