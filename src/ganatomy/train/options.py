"""The options tree of ``ganatomy train`` (written to options.json in the run directory).

``None`` means "the architecture's default", resolved once by ``resolve_options`` so that the
options.json of a run states every value that was actually used.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from ganatomy.errors import OptionsError


@dataclasses.dataclass
class NetworkOptions:
    arch: Literal["stylegan2", "dcgan"] = "stylegan2"
    preset: str | None = None  # e.g. cpu32, cpu64, gpu64; None: cpu<res> on CPU, gpu<res> on GPU
    cond: bool = False  # class-conditional G and projection D (needs labels)
    channel_base: int | None = None  # override the preset's width (G and D), e.g. 512 for a tiny test model
    channel_max: int | None = None
    # Constructor kwargs laid over the preset's, e.g. {"mbstd_group": 8} for D or {"z_dim": 64} for G
    # (set with --set); the prior has its own option below.
    g_overrides: dict = dataclasses.field(default_factory=dict)
    d_overrides: dict = dataclasses.field(default_factory=dict)
    # StyleGAN2's latent prior by registered kind, e.g. {"kind": "mapping", "num_layers": 2, "lr_mul": 0.01}
    # (nets/mapping.py: register_prior adds kinds); None: the preset's.
    prior: dict | None = None

    def __post_init__(self) -> None:
        if self.prior is None:
            return
        if not (isinstance(self.prior, dict) and isinstance(self.prior.get("kind"), str)):
            raise OptionsError(f"network.prior {self.prior!r}: needs a 'kind', e.g. {{\"kind\": \"mapping\"}}")
        from ganatomy.nets.mapping import prior_class  # lazy: keeps the options module free of torch

        prior_class(self.prior["kind"])  # an unregistered kind fails here, before a run directory exists


@dataclasses.dataclass
class LossOptions:
    kind: Literal["nonsat", "hinge"] | None = None  # stylegan2/dcgan: nonsat
    r1_gamma: float | None = None  # stylegan2: max(1, 0.0002 * res^2 / batch); dcgan: 0
    r1_interval: int = 16  # lazy R1: every 16 D steps, scaled by 16, in the same optimizer step
    pl_weight: float | None = None  # path-length weight; stylegan2: 2, dcgan: 0
    pl_interval: int = 4
    mixing_prob: float | None = None  # style mixing; stylegan2: 0.9


@dataclasses.dataclass
class OptimOptions:
    g_lr: float | None = None  # stylegan2: 0.0025, dcgan: 0.0002
    d_lr: float | None = None
    betas: tuple[float, float] | None = None  # stylegan2: (0, 0.99), dcgan: (0.5, 0.999)
    ema_kimg: float | None = None  # G EMA half-life; stylegan2: 10 * batch / 32, dcgan: 1
    ema_rampup: float | None = 0.05  # EMA half-life at most 5% of the images seen so far


@dataclasses.dataclass
class TrainOptions:
    data: str = "world:32"  # world:32, world:64, fashion-mnist, or an image folder / zip
    outdir: str = "runs"
    kimg: float = 100.0  # length of training in thousands of real images shown to D
    batch: int = 32  # total over all processes
    seed: int = 0
    network: NetworkOptions = dataclasses.field(default_factory=NetworkOptions)
    objective: str = "gan"  # training objective by registered name (train/objectives.py)
    loss: LossOptions = dataclasses.field(default_factory=LossOptions)
    optim: OptimOptions = dataclasses.field(default_factory=OptimOptions)
    precision: Literal["bf16", "fp32"] = "bf16"  # bf16 autocast pays 1.5-2x on CPUs with avx512_bf16
    channels_last: bool = True
    deterministic: bool = False  # fp32 + deterministic kernels: bitwise-reproducible resume
    tick_kimg: float = 1.0  # one tick: stats, grid, resume checkpoint
    max_minutes: float | None = None  # also stop at the first tick end after this much training time
    snapshot_ticks: int = 10  # keep a network snapshot every N ticks (0: only the last)
    grid_size: int = 64  # images in the fixed-seed grid written every tick
    metrics: list[str] = dataclasses.field(default_factory=list)  # e.g. ["fd2k_oracle"]
    metrics_ticks: int = 0  # evaluate `metrics` every N ticks (0: only at the end)
    tensorboard: bool = True
    progress: bool = True

    def __post_init__(self) -> None:
        if self.kimg <= 0:
            raise ValueError(f"kimg must be positive, got {self.kimg}")
        if self.batch <= 0:
            raise ValueError(f"batch must be positive, got {self.batch}")
        if self.tick_kimg <= 0:
            raise ValueError(f"tick_kimg must be positive, got {self.tick_kimg}")
        from ganatomy.train.objectives import objective_class  # lazy: objectives import these options

        objective_class(self.objective)


_ARCH_DEFAULTS = {
    "stylegan2": dict(kind="nonsat", pl_weight=2.0, mixing_prob=0.9, g_lr=0.0025, d_lr=0.0025, betas=(0.0, 0.99)),
    "dcgan": dict(kind="nonsat", pl_weight=0.0, mixing_prob=0.0, g_lr=0.0002, d_lr=0.0002, betas=(0.5, 0.999)),
}


def stylegan2_r1_gamma(resolution: int, batch: int) -> float:
    """StyleGAN2-ADA's "auto" R1 weight, 0.0002 * res^2 / batch, floored at 1.

    The auto rule was fitted at 256-1024 px. At 32 px it gives 0.0064, and there D overpowers
    the cpu32 generator: logits reach +-5 and G collapses to one face by 48 kimg, while with
    gamma 1 the samples stay diverse (world:32, batch 32; see docs/results.md, bench quality).
    """
    return max(1.0, 0.0002 * resolution**2 / batch)


def resolve_options(opts: TrainOptions, resolution: int, on_gpu: bool) -> TrainOptions:
    """Fill every ``None`` with the architecture's default for this resolution and device."""
    d = _ARCH_DEFAULTS[opts.network.arch]
    net = dataclasses.replace(opts.network, preset=opts.network.preset or f"{'gpu' if on_gpu else 'cpu'}{resolution}")
    if opts.network.arch == "dcgan" and opts.network.preset is None:
        net.preset = f"dcgan{resolution}"
    gamma_default = stylegan2_r1_gamma(resolution, opts.batch) if opts.network.arch == "stylegan2" else 0.0
    loss = dataclasses.replace(
        opts.loss,
        kind=opts.loss.kind or d["kind"],
        r1_gamma=gamma_default if opts.loss.r1_gamma is None else opts.loss.r1_gamma,
        pl_weight=d["pl_weight"] if opts.loss.pl_weight is None else opts.loss.pl_weight,
        mixing_prob=d["mixing_prob"] if opts.loss.mixing_prob is None else opts.loss.mixing_prob,
    )
    ema_default = 10.0 * opts.batch / 32 if opts.network.arch == "stylegan2" else 1.0
    optim = dataclasses.replace(
        opts.optim,
        g_lr=opts.optim.g_lr or d["g_lr"],
        d_lr=opts.optim.d_lr or d["d_lr"],
        betas=opts.optim.betas or d["betas"],
        ema_kimg=ema_default if opts.optim.ema_kimg is None else opts.optim.ema_kimg,
    )
    return dataclasses.replace(opts, network=net, loss=loss, optim=optim)
