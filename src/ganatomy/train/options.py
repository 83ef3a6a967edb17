"""The options tree of ``ganatomy train`` (written to options.json in the run directory).

``None`` means "the architecture's default", resolved once by ``resolve_options`` so that the
options.json of a run states every value that was actually used.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from ganatomy.errors import OptionsError
from ganatomy.runs.options import check_values, option

# Bounds beyond which a value is a typo, not a setting (huge values allocate or loop for ever).
MAX_BATCH = 65536
MAX_KIMG = 1e9
MAX_COUNT = 10**9  # ticks, intervals
MAX_GRID = 1024
MAX_CLASSES = 65536  # a label of 10^9 would make embeddings of hundreds of GB


@dataclasses.dataclass
class NetworkOptions:
    arch: Literal["stylegan2", "dcgan"] = "stylegan2"
    preset: str | None = None  # e.g. cpu32, cpu64, gpu64; None: cpu<res> on CPU, gpu<res> on GPU
    cond: bool = False  # class-conditional G and projection D (needs labels)
    # override the preset's width (G and D), e.g. 512 for a tiny test model
    channel_base: int | None = option(None, ge=1, le=2**20)
    channel_max: int | None = option(None, ge=1, le=8192)
    # Constructor kwargs laid over the preset's, e.g. {"mbstd_group": 8} for D or {"z_dim": 64} for G
    # (set with --set); the prior has its own option below.
    g_overrides: dict = dataclasses.field(default_factory=dict)
    d_overrides: dict = dataclasses.field(default_factory=dict)
    # StyleGAN2's latent prior by registered kind, e.g. {"kind": "mapping", "num_layers": 2, "lr_mul": 0.01}
    # (nets/mapping.py: register_prior adds kinds); None: the preset's.
    prior: dict | None = None
    # Start from these networks (G, D, G_ema) instead of fresh ones: a user's NVIDIA pickle or rosinality
    # checkpoint, or a ganatomy network snapshot (train/init.py). The preset's size is then the file's.
    init: str | None = None

    def __post_init__(self) -> None:
        check_values(self)
        if self.init is not None and (
            self.channel_base or self.channel_max or self.g_overrides or self.d_overrides or self.prior
        ):
            raise OptionsError("--init takes the networks from the file: drop the width, override and prior options")
        if self.preset is not None:
            from ganatomy.nets.presets import get_preset  # lazy: keeps the options module free of torch

            get_preset(self.preset, arch=self.arch)  # unknown or of the other arch: fails here
        if self.prior is None:
            return
        if not (isinstance(self.prior, dict) and isinstance(self.prior.get("kind"), str)):
            raise OptionsError(f'network.prior {self.prior!r}: needs a \'kind\', e.g. {{"kind": "mapping"}}')
        from ganatomy.nets.mapping import prior_class

        prior_class(self.prior["kind"])  # an unregistered kind fails here, before a run directory exists


@dataclasses.dataclass
class LossOptions:
    kind: Literal["nonsat", "hinge"] | None = None  # stylegan2/dcgan: nonsat
    r1_gamma: float | None = option(None, ge=0, le=1e6)  # stylegan2: max(1, 0.0002 * res^2 / batch); dcgan: 0
    r1_interval: int = option(16, ge=1, le=MAX_COUNT)  # lazy R1: every 16 D steps, scaled by 16, in the same step
    pl_weight: float | None = option(None, ge=0, le=1e6)  # path-length weight; stylegan2: 2, dcgan: 0
    pl_interval: int = option(4, ge=1, le=MAX_COUNT)
    mixing_prob: float | None = option(None, ge=0, le=1)  # style mixing; stylegan2: 0.9

    def __post_init__(self) -> None:
        check_values(self)


@dataclasses.dataclass
class OptimOptions:
    g_lr: float | None = option(None, ge=0, le=1e3)  # stylegan2: 0.0025, dcgan: 0.0002 (0: frozen, kept)
    d_lr: float | None = option(None, ge=0, le=1e3)
    betas: tuple[float, float] | None = option(None, ge=0, lt=1)  # stylegan2: (0, 0.99), dcgan: (0.5, 0.999)
    ema_kimg: float | None = option(None, ge=0, le=MAX_KIMG)  # G EMA half-life; stylegan2: 10 * batch / 32, dcgan: 1
    ema_rampup: float | None = option(0.05, ge=0, le=1e3)  # EMA half-life at most 5% of the images seen so far

    def __post_init__(self) -> None:
        check_values(self)


@dataclasses.dataclass
class LabelOptions:
    """Training with fewer labels (Lucic et al. 2019): the variant, its labelled share, its heads'
    loss weights (the paper's) and the rotation net that Clustering and S2GAN infer labels with."""

    # a variant of ganatomy.labels.variants (s3gan, s2gan, clustering, ...); None: the data's labels as given
    method: str | None = None
    fraction: float | None = option(None, gt=0, le=1)  # labelled share of the data (s2gan, s2gan-co, s3gan)
    subset_seed: int = option(0, ge=0, lt=2**63)  # which images keep their label (class-balanced)
    classes: int | None = option(None, ge=1, le=MAX_CLASSES)  # clusters / random labels; None: the data's classes
    rotation_d_weight: float = option(1.0, ge=0, le=1e6)  # D: rotation loss on rotated reals
    rotation_g_weight: float = option(0.2, ge=0, le=1e6)  # G: rotation loss on rotated fakes
    class_weight: float = option(1.0, ge=0, le=1e6)  # D: class loss on the labelled reals
    rotation_share: float = option(0.5, gt=0, le=1)  # share of a batch in the rotation loss (with its copies)
    pretrain_kimg: float = option(10.0, gt=0, le=MAX_KIMG)  # rotation net: thousands of real images
    pretrain_batch: int = option(64, ge=1, le=MAX_BATCH)
    pretrain_lr: float = option(1e-3, gt=0, le=1e3)
    pretrain_width: int = option(16, ge=1, le=4096)  # rotation net: channels of its first layer

    def __post_init__(self) -> None:
        check_values(self)
        if self.method is not None:
            from ganatomy.labels.variants import check_fraction, get_variant  # lazy: keeps torch out

            check_fraction(get_variant(self.method), self.fraction)
        elif self.fraction is not None:
            raise OptionsError(
                f"--labels {self.fraction:g} needs a --label-method that uses a labelled share (s2gan, s2gan-co, s3gan)"
            )


@dataclasses.dataclass
class AugmentOptions:
    """What D sees of the data (train/augment.py): x-flips of the reals and ADA's pipeline."""

    mirror: bool = False  # x-flip each real image with probability 1/2
    mode: Literal["noaug", "ada", "fixed"] = "noaug"  # ada: p adjusted from D's real logits; fixed: p as given
    p: float = option(0.0, ge=0, le=1)  # the strength to start from (ada) or to keep (fixed)
    target: float = option(0.6, ge=0, le=1)  # ada: the r_t = E[sign(D(real))] it steers to
    interval: int = option(4, ge=1, le=MAX_COUNT)  # ada: D steps between adjustments
    speed_kimg: float = option(500.0, gt=0, le=MAX_KIMG)  # ada: kimg for p to cross [0, 1]

    def __post_init__(self) -> None:
        check_values(self)


# Below this many training images a run without augmentation is warned about (ADA's paper: D
# overfits a few thousand images within the first hundreds of kimg).
SMALL_DATASET = 5000


@dataclasses.dataclass
class TrainOptions:
    data: str = "world:32"  # world:32, world:64, fashion-mnist, or an image folder / zip
    outdir: str = "runs"
    kimg: float = option(100.0, gt=0, le=MAX_KIMG)  # length of training in thousands of real images shown to D
    batch: int = option(32, ge=1, le=MAX_BATCH)  # total over all processes
    seed: int = option(0, ge=0, lt=2**63)
    network: NetworkOptions = dataclasses.field(default_factory=NetworkOptions)
    objective: str = "gan"  # training objective by registered name (train/objectives.py)
    labels: LabelOptions = dataclasses.field(default_factory=LabelOptions)  # fewer labels: the variant
    augment: AugmentOptions = dataclasses.field(default_factory=AugmentOptions)  # --mirror, --aug
    loss: LossOptions = dataclasses.field(default_factory=LossOptions)
    optim: OptimOptions = dataclasses.field(default_factory=OptimOptions)
    # bf16 autocast pays 1.5-2x where bf16 is native and costs 4x where it is emulated; auto: bf16 where
    # native (utils/precision.py), resolved once into options.json so that a resume keeps it
    precision: Literal["auto", "bf16", "fp32"] = "auto"
    channels_last: bool = True
    deterministic: bool = False  # fp32 + deterministic kernels: bitwise-reproducible resume
    tick_kimg: float = option(1.0, gt=0, le=MAX_KIMG)  # one tick: stats, grid, resume checkpoint
    max_minutes: float | None = option(None, gt=0, le=1e9)  # also stop at the first tick end after this long
    # also stop at the first tick end after this many minutes of this process's CPU time (all its threads):
    # an equal budget for runs that share a machine with other work (the fewer-labels table's cells)
    max_cpu_minutes: float | None = option(None, gt=0, le=1e9)
    snapshot_ticks: int = option(10, ge=0, le=MAX_COUNT)  # keep a network snapshot every N ticks (0: only the last)
    grid_size: int = option(64, ge=1, le=MAX_GRID)  # images in the fixed-seed grid written every tick
    metrics: list[str] = dataclasses.field(default_factory=list)  # e.g. ["fd2k_oracle"]
    metrics_ticks: int = option(0, ge=0, le=MAX_COUNT)  # evaluate `metrics` every N ticks (0: only at the end)
    tensorboard: bool = True
    progress: bool = True

    def __post_init__(self) -> None:
        check_values(self)
        from ganatomy.train.objectives import objective_class  # lazy: objectives import these options

        objective_class(self.objective)
        if self.labels.method is not None:
            _check_against_variant(self)


def _check_against_variant(opts: TrainOptions) -> None:
    """A label method sets the objective and whether the networks are conditional: a different
    objective, or --cond with the unconditional variant, is a contradiction."""
    from ganatomy.labels.variants import get_variant

    variant = get_variant(opts.labels.method)
    if opts.objective not in ("gan", variant.objective):
        raise OptionsError(
            f"label method {variant.name} trains with objective {variant.objective!r}, not {opts.objective!r}"
        )
    if opts.network.cond and not variant.conditional:
        raise OptionsError(f"label method {variant.name} trains unconditional networks; drop --cond")


def apply_label_method(opts: TrainOptions) -> TrainOptions:
    """The objective and ``network.cond`` that ``labels.method`` stands for (unchanged without one)."""
    if opts.labels.method is None:
        return opts
    from ganatomy.labels.variants import get_variant

    variant = get_variant(opts.labels.method)
    net = dataclasses.replace(opts.network, cond=variant.conditional)
    return dataclasses.replace(opts, objective=variant.objective, network=net)


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


def default_preset(arch: str, resolution: int, on_gpu: bool) -> str:
    """``cpu<res>`` / ``gpu<res>`` for stylegan2, ``dcgan<res>``; a one-line error when there is none."""
    from ganatomy.nets.presets import PRESETS

    name = f"dcgan{resolution}" if arch == "dcgan" else f"{'gpu' if on_gpu else 'cpu'}{resolution}"
    if name not in PRESETS:
        fitting = [f"{p.name} ({p.resolution}x{p.resolution})" for p in PRESETS.values() if p.arch == arch]
        raise OptionsError(
            f"no {arch} preset for {resolution}x{resolution} images; {arch} presets: "
            f"{', '.join(fitting)} (resize the images, or give a matching --preset)"
        )
    return name


def resolve_options(opts: TrainOptions, resolution: int, on_gpu: bool) -> TrainOptions:
    """Fill every ``None`` with the architecture's default for this resolution and device."""
    arch = opts.network.arch
    d = _ARCH_DEFAULTS[arch]

    def given_or(value, default):  # `is None`, not `or`: a learning rate of 0.0 stays 0.0
        return default if value is None else value

    preset = opts.network.preset if opts.network.preset is not None else default_preset(arch, resolution, on_gpu)
    net = dataclasses.replace(opts.network, preset=preset)
    gamma_default = stylegan2_r1_gamma(resolution, opts.batch) if arch == "stylegan2" else 0.0
    loss = dataclasses.replace(
        opts.loss,
        kind=given_or(opts.loss.kind, d["kind"]),
        r1_gamma=given_or(opts.loss.r1_gamma, gamma_default),
        pl_weight=given_or(opts.loss.pl_weight, d["pl_weight"]),
        mixing_prob=given_or(opts.loss.mixing_prob, d["mixing_prob"]),
    )
    ema_default = 10.0 * opts.batch / 32 if arch == "stylegan2" else 1.0
    optim = dataclasses.replace(
        opts.optim,
        g_lr=given_or(opts.optim.g_lr, d["g_lr"]),
        d_lr=given_or(opts.optim.d_lr, d["d_lr"]),
        betas=given_or(opts.optim.betas, d["betas"]),
        ema_kimg=given_or(opts.optim.ema_kimg, ema_default),
    )
    from ganatomy.utils.precision import resolve_precision  # lazy: keeps the options module free of torch

    precision = resolve_precision(opts.precision, "cuda" if on_gpu else "cpu")
    return apply_label_method(dataclasses.replace(opts, network=net, loss=loss, optim=optim, precision=precision))
