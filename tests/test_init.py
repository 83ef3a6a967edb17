"""``train --init``: fine-tuning starts from the file's G, D and G_ema; files that do not fit are one-line errors."""

from __future__ import annotations

import pytest
import torch
from typer.testing import CliRunner

from ganatomy.cli import app
from ganatomy.errors import OptionsError
from ganatomy.runs.options import options_from_dict
from ganatomy.train.init import initial_networks
from ganatomy.train.options import TrainOptions
from ganatomy.train.setup import build_run_networks
from test_import import FIXTURES, needs_fixtures
from test_train_seams import TINY_SG2, _opts, _world

pytestmark = pytest.mark.usefixtures("one_thread")


def _snapshot(tmp_path):
    """A ganatomy network snapshot of a tiny run (G_ema and D)."""
    from ganatomy.train.run import run_training

    run = run_training(_opts(TINY_SG2, outdir=str(tmp_path), kimg=0.016, snapshot_ticks=1))
    return sorted(run.glob("network-snapshot-*.safetensors"))[-1]


def test_init_from_a_snapshot_starts_from_its_weights_and_trains(tmp_path):
    from ganatomy.train.run import run_training

    path = _snapshot(tmp_path / "first")
    G, D, G_ema = build_run_networks(_opts(network={"init": str(path)}), _world())
    saved = initial_networks(path, _world(), cond=False, arch="stylegan2")
    for a, b in zip((G, D, G_ema), saved):
        for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
            torch.testing.assert_close(x, y, msg=name)
    assert G.training and D.training and not G_ema.training
    run = run_training(_opts(network={"init": str(path)}, outdir=str(tmp_path / "second"), kimg=0.016))
    assert (run / "checkpoint.safetensors").is_file()


def test_files_that_do_not_fit_are_one_line_errors(tmp_path):
    path = _snapshot(tmp_path)
    with pytest.raises(OptionsError, match="no such file"):
        initial_networks(tmp_path / "missing.pkl", _world(), cond=False, arch="stylegan2")
    with pytest.raises(OptionsError, match="trains with --arch stylegan2"):
        initial_networks(path, _world(), cond=False, arch="dcgan")
    from ganatomy.data.world import WorldDataset

    with pytest.raises(OptionsError, match="resolution 32 against the data's 64"):
        initial_networks(path, WorldDataset(res=64, size=8), cond=False, arch="stylegan2")
    with pytest.raises(OptionsError, match="classes 0 against the data's 4"):
        initial_networks(path, _world(), cond=True, arch="stylegan2")
    with pytest.raises(OptionsError, match="drop the width"):
        options_from_dict(TrainOptions, {"network": {"init": str(path), "channel_base": 256}})


@needs_fixtures
def test_init_from_an_nvidia_pickle_fine_tunes_the_faithful_networks(tmp_path):
    pickle = FIXTURES / "nvidia-sg2ada-tiny32.pkl"
    args = ["train", "--init", str(pickle), "--data", "world:32", "--kimg", "0.016", "--tick", "0.016"]
    result = CliRunner().invoke(app, [*args, "--batch", "8", "--outdir", str(tmp_path), "--no-progress"])
    assert result.exit_code == 0, result.output
    from ganatomy.nets.load import load_generator

    snapshot = sorted(tmp_path.glob("*/network-snapshot-*.safetensors"))[-1]
    G = load_generator(snapshot)
    assert G.kind == "stylegan2-ref" and torch.isfinite(G(G.sample_latents(2, seed=0))).all()
