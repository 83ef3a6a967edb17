"""Benchmarks: ``ganatomy bench NAME`` prints a table, ``--json`` prints one object,
full-size runs are recorded in docs/results.md with the command and the machine.

A benchmark is a module listed in ``BENCHMARKS`` with a ``run(quick: bool) -> BenchResult``.
"""

from ganatomy.bench.result import BenchResult, Target

# name -> module; modules are imported only when their benchmark runs.
BENCHMARKS: dict[str, str] = {
    "world": "ganatomy.bench.world",
    "train": "ganatomy.bench.train",
    "quality": "ganatomy.bench.quality",
    "oracle": "ganatomy.bench.oracle",
    "zoo": "ganatomy.bench.zoo",
    "directions": "ganatomy.bench.directions",
    "genes": "ganatomy.bench.genes",
    "import": "ganatomy.bench.imports",
    "faults": "ganatomy.bench.faults",
    "segment": "ganatomy.bench.segment",
    "regress": "ganatomy.bench.regress",
    "fewer-labels": "ganatomy.bench.fewer_labels",
    "explore": "ganatomy.bench.explore",
}

__all__ = ["BENCHMARKS", "BenchResult", "Target"]
