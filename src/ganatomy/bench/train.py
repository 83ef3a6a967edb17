"""``ganatomy bench train``: training images per second on this machine, per CPU preset.

One iteration is what the training loop does: a real batch from the world, one D step (with lazy
R1 on its interval) and one G step (with lazy path length on its interval). The same StyleGAN2 is
also timed the way the reference code runs on a CPU: plain fp32, NCHW, and the grouped "fused"
modulated convolution; the ratio is the speed-up of our CPU path.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import torch
from accelerate import Accelerator

from ganatomy.bench.result import BenchResult, Target
from ganatomy.data.world import WorldDataset
from ganatomy.nets.presets import get_preset
from ganatomy.train.loop import _autocast_factory, _real_batch
from ganatomy.train.options import TrainOptions, resolve_options
from ganatomy.train.phases import StepContext, discriminator_step, generator_step
from ganatomy.train.setup import build_optimizers


class _Discard:
    def report(self, name, value) -> None:
        pass


class _Trainer:
    """One configuration's networks, optimizers and data, stepped like the training loop does."""

    def __init__(self, preset_name: str, precision: str, channels_last: bool, fused: bool, batch: int,
                 accelerator: Accelerator):
        preset = get_preset(preset_name)
        self.dataset = WorldDataset(res=preset.resolution, size=4096)
        self.opts = resolve_options(dataclasses.replace(
            TrainOptions(batch=batch, precision=precision, channels_last=channels_last),
            network=dataclasses.replace(TrainOptions().network, arch=preset.arch, preset=preset_name),
        ), preset.resolution, on_gpu=False)
        torch.manual_seed(0)
        g_over = {"fused_modconv": True} if fused else {}
        self.G = preset.build_generator(img_channels=self.dataset.channels, **g_over)
        self.D = preset.build_discriminator(img_channels=self.dataset.channels)
        if channels_last:
            self.G = self.G.to(memory_format=torch.channels_last)
            self.D = self.D.to(memory_format=torch.channels_last)
        self.opt_G, self.opt_D = build_optimizers(self.opts, self.G, self.D)
        self.gen = torch.Generator().manual_seed(0)
        self.ctx = StepContext(accelerator, _autocast_factory(torch.device("cpu"), precision), _Discard(),
                               self.gen, channels_last)
        self.pl_mean = torch.tensor(0.0)
        self.batch, self.step_idx = batch, 0

    def iterate(self, n: int) -> float:
        """Seconds per iteration over the next ``n`` iterations."""
        t0 = time.perf_counter()
        for _ in range(n):
            real, _ = _real_batch(self.dataset, self.batch, self.gen, "cpu")
            discriminator_step(self.G, self.D, self.opt_D, real, None, None, self.opts.loss, self.step_idx, 0, self.ctx)
            self.pl_mean = generator_step(self.G, self.D, self.opt_G, None, self.batch, self.opts.loss, self.pl_mean,
                                          self.step_idx, 0, self.ctx)
            self.step_idx += 1
        return (time.perf_counter() - t0) / n


def measure_interleaved(trainers: dict[str, _Trainer], rounds: int, iters: int) -> dict[str, float]:
    """Images per second per configuration: the configurations take turns, ``rounds`` times, so that
    load from other processes hits all of them alike; the median round counts. ``iters`` is a
    multiple of 16 so that every round charges lazy R1 (every 16) and path length (every 4) at
    their real rate."""
    for t in trainers.values():
        t.iterate(2)  # warm-up: first-call allocations and kernel selection
    times: dict[str, list[float]] = {k: [] for k in trainers}
    for _ in range(rounds):
        for name, t in trainers.items():
            times[name].append(t.iterate(iters))
    return {name: trainers[name].batch / float(np.median(ts)) for name, ts in times.items()}


def run(quick: bool) -> BenchResult:
    accelerator = Accelerator(cpu=True)
    rounds, iters = (1, 2) if quick else (5, 16)
    configs = [
        # (label, preset, precision, channels_last, fused, batch)
        ("StyleGAN2 cpu32, bf16 + channels_last, fast modconv", "cpu32", "bf16", True, False, 32),
        ("StyleGAN2 cpu32, fp32, fused grouped modconv (reference form)", "cpu32", "fp32", False, True, 32),
        ("StyleGAN2 cpu64, bf16 + channels_last, fast modconv", "cpu64", "bf16", True, False, 32),
        ("DCGAN 32x32, bf16 + channels_last", "dcgan32", "bf16", True, False, 64),
        ("DCGAN 64x64, bf16 + channels_last", "dcgan64", "bf16", True, False, 64),
    ]
    if quick:
        configs = [c for c in configs if c[1] in ("cpu32", "dcgan32")]
    trainers = {label: _Trainer(preset, precision, cl, fused, batch, accelerator)
                for label, preset, precision, cl, fused, batch in configs}
    speeds = measure_interleaved(trainers, rounds, iters)
    rows = [{"network": label, "preset": preset, "batch": batch, "img_per_s": speeds[label]}
            for label, preset, _, _, _, batch in configs]
    by_label = {r["network"]: r["img_per_s"] for r in rows}
    fast = by_label[configs[0][0]]
    fused = by_label[configs[1][0]]
    summary = {
        "stylegan2_img_per_s": fast,
        "stylegan2_fused_fp32_img_per_s": fused,
        "stylegan2_speedup": fast / fused,
        "dcgan_img_per_s": by_label["DCGAN 32x32, bf16 + channels_last"],
    }
    return BenchResult(
        name="train",
        title="Training speed: real images per second (one D step + one G step, real batch included)",
        rows=rows,
        summary=summary,
        targets=[Target("stylegan2_img_per_s", ">=", 100), Target("stylegan2_speedup", ">=", 2.5),
                 Target("dcgan_img_per_s", ">=", 400)],
        notes=[f"torch threads: {torch.get_num_threads()}; configurations interleaved, median of {rounds} rounds of "
               f"{iters} iterations, lazy R1 (every 16) and path length (every 4) included at their rate"],
        quick=quick,
    )
