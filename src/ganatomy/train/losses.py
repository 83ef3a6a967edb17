"""GAN losses and regularisers.

- ``nonsat``: non-saturating logistic loss (Goodfellow et al. 2014) as in StyleGAN2:
  G minimises softplus(-D(G(z))); D minimises softplus(D(G(z))) + softplus(-D(x)).
- ``hinge``: D minimises relu(1 - D(x)) + relu(1 + D(G(z))); G minimises -D(G(z)) (Lim & Ye 2017;
  used by BigGAN and the fewer-labels models).
- R1 (Mescheder et al. 2018): (gamma / 2) * E ||grad_x D(x)||^2 on real images.
- Path-length regularisation (Karras et al. 2020): penalise deviation of ||J_w^T y|| from its
  running mean, y ~ N(0, I) / sqrt(H W).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
import torch.nn.functional as F

LossKind = Literal["nonsat", "hinge"]


def d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor, kind: LossKind) -> torch.Tensor:
    """Per-sample discriminator loss, averaged over the batch."""
    if kind == "nonsat":
        return F.softplus(fake_logits).mean() + F.softplus(-real_logits).mean()
    if kind == "hinge":
        return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()
    raise ValueError(f"unknown loss {kind!r}")


def g_loss(fake_logits: torch.Tensor, kind: LossKind) -> torch.Tensor:
    if kind == "nonsat":
        return F.softplus(-fake_logits).mean()
    if kind == "hinge":
        return -fake_logits.mean()
    raise ValueError(f"unknown loss {kind!r}")


def r1_penalty(real_images: torch.Tensor, real_logits: torch.Tensor) -> torch.Tensor:
    """E ||grad_x D(x)||^2 (without the gamma/2 factor); ``real_images`` must require grad."""
    (grad,) = torch.autograd.grad(real_logits.sum(), real_images, create_graph=True)
    return grad.float().square().sum(dim=[1, 2, 3]).mean()


def path_length_penalty(
    synthesize: Callable[[torch.Tensor], torch.Tensor],
    ws: torch.Tensor,
    pl_mean: torch.Tensor,
    decay: float = 0.01,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(penalty, new running mean). ``ws`` [N, num_ws, w_dim] must require grad."""
    images = synthesize(ws)
    h, w = images.shape[2], images.shape[3]
    noise = torch.randn(images.shape, generator=generator, device=images.device) / (h * w) ** 0.5
    (grad,) = torch.autograd.grad((images.float() * noise).sum(), ws, create_graph=True)
    lengths = grad.float().square().sum(dim=2).mean(dim=1).sqrt()
    new_mean = pl_mean.lerp(lengths.mean().detach(), decay)
    return (lengths - new_mean).square().mean(), new_mean
