"""The standard discriminator and generator steps, with their lazy regularisers.

Each step runs its forward passes under the chosen autocast, checks the loss is finite,
back-propagates, synchronises gradients across processes, checks the gradients are finite (with
their squares, which Adam's second moment holds) and steps its optimizer: a divergence stops the
run at the step it happens, before any non-finite value reaches the weights or the optimizer. Lazy
regularisation (Karras et al. 2020) adds the regulariser every ``interval`` steps, scaled by
``interval``, to the same backward pass, so every step is one optimizer update.

D runs as ``h = D.features(x)`` then ``D.heads["adv"](h, c)``, and a training objective's
``LossTerms`` see every ``h``: a class or rotation head reuses the trunk pass, and extra losses
join the same backward pass (``train/objectives.py``).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable
from typing import Any, Protocol

import torch
from accelerate import Accelerator

from ganatomy.errors import TrainingDiverged
from ganatomy.nets.discriminator import ADV
from ganatomy.runs.stats import StatsReporter
from ganatomy.train.distributed import sync_buffers, sync_gradients
from ganatomy.train.losses import d_loss, g_loss, path_length_penalty, r1_penalty
from ganatomy.train.options import LossOptions


@dataclasses.dataclass
class StepContext:
    """What both phases need: the process group, the precision, the stats, the RNG of this tick."""

    accelerator: Accelerator
    autocast: Callable[[], contextlib.AbstractContextManager]
    stats: StatsReporter
    generator: torch.Generator
    channels_last: bool
    step: int = 0  # D+G steps before this one: the lazy regularisers' schedule
    nimg: int = 0  # images shown to D before this step (named when a loss diverges)
    augment: Any = None  # train.augment.AdaptiveAugment: what D sees of every image; None: the images as they are

    def for_d(self, images: torch.Tensor) -> torch.Tensor:
        """Images as D is shown them: augmented when the run augments (gradients flow through)."""
        return images if self.augment is None else self.augment(images, self.generator)


@dataclasses.dataclass
class Networks:
    """The trained networks and their optimizers."""

    G: torch.nn.Module
    D: torch.nn.Module
    opt_G: torch.optim.Optimizer
    opt_D: torch.optim.Optimizer


@dataclasses.dataclass
class DiscriminatorPass:
    """One D step's inputs and trunk features. ``real_c`` are the labels as given (-1 for an
    unlabelled image); ``real_adv_c`` the ones the adversarial head used."""

    real: torch.Tensor
    real_c: torch.Tensor | None
    real_adv_c: torch.Tensor | None
    h_real: torch.Tensor
    fake: torch.Tensor
    fake_c: torch.Tensor | None
    h_fake: torch.Tensor


@dataclasses.dataclass
class GeneratorPass:
    """One G step's fakes and their trunk features (gradients flow back to G through both)."""

    fake: torch.Tensor
    fake_c: torch.Tensor | None
    h_fake: torch.Tensor


class LossTerms(Protocol):
    """What an objective adds to the standard steps (``NO_EXTRA_TERMS`` adds nothing).

    ``real_adv_labels`` gives the labels the adversarial (projection) head uses for reals, e.g.
    predictions in place of -1; ``d_extra_loss`` / ``g_extra_loss`` return a scalar added to the
    step's loss before its finiteness check and backward pass, or None. They run under the step's
    autocast and may report stats through ``ctx.stats``.
    """

    def real_adv_labels(self, D, h_real: torch.Tensor, real_c: torch.Tensor | None) -> torch.Tensor | None: ...

    def d_extra_loss(self, D, p: DiscriminatorPass, ctx: StepContext) -> torch.Tensor | None: ...

    def g_extra_loss(self, D, p: GeneratorPass, ctx: StepContext) -> torch.Tensor | None: ...


class NoExtraTerms:
    """The plain GAN: labels as given, no extra losses."""

    def real_adv_labels(self, D, h_real, real_c):
        return real_c

    def d_extra_loss(self, D, p, ctx):
        return None

    def g_extra_loss(self, D, p, ctx):
        return None


NO_EXTRA_TERMS = NoExtraTerms()


def to_memory_format(x: torch.Tensor, ctx: StepContext) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last) if ctx.channels_last else x


_DIVERGED_HINT = "(try a lower learning rate, --precision fp32, or a larger R1 gamma)"


def _check_finite(name: str, value: torch.Tensor, nimg: int) -> None:
    if not torch.isfinite(value).all():
        raise TrainingDiverged(f"{name} became {value.item()} at {nimg / 1000:.3f} kimg {_DIVERGED_HINT}")


def _check_finite_gradients(name: str, module: torch.nn.Module, nimg: int) -> None:
    """The sum of squared gradients is finite: no gradient is NaN or infinite, and none so large
    that its square (Adam's second moment) overflows. One fused pass over the gradients."""
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if grads and not torch.isfinite(torch.stack(torch._foreach_norm(grads)).square().sum()):
        raise TrainingDiverged(f"{name} gradients became non-finite at {nimg / 1000:.3f} kimg {_DIVERGED_HINT}")


def _style_kwargs(G, loss_opts: LossOptions, ctx: StepContext, update_w_avg: bool) -> dict:
    """Style mixing and w_avg tracking, for generators that have a W space."""
    if "w" not in G.latent_spaces:
        return {}
    return dict(mixing_prob=loss_opts.mixing_prob, generator=ctx.generator, update_w_avg=update_w_avg)


