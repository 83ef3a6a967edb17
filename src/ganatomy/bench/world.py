"""``ganatomy bench world``: world images with masks and factors per second on one CPU core.

Each image is rendered from its own seed (factor draws from its PCG64 stream, then image and mask),
which is what on-the-fly training data and exports do. Headline: ``img_per_s`` at 64x64; 32x32 is
the second row (``img_per_s_32`` in ``--json``).
"""

from __future__ import annotations

import time

import torch

from ganatomy.bench.result import BenchResult, Target
from ganatomy.worlds import FaceWorld

_BATCH = 256


def _throughput(res: int, seconds: float) -> dict:
    """Render consecutive seed batches for about ``seconds``; images per second over whole batches."""
    world = FaceWorld(res)
    world.render_seeds(range(_BATCH))  # warm-up: first-touch allocations, imports
    start = time.perf_counter()
    done = 0
    while True:
        batch = world.render_seeds(range(done, done + _BATCH))
        done += len(batch)
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            break
    return {"res": res, "images": done, "seconds": round(elapsed, 3), "img_per_s": done / elapsed}


def run(quick: bool) -> BenchResult:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one core; the renderer is numpy, single-threaded by construction
    try:
        seconds = 0.5 if quick else 4.0
        rows = [_throughput(64, seconds), _throughput(32, seconds / 2)]
    finally:
        torch.set_num_threads(threads)
    return BenchResult(
        name="world",
        title="World rendering: images + masks + factors per second, one core",
        rows=rows,
        summary={"img_per_s": rows[0]["img_per_s"], "img_per_s_32": rows[1]["img_per_s"]},
        targets=[Target("img_per_s", ">=", 2000)],
        notes=[f"render_seeds in batches of {_BATCH}, each image from its own seed; numpy float32, one thread"],
        quick=quick,
    )
