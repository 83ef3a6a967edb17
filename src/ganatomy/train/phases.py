"""One discriminator step and one generator step, with their lazy regularisers.

Each step runs its forward passes under the chosen autocast, checks the loss is finite,
back-propagates, synchronises gradients across processes and steps its optimizer. Lazy
regularisation (Karras et al. 2020) adds the regulariser every ``interval`` steps, scaled by
``interval``, to the same backward pass, so every step is one optimizer update.
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Callable

import torch
from accelerate import Accelerator

from ganatomy.errors import TrainingDiverged
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


def _to_memory_format(x: torch.Tensor, ctx: StepContext) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last) if ctx.channels_last else x


def _check_finite(name: str, value: torch.Tensor, nimg: int) -> None:
    if not torch.isfinite(value).all():
        raise TrainingDiverged(
            f"{name} became {value.item()} at {nimg / 1000:.3f} kimg; the last good checkpoint is kept "
            "(try a lower learning rate, --precision fp32, or a larger R1 gamma)"
        )


def _style_kwargs(G, loss_opts: LossOptions, ctx: StepContext, update_w_avg: bool) -> dict:
    """Style mixing and w_avg tracking, for generators that have a W space."""
    if "w" not in G.latent_spaces:
        return {}
    return dict(mixing_prob=loss_opts.mixing_prob, generator=ctx.generator, update_w_avg=update_w_avg)


def _set_requires_grad(module: torch.nn.Module, flag: bool) -> None:
    for p in module.parameters():
        p.requires_grad_(flag)


def discriminator_step(
    G, D, opt_D: torch.optim.Optimizer, real: torch.Tensor, real_c: torch.Tensor | None,
    fake_c: torch.Tensor | None, loss_opts: LossOptions, step: int, nimg: int, ctx: StepContext,
) -> None:
    """D learns to tell ``real`` from G's samples; R1 on reals every ``r1_interval`` steps."""
    n = real.shape[0]
    do_r1 = loss_opts.r1_gamma > 0 and step % loss_opts.r1_interval == 0
    _set_requires_grad(D, True)
    opt_D.zero_grad(set_to_none=True)
    with torch.no_grad(), ctx.autocast():
        z = G.sample_latents(n, generator=ctx.generator)
        fake = G(z, fake_c, **_style_kwargs(G, loss_opts, ctx, update_w_avg=False))
    real = _to_memory_format(real.detach().requires_grad_(do_r1), ctx)
    fake = _to_memory_format(fake.detach().float(), ctx)
    with ctx.autocast():
        # Reals and fakes go through D separately: R1 needs the graph of the real pass only.
        real_logits = D(real, real_c).float()
        fake_logits = D(fake, fake_c).float()
    loss = d_loss(real_logits, fake_logits, loss_opts.kind)
    _check_finite("D loss", loss, nimg)
    ctx.stats.report("loss/D", loss)
    ctx.stats.report("scores/real", real_logits)
    ctx.stats.report("scores/fake", fake_logits)
    if do_r1:
        penalty = r1_penalty(real, real_logits)
        _check_finite("R1 penalty", penalty, nimg)
        ctx.stats.report("loss/r1_penalty", penalty)
        loss = loss + penalty * (loss_opts.r1_gamma / 2) * loss_opts.r1_interval
    loss.backward()
    sync_gradients(D, ctx.accelerator)
    opt_D.step()


def generator_step(
    G, D, opt_G: torch.optim.Optimizer, fake_c: torch.Tensor | None, batch: int,
    loss_opts: LossOptions, pl_mean: torch.Tensor, step: int, nimg: int, ctx: StepContext,
) -> torch.Tensor:
    """G learns to fool D; path-length regularisation every ``pl_interval`` steps. Returns pl_mean."""
    do_pl = loss_opts.pl_weight > 0 and step % loss_opts.pl_interval == 0 and "w+" in G.latent_spaces
    _set_requires_grad(D, False)  # D is only a critic here: no gradients for its weights
    opt_G.zero_grad(set_to_none=True)
    with ctx.autocast():
        z = G.sample_latents(batch, generator=ctx.generator)
        fake = _to_memory_format(G(z, fake_c, **_style_kwargs(G, loss_opts, ctx, update_w_avg=True)), ctx)
        fake_logits = D(fake, fake_c).float()
    loss = g_loss(fake_logits, loss_opts.kind)
    _check_finite("G loss", loss, nimg)
    ctx.stats.report("loss/G", loss)
    if do_pl:
        n_pl = max(batch // 2, 1)  # as in StyleGAN2: half the batch is enough for the penalty
        with ctx.autocast():
            z_pl = G.sample_latents(n_pl, generator=ctx.generator)
            c_pl = fake_c[:n_pl] if fake_c is not None else None
            ws = G.mapping(z_pl, c_pl, mixing_prob=loss_opts.mixing_prob, generator=ctx.generator).detach().requires_grad_(True)
            penalty, pl_mean = path_length_penalty(lambda w: G.synthesis(w), ws, pl_mean, generator=ctx.generator)
        _check_finite("path-length penalty", penalty, nimg)
        ctx.stats.report("loss/pl_penalty", penalty)
        loss = loss + penalty * loss_opts.pl_weight * loss_opts.pl_interval
    loss.backward()
    _set_requires_grad(D, True)
    sync_gradients(G, ctx.accelerator)
    opt_G.step()
    sync_buffers(G, ctx.accelerator)  # w_avg moves with each process's batch: keep one value
    if do_pl and ctx.accelerator.num_processes > 1:
        pl_mean = ctx.accelerator.reduce(pl_mean.detach().clone(), reduction="mean")
    return pl_mean
