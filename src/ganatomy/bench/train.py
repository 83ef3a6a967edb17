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


def measure(preset_name: str, precision: str, channels_last: bool, fused: bool, batch: int, iters: int,
            warmup: int, accelerator: Accelerator) -> float:
    """Training images per second (real images shown to D) for one configuration."""
    preset = get_preset(preset_name)
    dataset = WorldDataset(res=preset.resolution, size=4096)
    opts = resolve_options(dataclasses.replace(
        TrainOptions(batch=batch, precision=precision, channels_last=channels_last),
        network=dataclasses.replace(TrainOptions().network, arch=preset.arch, preset=preset_name),
    ), preset.resolution, on_gpu=False)
    torch.manual_seed(0)
    g_over = {"fused_modconv": True} if fused else {}
    G = preset.build_generator(img_channels=dataset.channels, **g_over)
    D = preset.build_discriminator(img_channels=dataset.channels)
    if channels_last:
        G, D = G.to(memory_format=torch.channels_last), D.to(memory_format=torch.channels_last)
    opt_G, opt_D = build_optimizers(opts, G, D)
    gen = torch.Generator().manual_seed(0)
    ctx = StepContext(accelerator, _autocast_factory(torch.device("cpu"), precision), _Discard(), gen, channels_last)
    pl_mean = torch.tensor(0.0)
    times = []
    for step in range(warmup + iters):
        t0 = time.perf_counter()
        real, _ = _real_batch(dataset, batch, gen, "cpu")
        discriminator_step(G, D, opt_D, real, None, None, opts.loss, step, 0, ctx)
        pl_mean = generator_step(G, D, opt_G, None, batch, opts.loss, pl_mean, step, 0, ctx)
        if step >= warmup:
            times.append(time.perf_counter() - t0)
    # The mean over whole regularisation cycles charges lazy R1 / path length at their real rate.
    return batch / float(np.mean(times))


def run(quick: bool) -> BenchResult:
    accelerator = Accelerator(cpu=True)
    iters, warmup = (4, 1) if quick else (32, 3)
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
    rows = []
    for label, preset, precision, cl, fused, batch in configs:
        ips = measure(preset, precision, cl, fused, batch, iters, warmup, accelerator)
        rows.append({"network": label, "preset": preset, "batch": batch, "img_per_s": ips})
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
        notes=[f"torch threads: {torch.get_num_threads()}; mean over {iters} iterations after {warmup} warm-up, "
               "lazy R1 (every 16) and path length (every 4) included at their rate"],
        quick=quick,
    )
