"""Networks and optimizers for a run, from its options and its dataset."""

from __future__ import annotations

import torch

from ganatomy.data.base import ImageDataset
from ganatomy.errors import OptionsError
from ganatomy.nets.presets import get_preset
from ganatomy.train.objectives import Objective
from ganatomy.train.options import TrainOptions


def build_networks(opts: TrainOptions, dataset: ImageDataset, objective: Objective | None = None):
    """(G, D) of a run: ``build_run_networks`` without its G_ema."""
    return build_run_networks(opts, dataset, objective)[:2]


def build_run_networks(opts: TrainOptions, dataset: ImageDataset, objective: Objective | None = None):
    """(G, D, G_ema or None) of the preset in ``opts``, sized for the dataset's resolution, channels and
    classes, with the prior of ``network.prior``, or the networks of ``network.init``; ``objective.setup``
    then adds its D heads. G_ema is None for fresh networks (the caller copies G)."""
    G_ema = None
    if opts.network.init is not None:
        from ganatomy.train.init import initial_networks

        G, D, G_ema = initial_networks(opts.network.init, dataset, opts.network.cond, opts.network.arch)
    else:
        G, D = _fresh_networks(opts, dataset)
    if objective is not None:
        objective.setup(G, D, dataset)
    return G, D, G_ema


def _fresh_networks(opts: TrainOptions, dataset: ImageDataset):
    preset = get_preset(opts.network.preset, arch=opts.network.arch)
    if preset.resolution != dataset.resolution:
        raise OptionsError(
            f"preset {preset.name} is for {preset.resolution}x{preset.resolution} images but "
            f"{dataset.name} is {dataset.resolution}x{dataset.resolution}; pick a matching --preset"
        )
    c_dim = dataset.num_classes if opts.network.cond else 0
    width = {
        k: v
        for k, v in (("channel_base", opts.network.channel_base), ("channel_max", opts.network.channel_max))
        if v is not None
    }
    if width and opts.network.arch != "stylegan2":
        raise OptionsError("channel_base/channel_max apply to stylegan2 presets only")
    # The registry rejects an override that names no constructor argument.
    g_kwargs = {**width, **_prior_override(opts), **opts.network.g_overrides}
    G = _build(
        "generator",
        "g_overrides",
        lambda: preset.build_generator(c_dim=c_dim, img_channels=dataset.channels, **g_kwargs),
    )
    D = _build(
        "discriminator",
        "d_overrides",
        lambda: preset.build_discriminator(
            c_dim=c_dim, img_channels=dataset.channels, **{**width, **opts.network.d_overrides}
        ),
    )
    return G, D


def _build(what: str, overrides: str, build):
    """A constructor's complaint about a value (a width, an override) as a one-line OptionsError."""
    try:
        return build()
    except (TypeError, ValueError, RuntimeError, AssertionError, OverflowError, ZeroDivisionError) as e:
        problem = " ".join(str(e).split())[:200] or type(e).__name__
        raise OptionsError(
            f"cannot build the {what} from these options (preset, channel_base/channel_max, "
            f"network.{overrides}): {problem}"
        ) from None


def _prior_override(opts: TrainOptions) -> dict:
    prior = opts.network.prior
    if prior is None:
        return {}
    if opts.network.arch != "stylegan2":
        raise OptionsError(f"network.prior applies to stylegan2 generators; {opts.network.arch} has no prior module")
    if "prior" in opts.network.g_overrides:
        raise OptionsError("the prior is set twice: give network.prior or network.g_overrides.prior, not both")
    return {"prior": prior}


def build_optimizers(opts: TrainOptions, G: torch.nn.Module, D: torch.nn.Module):
    """Adam for G and D with the run's learning rates and betas (eps 1e-8 as in StyleGAN2)."""
    betas = tuple(opts.optim.betas)
    opt_G = torch.optim.Adam(G.parameters(), lr=opts.optim.g_lr, betas=betas, eps=1e-8)
    opt_D = torch.optim.Adam(D.parameters(), lr=opts.optim.d_lr, betas=betas, eps=1e-8)
    return opt_G, opt_D
