"""``ganatomy bench train``: training images per second on this machine, per CPU preset.

One iteration is what the training loop does: a real batch from the world, one D step (with lazy
R1 on its interval) and one G step (with lazy path length on its interval), through the training
steps ``ganatomy.train.phases.d_step`` / ``g_step``.

The baseline is StyleGAN2 in NVIDIA's original training form at cpu32's exact widths (the same G
and D parameter counts): the faithful ``stylegan2-ref`` networks (transposed conv + FIR
upsampling, the non-fused modulated convolution NVIDIA trains with, the residual D), in fp32 and
NCHW as the original runs on a CPU, through the same iteration. ``stylegan2_speedup_vs_original_form``
is our cpu32 (channels_last, at the precision ``ganatomy train`` picks here) over it.

Our configurations run at the precision training takes by default on this machine: bf16 autocast
where the CPU computes bf16 natively, float32 where it would emulate it (``ganatomy.utils.precision``).
The same run measures this CPU's 3x3-convolution peak at that precision (a large channels_last
convolution, forward and backward) and the rate our cpu32 training computes at, from the FLOPs of
its iterations (``torch.utils.flop_counter``: convolutions and matrix products, averaged over the
lazy regularisers' schedule); ``bf16_conv_peak_fraction`` is the ratio (the issue's name: against
the bf16 peak where bf16 is native, against the float32 peak elsewhere; ``conv_peak_precision``
says which).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable

import numpy as np
import torch
from accelerate import Accelerator
from torch.utils.flop_counter import FlopCounterMode

from ganatomy.bench.result import BenchResult, Target
from ganatomy.data.world import WorldDataset
from ganatomy.nets.presets import Preset, get_preset
from ganatomy.nets.reference import StyleGAN2RefDiscriminator, StyleGAN2RefGenerator
from ganatomy.train.loop import autocast_factory
from ganatomy.train.options import TrainOptions, resolve_options
from ganatomy.train.phases import Networks, StepContext, d_step, g_step
from ganatomy.train.setup import build_optimizers
from ganatomy.utils.precision import resolve_precision

NetworkBuilder = Callable[[Preset, int], tuple[torch.nn.Module, torch.nn.Module]]


class _Discard:
    def report(self, name, value) -> None:
        pass


class _TotalsOnly:
    """Stands in for FlopCounterMode's per-module tracker, whose hooks fail on modules called under
    ``torch.no_grad`` (D's step draws its fakes so); the total FLOPs are all this bench reads."""

    parents = {"Global"}

    def __enter__(self) -> _TotalsOnly:
        return self

    def __exit__(self, *exc) -> None:
        return None


def count_flops(fn: Callable[[], None]) -> float:
    """FLOPs (convolutions and matrix products) that ``fn()`` runs, forward and backward."""
    counter = FlopCounterMode(display=False)
    counter.mod_tracker = _TotalsOnly()
    with counter:
        fn()
    return float(counter.get_total_flops())


def preset_networks(preset: Preset, img_channels: int) -> tuple[torch.nn.Module, torch.nn.Module]:
    """The preset's own G and D."""
    return preset.build_generator(img_channels=img_channels), preset.build_discriminator(img_channels=img_channels)


def original_form_networks(preset: Preset, img_channels: int) -> tuple[torch.nn.Module, torch.nn.Module]:
    """NVIDIA's StyleGAN2 (``stylegan2-ref``) at a StyleGAN2 preset's widths, mapping depth and
    minibatch-stddev group, in its training form (non-fused modulated convolution)."""
    g, d, prior = preset.g_kwargs, preset.d_kwargs, preset.g_kwargs["prior"]
    G = StyleGAN2RefGenerator(
        z_dim=g["z_dim"],
        w_dim=g["w_dim"],
        img_resolution=preset.resolution,
        img_channels=img_channels,
        mapping_layers=prior["num_layers"],
        mapping_lr_multiplier=prior["lr_mul"],
        channel_base=g["channel_base"],
        channel_max=g["channel_max"],
        fused_modconv=False,
    )
    D = StyleGAN2RefDiscriminator(
        img_resolution=preset.resolution,
        img_channels=img_channels,
        channel_base=d["channel_base"],
        channel_max=d["channel_max"],
        mbstd_group_size=d["mbstd_group"],
    )
    return G, D


def parameter_count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@dataclasses.dataclass(frozen=True)
class Config:
    """One timed training configuration."""

    label: str
    preset: str
    precision: str  # 'bf16' (autocast) | 'fp32'
    channels_last: bool
    batch: int
    networks: NetworkBuilder = preset_networks


class _Trainer:
    """One configuration's networks, optimizers and data, stepped like the training loop does."""

    def __init__(self, config: Config, accelerator: Accelerator):
        preset = get_preset(config.preset)
        self.config = config
        self.dataset = WorldDataset(res=preset.resolution, size=4096)
        options = TrainOptions(batch=config.batch, precision=config.precision, channels_last=config.channels_last)
        options = dataclasses.replace(
            options, network=dataclasses.replace(options.network, arch=preset.arch, preset=preset.name)
        )
        options = resolve_options(options, preset.resolution, on_gpu=False)
        self.loss = options.loss
        torch.manual_seed(0)
        G, D = config.networks(preset, self.dataset.channels)
        if config.channels_last:
            G, D = G.to(memory_format=torch.channels_last), D.to(memory_format=torch.channels_last)
        self.nets = Networks(G, D, *build_optimizers(options, G, D))
        self.gen = torch.Generator().manual_seed(0)
        autocast = autocast_factory(torch.device("cpu"), config.precision)
        self.ctx = StepContext(accelerator, autocast, _Discard(), self.gen, config.channels_last)
        self.pl_mean = torch.zeros([])
        self.step = 0

    @property
    def batch(self) -> int:
        return self.config.batch

    def _real_batch(self) -> torch.Tensor:
        idx = torch.randint(len(self.dataset), (self.batch,), generator=self.gen).numpy()
        return self.dataset.get_images(idx).float().div(127.5).sub(1.0)

    def _iteration(self, step: int) -> None:
        ctx = dataclasses.replace(self.ctx, step=step, nimg=step * self.batch)
        d_step(self.nets, self._real_batch(), None, None, self.loss, ctx)
        self.pl_mean = g_step(self.nets, self.batch, None, self.loss, self.pl_mean, ctx)

    def iterate(self, n: int) -> float:
        """Seconds per iteration over the next ``n`` iterations (the lazy schedule runs on: the first
        is step 0, with both regularisers, so a warm-up of one iteration runs every code path)."""
        t0 = time.perf_counter()
        for _ in range(n):
            self._iteration(self.step)
            self.step += 1
        return (time.perf_counter() - t0) / n

    def flops_per_iteration(self) -> float:
        """FLOPs of one iteration, averaged over a whole lazy-regularisation cycle: each kind of
        iteration (plain, path length, R1 and path length...) is counted once, weighted by its share."""
        r1, pl = self.loss.r1_interval, self.loss.pl_interval
        cycle = math.lcm(r1, pl)
        kinds: dict[tuple[bool, bool], list[int]] = {}
        for step in range(cycle):
            kinds.setdefault((step % r1 == 0, step % pl == 0), []).append(step)
        flops = [count_flops(lambda: self._iteration(steps[0])) * len(steps) for steps in kinds.values()]  # noqa: B023
        return sum(flops) / cycle


class _ConvPeak:
    """A large channels_last 3x3 convolution, forward and backward (input and weight gradients)."""

    def __init__(self, dtype: torch.dtype, batch: int = 32, channels: int = 256, size: int = 32):
        gen = torch.Generator().manual_seed(0)

        def tensor(*shape: int) -> torch.Tensor:
            x = torch.randn(*shape, generator=gen).to(dtype, memory_format=torch.channels_last)
            return x.requires_grad_(True)

        self.x, self.weight = tensor(batch, channels, size, size), tensor(channels, channels, 3, 3)
        self.grad = torch.randn(batch, channels, size, size, generator=gen).to(dtype, memory_format=torch.channels_last)
        self.shape = (batch, channels, size, size)
        self.flops = count_flops(self._once)

    def _once(self) -> None:
        y = torch.nn.functional.conv2d(self.x, self.weight, padding=1)
        y.backward(self.grad)
        self.x.grad = self.weight.grad = None

    def iterate(self, n: int) -> float:
        t0 = time.perf_counter()
        for _ in range(n):
            self._once()
        return (time.perf_counter() - t0) / n


def measure_interleaved(contenders: dict[str, _Trainer | _ConvPeak], rounds: int, iters: int) -> dict[str, float]:
    """Seconds per iteration per contender: they take turns, ``rounds`` times, so that load from
    other processes hits all of them alike; the median round counts. Any 16 consecutive iterations
    charge lazy R1 (every 16) and path length (every 4) at their real rate; 4 (``--quick``) charge
    path length at its rate and R1 not at all."""
    for c in contenders.values():
        c.iterate(1)  # warm-up: first-call allocations and kernel selection
    times: dict[str, list[float]] = {k: [] for k in contenders}
    for _ in range(rounds):
        for name, c in contenders.items():
            times[name].append(c.iterate(iters))
    return {name: float(np.median(ts)) for name, ts in times.items()}


ORIGINAL = Config(
    "StyleGAN2 cpu32 widths, NVIDIA's training form (stylegan2-ref, non-fused), fp32 NCHW",
    "cpu32",
    "fp32",
    False,
    32,
    original_form_networks,
)


def our_configs(precision: str) -> dict[str, Config]:
    """Our timed configurations at ``precision`` ('bf16' or 'fp32'), by role."""
    tag = f"{precision} + channels_last"
    return {
        "stylegan2": Config(f"StyleGAN2 cpu32, {tag}, fast modconv", "cpu32", precision, True, 32),
        "stylegan2_64": Config(f"StyleGAN2 cpu64, {tag}, fast modconv", "cpu64", precision, True, 32),
        "dcgan": Config(f"DCGAN 32x32, {tag}", "dcgan32", precision, True, 64),
        "dcgan_64": Config(f"DCGAN 64x64, {tag}", "dcgan64", precision, True, 64),
    }


def run(quick: bool) -> BenchResult:
    accelerator = Accelerator(cpu=True)
    rounds, iters = (1, 4) if quick else (5, 16)
    precision = resolve_precision("auto", "cpu")
    ours = our_configs(precision)
    main = ours["stylegan2"]
    configs = [c for c in (main, ORIGINAL, *list(ours.values())[1:]) if not quick or c.preset in ("cpu32", "dcgan32")]
    trainers = {c.label: _Trainer(c, accelerator) for c in configs}
    peak = _ConvPeak(torch.bfloat16 if precision == "bf16" else torch.float32)
    peak_label = f"{precision} 3x3 conv 32x256x32x32 -> 256, forward + backward"
    seconds = measure_interleaved({**trainers, peak_label: peak}, rounds, iters)
    flops = {label: trainers[label].flops_per_iteration() for label in (main.label, ORIGINAL.label)}

    rows = []
    for c in configs:
        t = trainers[c.label]
        gflops = flops[c.label] / seconds[c.label] / 1e9 if c.label in flops else None
        rows.append(
            {
                "network": c.label,
                "preset": c.preset,
                "batch": c.batch,
                "G_params": parameter_count(t.nets.G),
                "D_params": parameter_count(t.nets.D),
                "img_per_s": c.batch / seconds[c.label],
                "gflop_per_s": gflops,
                "mflop_per_img": flops[c.label] / c.batch / 1e6 if c.label in flops else None,
            }
        )
    peak_gflops = peak.flops / seconds[peak_label] / 1e9
    rows.append(
        {
            "network": peak_label,
            "preset": "",
            "batch": peak.shape[0],
            "G_params": None,
            "D_params": None,
            "img_per_s": None,
            "gflop_per_s": peak_gflops,
            "mflop_per_img": None,
        }
    )
    by_label = {r["network"]: r for r in rows}
    mine, original = by_label[main.label], by_label[ORIGINAL.label]
    summary = {
        "stylegan2_img_per_s": mine["img_per_s"],
        "stylegan2_original_form_fp32_img_per_s": original["img_per_s"],
        "stylegan2_speedup_vs_original_form": mine["img_per_s"] / original["img_per_s"],
        "stylegan2_gflop_per_s": mine["gflop_per_s"],
        "conv_peak_precision": precision,
        "bf16_conv_peak_gflop_per_s": peak_gflops,
        "bf16_conv_peak_fraction": mine["gflop_per_s"] / peak_gflops,
        "stylegan2_flops_vs_original_form": mine["mflop_per_img"] / original["mflop_per_img"],
        "dcgan_img_per_s": by_label[ours["dcgan"].label]["img_per_s"],
    }
    same_widths = (mine["G_params"], mine["D_params"]) == (original["G_params"], original["D_params"])
    return BenchResult(
        name="train",
        title="Training speed: real images per second (one D step + one G step, real batch included)",
        rows=rows,
        summary=summary,
        targets=[
            Target("stylegan2_img_per_s", ">=", 100),
            Target("stylegan2_speedup_vs_original_form", ">=", 5),
            Target("bf16_conv_peak_fraction", ">=", 0.5),
            Target("dcgan_img_per_s", ">=", 400),
        ],
        notes=[
            f"precision: {precision} (what `ganatomy train` takes by default on this CPU: bf16 where it is native, "
            "else fp32); the convolution peak and its fraction are at that precision",
            f"torch threads: {torch.get_num_threads()}; configurations and the convolution peak interleaved, "
            f"median of {rounds} rounds of {iters} iterations, lazy R1 (every 16) and path length (every 4) "
            "included at their rate",
            "original form: NVIDIA's StyleGAN2 architecture (stylegan2-ref: transposed conv + FIR, non-fused "
            "modulated conv as NVIDIA trains, residual D) at cpu32's widths, "
            + ("the same G and D parameter counts" if same_widths else "PARAMETER COUNTS DIFFER"),
            "FLOPs: convolutions and matrix products (torch.utils.flop_counter) of whole iterations, averaged "
            "over the lazy-regularisation cycle",
        ],
        quick=quick,
    )
