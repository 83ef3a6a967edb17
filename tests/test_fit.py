"""The supervised trainer: a planted linear regression is learned, kill-and-resume is exact, NaN stops."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

from ganatomy.errors import CheckpointError, OptionsError, TrainingDiverged
from ganatomy.fit import CHECKPOINT_FILE, Trainer, warmup_cosine
from ganatomy.runs.checkpoint import load_checkpoint
from ganatomy.runs.stats import STATS_FILE

pytestmark = pytest.mark.usefixtures("one_thread")

TRUE_W = torch.tensor([[2.0, -1.0, 0.5]])
TRUE_B = 0.25


def regression_loss(model, step, gen):
    """Fresh inputs from the trainer's generator each step; y = x @ w + b exactly (no noise)."""
    x = torch.randn(64, 3, generator=gen)
    y = x @ TRUE_W.T + TRUE_B
    return {"loss": ((model(x) - y) ** 2).mean(), "abs_err": (model(x) - y).abs().mean()}


def test_schedule_warms_up_then_decays_to_the_final_fraction():
    assert warmup_cosine(0, 100, 10) == pytest.approx(0.1)
    assert warmup_cosine(9, 100, 10) == pytest.approx(1.0) and warmup_cosine(10, 100, 10) == pytest.approx(1.0)
    assert warmup_cosine(55, 100, 10) == pytest.approx(0.01 + 0.99 * 0.5)
    assert warmup_cosine(100, 100, 10) == pytest.approx(0.01) and warmup_cosine(500, 100, 10, final=0.0) == 0.0


def test_planted_linear_regression_is_learned(tmp_path):
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    lines = []
    trainer = Trainer(
        model,
        regression_loss,
        steps=300,
        lr=0.05,
        warmup=10,
        run_dir=tmp_path,
        progress=False,
        log=lines.append,
        log_every=100,
    ).fit()
    assert torch.allclose(model.weight.detach(), TRUE_W, atol=1e-3)
    assert model.bias.item() == pytest.approx(TRUE_B, abs=1e-3)
    assert trainer.step == 300 and trainer.last_values["loss"] < 1e-5 and trainer.seconds > 0
    assert [p[0] for p in trainer.curve] == list(range(10, 301, 10)) and trainer.curve[-1][1] < trainer.curve[0][1]
    assert all(line.startswith("step ") for line in lines) and len(lines) == 3 and "abs_err=" in lines[-1]
    records = [json.loads(line) for line in (tmp_path / STATS_FILE).read_text().splitlines()]
    assert [r["step"] for r in records] == list(range(10, 301, 10)) and "abs_err" in records[0]
    assert records[-1]["loss"] == pytest.approx(trainer.curve[-1][1], abs=1e-6)
    assert not (tmp_path / CHECKPOINT_FILE).exists()  # checkpoint_every=0: none


class Killed(Exception):
    pass


class ShuffledLoss:
    """A loss with state of its own (an epoch order drawn from the generator), and a planted kill."""

    def __init__(self, kill_at: int | None = None):
        self.data = torch.randn(40, 3, generator=torch.Generator().manual_seed(7))
        self.order = None
        self.kill_at = kill_at

    def __call__(self, model, step, gen):
        if step == self.kill_at:
            raise Killed(f"killed at step {step}")
        pos = (step % 5) * 8
        if pos == 0:
            self.order = torch.randperm(40, generator=gen)
        x = self.data[self.order[pos : pos + 8]]
        x = x + 0.1 * torch.randn(x.shape, generator=gen)
        return {"loss": ((model(x) - x.sum(dim=1, keepdim=True)) ** 2).mean()}

    def state_dict(self):
        return {"order": self.order}

    def load_state_dict(self, state):
        self.order = state["order"]


def _dropout_model(seed: int) -> nn.Module:
    torch.manual_seed(seed)  # dropout draws from the global RNG, which the checkpoint restores
    return nn.Sequential(nn.Linear(3, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 1))


def _trainer(model, loss, run_dir, **kwargs):
    return Trainer(
        model,
        loss,
        steps=33,
        lr=0.02,
        weight_decay=0.01,
        warmup=4,
        seed=3,
        max_grad_norm=5.0,
        run_dir=run_dir,
        checkpoint_every=10,
        progress=False,
        **kwargs,
    )


