"""Every registered benchmark imports and has ``run(quick)``; the cheap ones run with ``quick=True``.

The others (those that train GANs or fit the methods; any benchmark not yet listed as cheap) take
tens of seconds to minutes even ``--quick``: they are marked ``bench``, which ``make test`` leaves
out to stay within its 10 minutes on 2 cores, and ``make test-benches`` runs them.
"""

from __future__ import annotations

import importlib
import inspect
import json

import pytest

from ganatomy.bench import BENCHMARKS, BenchResult

# One thread per library: the two cores are shared with other work.
pytestmark = pytest.mark.usefixtures("one_thread")

CHEAP = ["world", "oracle", "zoo"]  # each runs --quick in a few seconds
SLOW = sorted(set(BENCHMARKS) - set(CHEAP))


@pytest.mark.parametrize("name", sorted(BENCHMARKS))
def test_every_benchmark_imports_and_has_run_quick(name):
    module = importlib.import_module(BENCHMARKS[name])
    assert callable(getattr(module, "run", None)), f"{BENCHMARKS[name]} has no run()"
    assert "quick" in inspect.signature(module.run).parameters


def _check_result(result: BenchResult, name: str) -> None:
    assert isinstance(result, BenchResult) and result.name == name and result.quick
    assert json.loads(result.to_json()).keys() == result.summary.keys()  # --json prints plain numbers
    assert result.markdown(f"ganatomy bench {name}").startswith(f"## {result.title}")


@pytest.mark.parametrize("name", CHEAP)
def test_cheap_benchmarks_run_quick(name, request):
    if name == "oracle":
        request.getfixturevalue("real_fashion_mnist")  # it scores the classifier on the test split
    result = importlib.import_module(BENCHMARKS[name]).run(quick=True)
    _check_result(result, name)
    if name != "zoo":  # the zoo has rows only once its models ship
        assert result.rows and all(t.met(result.summary) is not None for t in result.targets)


@pytest.mark.bench
@pytest.mark.parametrize("name", SLOW)
def test_slow_benchmarks_run_quick(name, request, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # bench quality writes its run under runs/
    monkeypatch.setenv("GANATOMY_CACHE", str(tmp_path / "cache"))
    result = importlib.import_module(BENCHMARKS[name]).run(quick=True)
    _check_result(result, name)
    assert result.rows
    if name == "train":
        s = result.summary
        assert s["stylegan2_speedup_vs_original_form"] > 1 and 0 < s["bf16_conv_peak_fraction"] < 1.5
        ours, original = (r for r in result.rows if r["preset"] == "cpu32")  # the original form: same widths
        assert (ours["G_params"], ours["D_params"]) == (original["G_params"], original["D_params"])
