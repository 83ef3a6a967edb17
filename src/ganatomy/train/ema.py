"""Exponential moving average of the generator, with its half-life in thousands of images.

Measuring the half-life in kimg (not steps) keeps the averaging window the same when the batch
size changes: after ``ema_kimg * 1000`` images a weight's contribution has halved.
"""

from __future__ import annotations

import torch


def ema_beta(batch_size: int, ema_kimg: float, cur_nimg: int = 0, rampup: float | None = None) -> float:
    """Per-step decay for a half-life of ``ema_kimg`` kimg at ``batch_size`` images per step.

    With ``rampup`` the half-life grows with training (at most ``cur_nimg * rampup`` images), so
    that the average does not drag in the random weights of the first steps.
    """
    ema_nimg = ema_kimg * 1000.0
    if rampup is not None:
        ema_nimg = min(ema_nimg, cur_nimg * rampup)
    if ema_nimg <= 0:
        return 0.0
    return 0.5 ** (batch_size / ema_nimg)


@torch.no_grad()
def update_ema(ema: torch.nn.Module, model: torch.nn.Module, beta: float) -> None:
    """ema <- beta * ema + (1 - beta) * model for parameters; buffers (e.g. w_avg) are copied."""
    for p_ema, p in zip(ema.parameters(), model.parameters()):
        p_ema.lerp_(p.detach(), 1.0 - beta)
    for b_ema, b in zip(ema.buffers(), model.buffers()):
        b_ema.copy_(b)
