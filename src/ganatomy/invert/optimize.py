"""Inversion by optimisation: latents moved by Adam until the frozen generator redraws the targets.

    minimise over l:  reconstruction(G(l), x)  +  prior_weight * mean ((l - mean) / std)²

The prior term keeps a latent where the generator's prior puts its mass (for Z: the Gaussian's log
density, up to constants; for W and W+: the same in units of the latents' spread), so that an image
the generator cannot draw exactly is not explained by a latent far outside its training
distribution, where directions stop meaning anything. Used alone (``OptimizationInverter``, for
generators without W such as a DCGAN) and as the per-image refinement of the encoder's guess.
"""

from __future__ import annotations

from typing import Any

import torch

from ganatomy.errors import OptionsError
from ganatomy.invert.losses import ReconstructionLoss
from ganatomy.nets.protocol import generator_device


def check_steps(steps: Any, lr: Any, prior_weight: Any, where: str, minimum: int = 0) -> None:
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < minimum:
        raise OptionsError(f"{where}: steps must be an integer >= {minimum}, got {steps!r}")
    if not lr > 0:
        raise OptionsError(f"{where}: lr must be > 0, got {lr!r}")
    if not prior_weight >= 0:
        raise OptionsError(f"{where}: prior_weight must be >= 0, got {prior_weight!r}")


def optimize_latents(
    G: Any,
    start: torch.Tensor,
    space: str,
    targets: torch.Tensor,
    loss: ReconstructionLoss,
    steps: int,
    lr: float,
    prior_mean: torch.Tensor,
    prior_std: torch.Tensor,
    prior_weight: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(latents, their final per-image loss [N]) after ``steps`` Adam steps from ``start`` (no grad kept).

    Every image has its own latent and its own loss, so the result of one image does not depend on
    the others in the batch (Adam's moments are per coordinate). The optimisation runs on G's device
    (``loss`` must be there too); both results come back on the CPU.
    """
    device = generator_device(G)
    mean, std = prior_mean.float().to(device), prior_std.float().clamp_min(1e-8).to(device)
    targets = targets.to(device)
    # Adam works on the standardised latent u = (l - mean) / std: lr is then in units of the prior's
    # spread in every dimension and every space.
    u = ((start.detach().float().to(device) - mean) / std).requires_grad_(True)
    phi = loss.target_features(targets)
    optimizer = torch.optim.Adam([u], lr=lr)

    def objective() -> torch.Tensor:
        recon = loss(G.synthesize(mean + std * u, space), targets, phi)
        return recon + prior_weight * u.square().flatten(1).mean(1)

    for _ in range(steps):
        optimizer.zero_grad(set_to_none=True)
        objective().sum().backward()  # a sum: each image's gradient is its own loss's
        optimizer.step()
    with torch.no_grad():
        final = objective()
    return (mean + std * u).detach().cpu(), final.detach().cpu()
