"""Training: loss and EMA formulas, exact resume after SIGKILL, two-process consistency, NaN stop."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
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

pytestmark = pytest.mark.usefixtures("one_thread")  # in-process trainings: 5x faster than 2 threads under load

BIN = Path(sys.executable).parent
# A tiny StyleGAN2 on world:32 in deterministic fp32: a few seconds per run on 2 cores.
TINY = [
    "--data",
    "world:32",
    "--batch",
    "8",
    "--kimg",
    "0.064",
    "--tick",
    "0.016",
    "--snap",
    "2",
    "--precision",
    "fp32",
    "--deterministic",
    "--no-progress",
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

    opts = options_from_dict(
        TrainOptions,
        {
            "data": "world:32",
            "batch": 8,
            "kimg": 0.064,
            "tick_kimg": 0.016,
            "snapshot_ticks": 2,
            "precision": "fp32",
            "deterministic": True,
            "progress": False,
            "tensorboard": False,
            "outdir": str(tmp_path / "runs"),
            **TINY_OPTIONS,
        },
    )
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
            if k not in ("seconds", "cpu_seconds"):  # clocks differ between runs, by nature
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
    subprocess.run(
        [str(BIN / "ganatomy"), "train", "--options", str(_options_in(tmp_path, straight, "straight"))],
        check=True,
        env=_env(),
        capture_output=True,
    )
    reference = _final_state(_run_dir(straight))

    killed_options = _options_in(tmp_path, killed_out, "killed")
    proc = subprocess.Popen(
        [str(BIN / "ganatomy"), "train", "--options", str(killed_options)],
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
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


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_keep_identical_weights(tmp_path):
    options = _options_file(tmp_path)
    torchrun = BIN / "torchrun"
    proc = subprocess.run(
        [
            str(torchrun),
            "--nproc_per_node",
            "2",
            "--master_port",
            str(_free_port()),  # a fixed port collides with other test runs on the same machine
            "--no-python",
            str(BIN / "ganatomy"),
            "train",
            "--options",
            str(options),
        ],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    # torchrun's own traceback fills the end of stderr: show the start too, where the ranks speak
    assert proc.returncode == 0, proc.stderr[:3000] + "\n[...]\n" + proc.stderr[-2000:]
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


def test_a_cpu_time_budget_stops_at_the_first_tick_end_after_it_and_is_kept(tmp_path):
    from accelerate import Accelerator

    from ganatomy.data.resolve import open_dataset
    from ganatomy.runs.options import load_options
    from ganatomy.train import loop
    from ganatomy.train.options import TrainOptions, resolve_options

    opts = resolve_options(load_options(TrainOptions, _options_file(tmp_path)), 32, on_gpu=False)
    opts = dataclasses.replace(opts, max_cpu_minutes=1e-6)  # spent within the first tick
    run = tmp_path / "run"
    run.mkdir()
    counters = loop.training_loop(opts, run, open_dataset("world:32"), Accelerator(cpu=True))
    assert counters.tick == 1 and counters.cur_nimg == 16  # of the 64 images asked for
    kept = load_checkpoint(run / "checkpoint.safetensors")["counters"]
    assert 0 < kept["cpu_seconds"] and kept["tick"] == 1


def test_missing_data_is_a_one_line_error(tmp_path):
    proc = subprocess.run(
        [str(BIN / "ganatomy"), "train", "--data", str(tmp_path / "missing"), "--outdir", str(tmp_path)],
        env=_env(),
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and proc.stderr.startswith("error: ") and "missing" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_dry_run_prints_resolved_options(tmp_path):
    proc = subprocess.run(
        [str(BIN / "ganatomy"), "train", "--dry-run", "--outdir", str(tmp_path)],
        env=_env(),
        capture_output=True,
        text=True,
        check=True,
    )
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


# ---------------------------------------------------------------------- reliability: divergence
@register_objective
class _SquareOverflowsAtFourthGStep(StandardGAN):
    """A finite G loss whose gradients (~1e30) square to infinity at the fourth G step (in tick 2):
    every loss stays finite, but Adam's second moment would hold inf from then on."""

    name = "test-square-overflow"

    def __init__(self, opts):
        super().__init__(opts)
        self.g_steps = 0

    def g_extra_loss(self, D, p, ctx):
        self.g_steps += 1
        return p.fake.float().sum() * 1e30 if self.g_steps == 4 else None


