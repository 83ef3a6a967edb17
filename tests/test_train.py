"""Training: loss and EMA formulas, exact resume after SIGKILL, two-process consistency, NaN stop."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from ganatomy.errors import OptionsError, TrainingDiverged
from ganatomy.runs.checkpoint import load_checkpoint
from ganatomy.train.ema import ema_beta, update_ema
from ganatomy.train.losses import d_loss, g_loss, path_length_penalty, r1_penalty
from ganatomy.train.objectives import StandardGAN, register_objective

BIN = Path(sys.executable).parent
# A tiny StyleGAN2 on world:32 in deterministic fp32: a few seconds per run on 2 cores.
TINY = [
    "--data", "world:32", "--batch", "8", "--kimg", "0.064", "--tick", "0.016", "--snap", "2",
    "--precision", "fp32", "--deterministic", "--no-progress",
]
TINY_OPTIONS = {"network": {"channel_base": 256, "channel_max": 32}, "loss": {"r1_interval": 2, "pl_interval": 2}}


# ---------------------------------------------------------------------- formulas
def test_ema_half_life_is_in_kimg():
    beta = ema_beta(batch_size=32, ema_kimg=10.0)
    steps = 10_000 / 32
    assert beta**steps == pytest.approx(0.5, rel=1e-9)
    assert ema_beta(64, 10.0) == pytest.approx(beta**2)  # twice the batch, same kimg half-life
    assert ema_beta(32, 10.0, cur_nimg=1000, rampup=0.05) == pytest.approx(0.5 ** (32 / 50))
    assert ema_beta(32, 10.0, cur_nimg=0, rampup=0.05) == 0.0


def test_update_ema_formula():
    ema, model = torch.nn.Linear(2, 1), torch.nn.Linear(2, 1)
    with torch.no_grad():
        ema.weight.fill_(1.0), model.weight.fill_(3.0)
    update_ema(ema, model, beta=0.75)
    assert torch.allclose(ema.weight, torch.full_like(ema.weight, 0.75 * 1 + 0.25 * 3))


def test_losses_known_values():
    real, fake = torch.tensor([2.0, -1.0]), torch.tensor([0.5, -3.0])
    sp = torch.nn.functional.softplus
    assert d_loss(real, fake, "nonsat") == pytest.approx(float(sp(fake).mean() + sp(-real).mean()))
    assert d_loss(real, fake, "hinge") == pytest.approx(((0 + 2) / 2) + ((1.5 + 0) / 2))
    assert g_loss(fake, "hinge") == pytest.approx(1.25)
    assert g_loss(fake, "nonsat") == pytest.approx(float(sp(-fake).mean()))
    with pytest.raises(ValueError):
        d_loss(real, fake, "wasserstein")


def test_r1_penalty_of_a_linear_critic():
    a = torch.tensor([1.0, -2.0, 0.5, 3.0]).view(1, 1, 2, 2)
    x = torch.randn(5, 1, 2, 2, requires_grad=True)
    logits = (x * a).sum(dim=[1, 2, 3])
    assert r1_penalty(x, logits).item() == pytest.approx(float(a.square().sum()), rel=1e-6)


def test_path_length_of_a_linear_synthesis():
    # images = ws @ M (reshaped): J^T y has norm ||M y||, known in expectation, and the penalty is
    # zero once the running mean equals the lengths (an isometric map scaled by s gives length s).
    torch.manual_seed(0)
    s = 3.0
    ws = torch.randn(64, 1, 16, requires_grad=True)
    synth = lambda w: (s * w).view(-1, 1, 4, 4)  # noqa: E731
    penalty, new_mean = path_length_penalty(synth, ws, torch.tensor(0.0), decay=1.0)
    # y ~ N(0, I)/sqrt(16) over 16 pixels: E||s y||^2 = s^2, so lengths are close to s.
    assert new_mean.item() == pytest.approx(s, rel=0.1)
    assert penalty.item() < 0.2 * s**2


# ---------------------------------------------------------------------- the loop
def _train_cmd(outdir: Path, *extra: str) -> list[str]:
    return [str(BIN / "ganatomy"), "train", *TINY, "--outdir", str(outdir), *extra]


def _env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _options_file(tmp_path: Path) -> Path:
    from ganatomy.runs.options import dump_options, options_from_dict
    from ganatomy.train.options import TrainOptions

    opts = options_from_dict(TrainOptions, {
        "data": "world:32", "batch": 8, "kimg": 0.064, "tick_kimg": 0.016, "snapshot_ticks": 2,
        "precision": "fp32", "deterministic": True, "progress": False, "tensorboard": False,
        "outdir": str(tmp_path / "runs"), **TINY_OPTIONS,
    })
    path = tmp_path / "tiny.json"
    dump_options(opts, path)
    return path


def _run_dir(outdir: Path) -> Path:
    (run,) = [p for p in outdir.iterdir() if p.is_dir()]
    return run


def _final_state(run: Path) -> dict:
    state = load_checkpoint(run / "checkpoint.safetensors")
    return {k: state[k] for k in ("G", "D", "G_ema", "opt_G", "opt_D", "counters", "objective")}


def _assert_identical(a, b, path="state"):
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b), f"{path} differs"
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            if k != "seconds":  # wall-clock time differs between runs, by nature
                _assert_identical(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, (list, tuple)):
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_identical(x, y, f"{path}[{i}]")
    else:
        assert a == b, f"{path}: {a} != {b}"


def _options_in(tmp_path: Path, outdir: Path, name: str) -> Path:
    opts = json.loads(_options_file(tmp_path).read_text())
    opts["outdir"] = str(outdir)
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(opts))
    return path


def test_resume_after_sigkill_is_exact(tmp_path):
    straight, killed_out = tmp_path / "straight", tmp_path / "killed"
    subprocess.run([str(BIN / "ganatomy"), "train", "--options", str(_options_in(tmp_path, straight, "straight"))],
                   check=True, env=_env(), capture_output=True)
    reference = _final_state(_run_dir(straight))

    killed_options = _options_in(tmp_path, killed_out, "killed")
    proc = subprocess.Popen([str(BIN / "ganatomy"), "train", "--options", str(killed_options)], env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not list(killed_out.glob("*/checkpoint.safetensors")):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    run = _run_dir(killed_out)
    assert (run / "checkpoint.safetensors").exists(), "no checkpoint before the kill"
    ticks_before = load_checkpoint(run / "checkpoint.safetensors")["counters"]["tick"]
    assert ticks_before < 4, "the run finished before it was killed; the test proves nothing"
    subprocess.run([str(BIN / "ganatomy"), "train", "--resume", str(run)], check=True, env=_env(), capture_output=True)
    _assert_identical(reference, _final_state(run))
    # The log continues too: every tick once, as in the uninterrupted run.
    assert _logged_kimg(run) == _logged_kimg(_run_dir(straight))


def _logged_kimg(run: Path) -> list[float]:
    return [json.loads(line)["kimg"] for line in (run / "stats.jsonl").read_text().splitlines()]


def test_resume_drops_log_records_written_after_the_checkpoint(tmp_path):
    from ganatomy.train.loop import Counters, roll_back_logs

    stats = [{"kimg": k} for k in (0.25, 0.5, 0.75)]
    metrics = [{"tick": t, "results": {}} for t in (2, 3)]
    (tmp_path / "stats.jsonl").write_text("".join(json.dumps(r) + "\n" for r in stats) + '{"kimg": 1.0, "los')
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in metrics))
    roll_back_logs(tmp_path, Counters(cur_nimg=500, tick=2))  # killed after tick 3's logs, before its checkpoint
    assert _logged_kimg(tmp_path) == [0.25, 0.5]
    assert [json.loads(x)["tick"] for x in (tmp_path / "metrics.jsonl").read_text().splitlines()] == [2]


def test_two_processes_keep_identical_weights(tmp_path):
    options = _options_file(tmp_path)
    torchrun = BIN / "torchrun"
    proc = subprocess.run(
        [str(torchrun), "--nproc_per_node", "2", "--master_port", "29517", "--no-python", str(BIN / "ganatomy"),
         "train", "--options", str(options)],
        env=_env(), capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = _run_dir(tmp_path / "runs")
    record = json.loads((run / "consistency.json").read_text())
    assert record["tick"] == 4
    for name, digests in record["digests"].items():
        assert len(digests) == 2, name
        assert digests[0] == digests[1], f"{name} differs between the two ranks"


@register_objective
class _NaNAtFourthDStep(StandardGAN):
    """The standard GAN with an extra D loss term that turns NaN at the fourth D step (in tick 2)."""

    name = "test-nan-at-fourth-d-step"

    def __init__(self, opts):
        super().__init__(opts)
        self.d_steps = 0

    def d_extra_loss(self, D, p, ctx):
        self.d_steps += 1
        return torch.tensor(float("nan")) if self.d_steps == 4 else None


def test_nan_loss_stops_and_keeps_last_checkpoint(tmp_path):
    from accelerate import Accelerator

    from ganatomy.data.resolve import open_dataset
    from ganatomy.runs.options import load_options
    from ganatomy.train import loop
    from ganatomy.train.options import TrainOptions, resolve_options

    opts = resolve_options(load_options(TrainOptions, _options_file(tmp_path)), 32, on_gpu=False)
    dataset = open_dataset("world:32")
    run = tmp_path / "run"
    run.mkdir()
    opts = dataclasses.replace(opts, objective=_NaNAtFourthDStep.name)
    with pytest.raises(TrainingDiverged, match="D loss became nan at 0.024 kimg"):
        loop.training_loop(opts, run, dataset, Accelerator(cpu=True))
    kept = load_checkpoint(run / "checkpoint.safetensors")
    assert kept["counters"]["tick"] == 1 and kept["counters"]["cur_nimg"] == 16


def test_missing_data_is_a_one_line_error(tmp_path):
    proc = subprocess.run(
        [str(BIN / "ganatomy"), "train", "--data", str(tmp_path / "missing"), "--outdir", str(tmp_path)],
        env=_env(), capture_output=True, text=True,
    )
    assert proc.returncode == 2 and proc.stderr.startswith("error: ") and "missing" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_dry_run_prints_resolved_options(tmp_path):
    proc = subprocess.run([str(BIN / "ganatomy"), "train", "--dry-run", "--outdir", str(tmp_path)],
                          env=_env(), capture_output=True, text=True, check=True)
    opts = json.loads(proc.stdout)
    assert opts["network"]["preset"] == "cpu32" and opts["loss"]["r1_gamma"] == pytest.approx(1.0)
    assert not list(tmp_path.iterdir())  # nothing written


def test_stylegan2_r1_gamma_is_the_ada_rule_floored_at_one():
    from ganatomy.train.options import stylegan2_r1_gamma

    assert stylegan2_r1_gamma(32, 32) == 1.0  # the ada rule would give 0.0064
    assert stylegan2_r1_gamma(1024, 32) == pytest.approx(0.0002 * 1024**2 / 32)


def test_metrics_every_n_ticks_go_to_metrics_jsonl_and_stats(tmp_path, monkeypatch):
    from accelerate import Accelerator

    from ganatomy.data.resolve import open_dataset
    from ganatomy.runs.options import load_options
    from ganatomy.train import loop
    from ganatomy.train.options import TrainOptions, resolve_options

    monkeypatch.setenv("GANATOMY_CACHE", str(tmp_path / "cache"))
    opts = resolve_options(load_options(TrainOptions, _options_file(tmp_path)), 32, on_gpu=False)
    opts.metrics, opts.metrics_ticks, opts.kimg = ["fd1k_oracle"], 2, 0.048  # ticks 1, 2, 3 (the last)
    run = tmp_path / "run"
    run.mkdir()
    loop.training_loop(opts, run, open_dataset("world:32"), Accelerator(cpu=True))
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [(r["metric"], r["tick"]) for r in records] == [("fd1k_oracle", 2), ("fd1k_oracle", 3)]
    assert all(r["value"] > 0 and r["protocol"]["fake"]["network"] == "G_ema" for r in records)
    stats = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    assert ["metrics/fd1k_oracle" in s for s in stats] == [False, True, True]
    assert stats[1]["metrics/fd1k_oracle"] == records[0]["value"]

    opts.metrics = ["fd1k_nosuchextractor"]
    with pytest.raises(OptionsError, match="nosuchextractor"):
        loop.training_loop(opts, tmp_path / "never", open_dataset("world:32"), Accelerator(cpu=True))
    assert not (tmp_path / "never").exists()