def _set_requires_grad(module: torch.nn.Module, flag: bool) -> None:
    for p in module.parameters():
        p.requires_grad_(flag)


def d_step(
    nets: Networks,
    real: torch.Tensor,
    real_c: torch.Tensor | None,
    fake_c: torch.Tensor | None,
    loss_opts: LossOptions,
    ctx: StepContext,
    terms: LossTerms = NO_EXTRA_TERMS,
) -> None:
    """D learns to tell ``real`` from G's samples; R1 on reals every ``r1_interval`` steps."""
    G, D = nets.G, nets.D
    n = real.shape[0]
    do_r1 = loss_opts.r1_gamma > 0 and ctx.step % loss_opts.r1_interval == 0
    _set_requires_grad(D, True)
    nets.opt_D.zero_grad(set_to_none=True)
    with torch.no_grad(), ctx.autocast():
        z = G.sample_latents(n, generator=ctx.generator)
        fake = G(z, fake_c, **_style_kwargs(G, loss_opts, ctx, update_w_avg=False))
    real = to_memory_format(real.detach().requires_grad_(do_r1), ctx)
    fake = to_memory_format(fake.detach().float(), ctx)
    with ctx.autocast():
        # Reals and fakes go through D separately: R1 needs the graph of the real pass only.
        h_real = D.features(ctx.for_d(real))
        real_adv_c = terms.real_adv_labels(D, h_real, real_c)
        real_logits = D.heads[ADV](h_real, real_adv_c).float()
        h_fake = D.features(ctx.for_d(fake))
        fake_logits = D.heads[ADV](h_fake, fake_c).float()
        extra = terms.d_extra_loss(D, DiscriminatorPass(real, real_c, real_adv_c, h_real, fake, fake_c, h_fake), ctx)
    loss = d_loss(real_logits, fake_logits, loss_opts.kind)
    ctx.stats.report("loss/D", loss)
    if extra is not None:
        loss = loss + extra
    _check_finite("D loss", loss, ctx.nimg)
    ctx.stats.report("scores/real", real_logits)
    ctx.stats.report("scores/fake", fake_logits)
    if ctx.augment is not None:
        ctx.augment.observe(real_logits)
    if do_r1:
        penalty = r1_penalty(real, real_logits)
        _check_finite("R1 penalty", penalty, ctx.nimg)
        ctx.stats.report("loss/r1_penalty", penalty)
        loss = loss + penalty * (loss_opts.r1_gamma / 2) * loss_opts.r1_interval
    loss.backward()
    sync_gradients(D, ctx.accelerator)
    _check_finite_gradients("D", D, ctx.nimg)
    nets.opt_D.step()


def g_step(
    nets: Networks,
    n: int,
    fake_c: torch.Tensor | None,
    loss_opts: LossOptions,
    pl_mean: torch.Tensor,
    ctx: StepContext,
    terms: LossTerms = NO_EXTRA_TERMS,
) -> torch.Tensor:
    """G learns to fool D; path-length regularisation every ``pl_interval`` steps. Returns pl_mean."""
    G, D = nets.G, nets.D
    do_pl = loss_opts.pl_weight > 0 and ctx.step % loss_opts.pl_interval == 0 and "w+" in G.latent_spaces
    _set_requires_grad(D, False)  # D is only a critic here: no gradients for its weights
    nets.opt_G.zero_grad(set_to_none=True)
    with ctx.autocast():
        z = G.sample_latents(n, generator=ctx.generator)
        fake = to_memory_format(G(z, fake_c, **_style_kwargs(G, loss_opts, ctx, update_w_avg=True)), ctx)
        h_fake = D.features(ctx.for_d(fake))
        fake_logits = D.heads[ADV](h_fake, fake_c).float()
        extra = terms.g_extra_loss(D, GeneratorPass(fake, fake_c, h_fake), ctx)
    loss = g_loss(fake_logits, loss_opts.kind)
    ctx.stats.report("loss/G", loss)
    if extra is not None:
        loss = loss + extra
    _check_finite("G loss", loss, ctx.nimg)
    if do_pl:
        n_pl = max(n // 2, 1)  # as in StyleGAN2: half the batch is enough for the penalty
        with ctx.autocast():
            z_pl = G.sample_latents(n_pl, generator=ctx.generator)
            c_pl = fake_c[:n_pl] if fake_c is not None else None
            ws = G.mapping(z_pl, c_pl, mixing_prob=loss_opts.mixing_prob, generator=ctx.generator)
            ws = ws.detach().requires_grad_(True)
            penalty, pl_mean = path_length_penalty(lambda w: G.synthesis(w), ws, pl_mean, generator=ctx.generator)
        _check_finite("path-length penalty", penalty, ctx.nimg)
        ctx.stats.report("loss/pl_penalty", penalty)
        loss = loss + penalty * loss_opts.pl_weight * loss_opts.pl_interval
    loss.backward()
    _set_requires_grad(D, True)
    sync_gradients(G, ctx.accelerator)
    _check_finite_gradients("G", G, ctx.nimg)
    nets.opt_G.step()
    sync_buffers(G, ctx.accelerator)  # w_avg moves with each process's batch: keep one value
    if do_pl and ctx.accelerator.num_processes > 1:
        pl_mean = ctx.accelerator.reduce(pl_mean.detach().clone(), reduction="mean")
    return pl_mean