@register_objective
class _InfInOptimizerAtFourthGStep(StandardGAN):
    """Puts an infinity straight into G's optimizer state after the fourth G step: only the
    tick-end check of the whole state can see it."""

    name = "test-inf-in-adam"

    def __init__(self, opts):
        super().__init__(opts)
        self.g_steps = 0

    def g_step(self, nets, n, fake_c, ctx):
        super().g_step(nets, n, fake_c, ctx)
        self.g_steps += 1
        if self.g_steps == 4:
            next(iter(nets.opt_G.state.values()))["exp_avg_sq"].view(-1)[0] = float("inf")


def _tiny_resolved(tmp_path: Path):
    from ganatomy.runs.options import load_options
    from ganatomy.train.options import TrainOptions, resolve_options

    opts = resolve_options(load_options(TrainOptions, _options_file(tmp_path)), 32, on_gpu=False)
    return dataclasses.replace(opts, grid_size=4)


@pytest.mark.parametrize(
    "objective, message, resume",
    [
        (_SquareOverflowsAtFourthGStep.name, r"G gradients became non-finite at 0\.024 kimg", True),
        (_InfInOptimizerAtFourthGStep.name, r"training state became non-finite in tick 2 .*opt_G", False),
    ],
)
def test_divergence_keeps_the_last_finite_checkpoint_and_it_resumes(tmp_path, objective, message, resume):
    from accelerate import Accelerator

    from ganatomy.data.resolve import open_dataset
    from ganatomy.train import loop
    from ganatomy.train.state import non_finite_tensors

    opts, dataset, run = _tiny_resolved(tmp_path), open_dataset("world:32"), tmp_path / "run"
    run.mkdir()
    with pytest.raises(TrainingDiverged, match=message + r".*the last finite checkpoint .* tick 1, 0\.016 kimg"):
        loop.training_loop(dataclasses.replace(opts, objective=objective), run, dataset, Accelerator(cpu=True))
    kept = load_checkpoint(run / "checkpoint.safetensors")
    assert kept["counters"]["tick"] == 1 and not non_finite_tensors(kept)
    assert not list(run.glob("network-snapshot-*"))  # tick 2 (a snapshot tick) wrote nothing
    if not resume:
        return
    # The kept checkpoint is a usable one: the run continues from it to the end, finite.
    loop.training_loop(opts, run, dataset, Accelerator(cpu=True), resume=run / "checkpoint.safetensors")
    final = load_checkpoint(run / "checkpoint.safetensors")
    assert final["counters"]["tick"] == 4 and not non_finite_tensors(final)


# ---------------------------------------------------------------------- reliability: resume
@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> dict:
    """A 2-tick tiny run with TensorBoard events, and a copy of its checkpoint after tick 1."""
    from ganatomy.runs.options import load_options
    from ganatomy.train.options import TrainOptions
    from ganatomy.train.run import run_training

    root = tmp_path_factory.mktemp("tiny-run")
    opts = dataclasses.replace(
        load_options(TrainOptions, _options_file(root)), kimg=0.016, tensorboard=True, grid_size=4
    )
    run = run_training(opts)
    tick1 = root / "checkpoint-tick1.safetensors"
    shutil.copyfile(run / "checkpoint.safetensors", tick1)
    run_training(resume_dir=run, kimg=0.032)
    return {"run": run, "tick1": tick1}


def _copy_run(tiny_run: dict, tmp_path: Path) -> Path:
    run = tmp_path / tiny_run["run"].name
    shutil.copytree(tiny_run["run"], run)
    return run


def _snapshot_of(run: Path) -> dict[str, bytes]:
    return {name: (run / name).read_bytes() for name in ("options.json", "command.txt", "stats.jsonl")}


