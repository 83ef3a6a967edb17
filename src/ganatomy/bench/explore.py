"""``ganatomy bench explore``: how the explorer holds up, measured through FastAPI's test client.

The shipped world32-stylegan2 with 8 SeFa directions and the world oracle's readout, served by
``create_app`` with its default pool (2 workers, 8 waiting). First single requests one after the
other (an image with its readout: the latency a person feels), then bursts of concurrent requests
(one client thread each, every request a new seed moved along a direction): answered and refused
(503) counts, latency percentiles of the answered ones, and the peak resident memory during each
burst against the memory before any burst (sampled every 5 ms). A bounded pool refuses what it
cannot queue, so a twice larger burst should not need more memory.
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ganatomy.bench.result import BenchResult, Target

NETWORK = "world32-stylegan2"


def resident_mb() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


class PeakMemory:
    """The highest resident memory seen while the block runs (a sampling thread)."""

    def __enter__(self) -> PeakMemory:
        self.peak, self._done = resident_mb(), threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self) -> None:
        while not self._done.wait(0.005):
            self.peak = max(self.peak, resident_mb())

    def __exit__(self, *exc) -> None:
        self._done.set()
        self._thread.join()


def _timed(client, body: dict) -> tuple[int, float]:
    start = time.perf_counter()
    status = client.post("/api/sample", json=body).status_code
    return status, (time.perf_counter() - start) * 1000


def _percentiles(ms: list[float]) -> dict[str, float | None]:
    if not ms:
        return {"p50_ms": None, "p95_ms": None, "p99_ms": None, "max_ms": None}
    p50, p95, p99 = np.percentile(ms, [50, 95, 99]).tolist()
    return {"p50_ms": p50, "p95_ms": p95, "p99_ms": p99, "max_ms": max(ms)}


def run(quick: bool) -> BenchResult:
    from fastapi.testclient import TestClient

    from ganatomy.directions import SeFaDirections
    from ganatomy.directions.oracle_access import world_oracle
    from ganatomy.explore import Explorer, create_app
    from ganatomy.nets.load import load_generator

    G = load_generator(NETWORK)
    directions = SeFaDirections(n_directions=8).fit(G).directions_
    explorer = Explorer(G, NETWORK, directions, world_oracle(G.img_resolution))
    sequential = 3 if quick else 20
    bursts = [16, 32] if quick else [32, 64, 128]
    rows, summary = [], {}
    with TestClient(create_app(explorer, workers=2, queue=8)) as client:
        _timed(client, {"seed": 0})  # warm-up: first-call allocations are not the steady state
        baseline = resident_mb()
        single = [_timed(client, {"seed": s, "edits": [{"index": 1, "shift": 2.0}]})[1] for s in range(sequential)]
        rows.append(
            {"scenario": "one at a time", "requests": sequential, "concurrency": 1, "answered": sequential}
            | {"refused (503)": 0, **_percentiles(single), "peak RSS over baseline (MB)": None}
        )
        summary["single_image_ms"] = statistics.median(single)
        for n in bursts:
            bodies = [{"seed": 1000 + i, "edits": [{"index": i % 8, "shift": 1.5}]} for i in range(n)]
            with PeakMemory() as memory, ThreadPoolExecutor(max_workers=n) as clients:
                results = list(clients.map(lambda body: _timed(client, body), bodies))
            answered = [ms for status, ms in results if status == 200]
            refused = sum(status == 503 for status, _ in results)
            other = len(results) - len(answered) - refused
            row = {"scenario": "burst", "requests": n, "concurrency": n, "answered": len(answered)}
            row |= {"refused (503)": refused, **_percentiles(answered)}
            row["peak RSS over baseline (MB)"] = memory.peak - baseline
            rows.append(row)
            summary[f"burst{n}_p95_ms"] = row["p95_ms"]
            summary[f"burst{n}_refused"] = refused
            summary[f"burst{n}_peak_rss_mb"] = row["peak RSS over baseline (MB)"]
            summary["unexpected_statuses"] = summary.get("unexpected_statuses", 0) + other
    summary["baseline_rss_mb"] = baseline
    return BenchResult(
        name="explore",
        title="Explorer: world32-stylegan2 samples with a direction edit and the oracle's readout",
        rows=rows,
        summary=summary,
        targets=[Target("single_image_ms", "<=", 500), Target("unexpected_statuses", "<=", 0)],
        notes=[
            "pool: 2 worker threads, 8 waiting requests; requests beyond that are refused at once with 503",
            "latencies of answered requests, client side (FastAPI TestClient, in process); one image 32x32 each",
            "peak RSS: the process's resident memory during the burst minus before the first burst",
        ],
        quick=quick,
    )