def test_kill_and_resume_ends_with_the_weights_of_an_uninterrupted_run(tmp_path):
    whole = _trainer(_dropout_model(0), ShuffledLoss(), tmp_path / "whole").fit()

    with pytest.raises(Killed):
        _trainer(_dropout_model(0), ShuffledLoss(kill_at=25), tmp_path / "cut").fit()
    assert load_checkpoint(tmp_path / "cut" / CHECKPOINT_FILE)["step"] == 20
    # a new process: another initialisation, another global RNG state; the checkpoint restores all of it
    torch.manual_seed(123)
    resumed = _trainer(_dropout_model(1), ShuffledLoss(), tmp_path / "cut").fit(resume=True)

    assert resumed.step == 33
    for (name, a), b in zip(whole.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), name
    opt_a, opt_b = whole.optimizer.state_dict()["state"], resumed.optimizer.state_dict()["state"]
    assert all(torch.equal(opt_a[i]["exp_avg_sq"], opt_b[i]["exp_avg_sq"]) for i in opt_a)
    assert resumed.curve == whole.curve
    assert whole.optimizer.param_groups[0]["lr"] == resumed.optimizer.param_groups[0]["lr"]
    steps = [json.loads(line)["step"] for line in (tmp_path / "cut" / STATS_FILE).read_text().splitlines()]
    assert steps == [10, 20, 30, 33]  # the records of the killed steps 21..25 were cut back
    # resuming a finished run does nothing
    done = _trainer(_dropout_model(2), ShuffledLoss(), tmp_path / "cut").fit(resume=True)
    assert all(torch.equal(a, b) for a, b in zip(done.model.state_dict().values(), whole.model.state_dict().values()))


def test_resume_with_other_settings_is_refused(tmp_path):
    _trainer(nn.Linear(3, 1), ShuffledLoss(), tmp_path).fit()
    other = Trainer(
        nn.Linear(3, 1), ShuffledLoss(), steps=33, lr=0.5, run_dir=tmp_path, checkpoint_every=10, progress=False
    )
    with pytest.raises(CheckpointError) as excinfo:
        other.fit(resume=True)
    assert "\n" not in str(excinfo.value) and "lr=" in str(excinfo.value)
    wrong_model = _trainer(nn.Linear(3, 2), ShuffledLoss(), tmp_path)
    with pytest.raises(CheckpointError, match="does not fit"):
        wrong_model.fit(resume=True)


def test_a_nan_loss_stops_with_one_line_and_keeps_the_last_checkpoint(tmp_path):
    def loss_fn(model, step, gen):
        loss = regression_loss(model, step, gen)["loss"]
        return {"loss": loss * math.nan if step == 3 else loss}

    trainer = Trainer(
        nn.Linear(3, 1),
        loss_fn,
        steps=10,
        run_dir=tmp_path,
        checkpoint_every=1,
        progress=False,
        description="tiny regressor",
    )
    with pytest.raises(TrainingDiverged) as excinfo:
        trainer.fit()
    msg = str(excinfo.value)
    assert "\n" not in msg and "tiny regressor" in msg and "nan" in msg and "step 3" in msg
    kept = load_checkpoint(tmp_path / CHECKPOINT_FILE)
    assert kept["step"] == 3 and all(torch.isfinite(v).all() for v in kept["model"].values())


def test_bad_settings_and_loss_functions():
    with pytest.raises(OptionsError, match="steps"):
        Trainer(nn.Linear(1, 1), regression_loss, steps=0)
    with pytest.raises(OptionsError, match="run_dir"):
        Trainer(nn.Linear(1, 1), regression_loss, steps=5, checkpoint_every=2)
    with pytest.raises(OptionsError, match="lr"):
        Trainer(nn.Linear(1, 1), regression_loss, steps=5, lr=0.0)
    with pytest.raises(TypeError, match="'loss'"):
        Trainer(nn.Linear(3, 1), lambda m, s, g: {"mse": 1.0}, steps=2, progress=False).fit()