def test_a_failed_resume_changes_nothing(tiny_run, tmp_path):
    from ganatomy.errors import CheckpointError
    from ganatomy.train.run import run_training

    run = _copy_run(tiny_run, tmp_path)
    assert len((run / "command.txt").read_text().splitlines()) == 2  # the start and one resume: appended
    before = _snapshot_of(run)
    with pytest.raises(OptionsError, match=r"--kimg 0\.016 is below the 0\.032 kimg this run has trained"):
        run_training(resume_dir=run, kimg=0.016)
    assert _snapshot_of(run) == before
    checkpoint = run / "checkpoint.safetensors"
    data = bytearray(checkpoint.read_bytes())
    data[-100] ^= 0xFF
    checkpoint.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="checksum mismatch"):
        run_training(resume_dir=run, kimg=0.048)
    assert _snapshot_of(run) == before  # options.json still says kimg 0.032, command.txt has no new line


def test_resume_refuses_a_checkpoint_written_after_a_divergence(tiny_run, tmp_path):
    from ganatomy.errors import CheckpointError
    from ganatomy.runs.checkpoint import save_checkpoint
    from ganatomy.train.run import run_training

    run = _copy_run(tiny_run, tmp_path)
    tree = load_checkpoint(run / "checkpoint.safetensors")
    next(iter(tree["opt_G"]["state"].values()))["exp_avg_sq"].view(-1)[0] = float("inf")  # as older versions kept
    save_checkpoint(run / "checkpoint.safetensors", tree)
    before = _snapshot_of(run)
    with pytest.raises(CheckpointError, match=r"NaN or infinite values in 1 tensor\(s\) of opt_G"):
        run_training(resume_dir=run, kimg=0.048)
    assert _snapshot_of(run) == before


def test_resume_removes_stale_temporaries_and_rolls_tensorboard_back(tiny_run, tmp_path):
    from ganatomy.train.run import run_training

    run = _copy_run(tiny_run, tmp_path)
    assert _tensorboard_steps(run) == [16, 32]
    # Killed after tick 2's logs (stats, TensorBoard) and during its checkpoint write: tick 1's checkpoint
    # is the one on disk, beside the temporary of the interrupted write.
    shutil.copyfile(tiny_run["tick1"], run / "checkpoint.safetensors")
    stale = run / ".checkpoint.safetensors.k1ll3d.tmp"
    stale.write_bytes(b"half a checkpoint")
    run_training(resume_dir=run, kimg=0.048)
    assert not stale.exists()
    assert _logged_kimg(run) == [0.016, 0.032, 0.048]
    assert _tensorboard_steps(run) == [16, 32, 48]  # tick 2 once, as TensorBoard shows it


