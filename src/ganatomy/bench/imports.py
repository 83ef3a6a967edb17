"""``ganatomy bench import``: how fast users' full-size StyleGAN2s run here, in the faithful generator.

Images per second of ``stylegan2-ref`` (NVIDIA's architecture, what an imported pickle or .pt
becomes) at 256 and 1024 px with the originals' full widths (z = w = 512, 8 mapping layers,
channel_base 32768 at 1024 and 16384 at 256 as NVIDIA's configs use, channel_max 512), random
weights, on this machine's CPU, for batches of 1 and 8; beside it our compact ``stylegan2`` at the
same resolution and widths (up_mode transposed). Forward passes only (z to image, no gradients,
float32; bf16 autocast in a second row), after one warm-up batch; the median of the timed rounds.
"""

from __future__ import annotations

import time

import torch

from ganatomy.bench.result import BenchResult

# resolution -> channel_base of NVIDIA's configs (stylegan2-ada-pytorch: cbase 16384 up to 512 px, 32768 at 1024)
FULL_SIZE = {256: 16384, 1024: 32768}


def _generators(res: int) -> dict[str, torch.nn.Module]:
    from ganatomy.nets import build_generator

    base = FULL_SIZE[res]
    faithful = build_generator(
        "stylegan2-ref", dict(img_resolution=res, z_dim=512, w_dim=512, channel_base=base, channel_max=512)
    )
    compact = build_generator(
        "stylegan2",
        dict(
            img_resolution=res,
            z_dim=512,
            w_dim=512,
            channel_base=base,
            channel_max=512,
            up_mode="transposed",
            prior={"kind": "mapping", "num_layers": 8, "lr_mul": 0.01},
        ),
    )
    return {"stylegan2-ref (faithful)": faithful.eval(), "stylegan2 (compact)": compact.eval()}


@torch.no_grad()
def images_per_second(G: torch.nn.Module, batch: int, rounds: int, bf16: bool) -> float:
    """Median images/s of ``rounds`` timed batches after one warm-up batch."""
    z = G.sample_latents(batch, seed=0)
    times = []
    for i in range(rounds + 1):
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            G.synthesize(z, "z", noise_mode="const")
        if i > 0:
            times.append(time.perf_counter() - start)
    times.sort()
    return batch / times[len(times) // 2]


def run(quick: bool) -> BenchResult:
    resolutions = [256] if quick else [256, 1024]
    batches = [1] if quick else [1, 8]
    rounds = 1 if quick else 3
    rows, summary = [], {}
    for res in resolutions:
        for name, G in _generators(res).items():
            params = sum(p.numel() for p in G.parameters())
            for precision in ("fp32", "bf16"):
                for batch in batches:
                    speed = images_per_second(G, batch, rounds, bf16=precision == "bf16")
                    rows.append(
                        {
                            "generator": name,
                            "resolution": res,
                            "parameters (M)": params / 1e6,
                            "precision": precision,
                            "batch": batch,
                            "img/s": speed,
                        }
                    )
                    if name.startswith("stylegan2-ref") and precision == "fp32":
                        key = f"img_per_s_{res}"
                        summary[key] = max(summary.get(key, 0.0), speed)
    return BenchResult(
        name="import",
        title="Full-size StyleGAN2 generators on this CPU (random weights, forward z -> image)",
        rows=rows,
        summary=summary,
        targets=[],
        notes=[
            "img_per_s_<res>: the faithful generator in float32 at its best batch (what an imported file runs at)",
            "timed while the machine may be shared: see the machine line; rerun on an idle machine for clean numbers",
        ],
        quick=quick,
    )