def _tensorboard_steps(run: Path, tag: str = "loss/D") -> list[int]:
    """The steps TensorBoard shows for ``tag``: events in file order, a session START purging the
    steps at and after its own (what ``SummaryWriter(purge_step=...)`` writes)."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
    from tensorboard.compat.proto.event_pb2 import SessionLog

    files = [list(EventFileLoader(str(p)).Load()) for p in (run / "tensorboard").glob("events.out.tfevents.*")]
    steps: list[int] = []
    for events in sorted(files, key=lambda events: events[0].wall_time):
        for event in events:
            if event.HasField("session_log") and event.session_log.status == SessionLog.START:
                steps = [s for s in steps if s < event.step]
            steps += [event.step for v in event.summary.value if v.tag == tag]
    return steps


def test_relative_data_paths_are_stored_resolved(tmp_path, monkeypatch):
    from ganatomy.bench.faults import run_cli
    from ganatomy.worlds import export_world

    export_world(tmp_path / "faces", 4, 32)
    monkeypatch.chdir(tmp_path)
    outcome = run_cli(["train", "--data", "faces", "--dry-run", "--outdir", "runs"])
    assert outcome.code == 0, outcome.stderr
    assert json.loads(outcome.stdout)["data"] == str((tmp_path / "faces").resolve())
    named = run_cli(["train", "--data", "world:32", "--dry-run"])
    assert json.loads(named.stdout)["data"] == "world:32"


def test_a_partial_dataset_json_says_how_many_images_are_left_out(tmp_path):
    from PIL import Image

    from ganatomy.bench.faults import run_cli

    data = tmp_path / "faces"
    data.mkdir()
    for name in ("a.png", "b.png", "c.png"):
        Image.new("RGB", (32, 32)).save(data / name)
    (data / "dataset.json").write_text(json.dumps({"labels": [["a.png", 0], ["b.png", 1]]}))
    outcome = run_cli(["train", "--data", str(data), "--dry-run"])
    assert outcome.code == 0
    assert "dataset.json lists 2 images; 1 other image file(s) are left out of training (e.g. c.png)" in outcome.stderr


# ---------------------------------------------------------------------- reliability: checks before side effects
def _image_folder(path: Path, size: int, labels: list | None = None, count: int = 2) -> Path:
    from PIL import Image

    path.mkdir()
    for i in range(count):
        Image.new("RGB", (size, size), (i * 40, 0, 0)).save(path / f"{i}.png")
    if labels is not None:
        (path / "dataset.json").write_text(json.dumps({"labels": [[f"{i}.png", c] for i, c in enumerate(labels)]}))
    return path


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--preset", "nosuch"], "unknown network preset 'nosuch'"),
        (["--preset", "dcgan32"], "preset 'dcgan32' is a dcgan preset, not stylegan2"),
        (["--data", "{tiny}"], "no stylegan2 preset for 2x2 images"),
        (["--data", "{huge}"], "no stylegan2 preset for 512x512 images"),
        (["--data", "{unlabelled}", "--cond"], "--cond needs a labelled dataset"),
        (["--data", "{billion}", "--cond"], "labels up to 999999999, i.e. 1000000000 classes; at most 65536"),
        (["--metrics", "fd1k_nosuchextractor"], "nosuchextractor"),
        (["--kimg", "nan"], "kimg must be > 0 and <= 1e+09, got nan"),
        (["--gamma", "-1"], "loss.r1_gamma must be >= 0"),
        (["--set", "optim.g_lr=-0.1"], "optim.g_lr must be >= 0"),
        (["--set", "optim.betas=[0.5, 1.5]"], "optim.betas must be >= 0 and < 1"),
        (["--set", "kimg=Infinity"], "kimg must be > 0"),
        (["--set", "loss.r1_interval=0"], "loss.r1_interval must be >= 1"),
        (["--set", "grid_size=0"], "grid_size must be >= 1"),
    ],
)
def test_refused_options_leave_no_run_directory(tmp_path, args, fragment):
    from ganatomy.bench.faults import run_cli

    folders = {
        "{tiny}": lambda p: _image_folder(p, 2),
        "{huge}": lambda p: _image_folder(p, 512, count=1),
        "{unlabelled}": lambda p: _image_folder(p, 32),
        "{billion}": lambda p: _image_folder(p, 32, [0, 10**9 - 1]),
    }
    args = [str(folders[a](tmp_path / "data")) if a in folders else a for a in args]
    outdir = tmp_path / "runs"
    outcome = run_cli(["train", "--options", str(_options_file(tmp_path)), "--outdir", str(outdir), *args])
    assert outcome.clean_refusal and fragment in outcome.stderr, (outcome.stderr, outcome.escaped)
    assert not outdir.exists() or not list(outdir.iterdir())


def test_a_learning_rate_of_zero_stays_zero():
    from ganatomy.train.options import OptimOptions, TrainOptions, resolve_options

    opts = resolve_options(TrainOptions(optim=OptimOptions(g_lr=0.0, d_lr=0.0)), 32, on_gpu=False)
    assert opts.optim.g_lr == 0.0 and opts.optim.d_lr == 0.0
    assert resolve_options(TrainOptions(), 32, on_gpu=False).optim.g_lr == 0.0025


def test_options_and_resume_do_not_ignore_flags(tmp_path, tiny_run):
    from ganatomy.bench.faults import run_cli

    outcome = run_cli(
        [
            "train",
            "--options",
            str(_options_file(tmp_path)),
            "--outdir",
            str(tmp_path / "other"),
            "--tick",
            "0.032",
            "--dry-run",
        ]
    )
    opts = json.loads(outcome.stdout)
    assert opts["outdir"] == str(tmp_path / "other") and opts["tick_kimg"] == 0.032  # flags beat the file
    for flag in (["--outdir", "x"], ["--data", "world:64"], ["--tick", "2"]):
        refused = run_cli(["train", "--resume", str(tiny_run["run"]), *flag])
        assert refused.clean_refusal and "only --kimg may change" in refused.stderr
