"""The oracles: network shapes, target encoding, the shipped checkpoints on held-out data, a tiny
training run that learns and round-trips, the extractors, judges by name and the judge a dataset declares, the CLI."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from ganatomy.cli import app
from ganatomy.data.base import ImageDataset
from ganatomy.data.world import WorldDataset
from ganatomy.errors import CheckpointError, GanatomyError, OptionsError
from ganatomy.metrics.judges import Judge, judge_of, load_judge, register_judge, registered_judges
from ganatomy.oracle import (
    FashionNet,
    OracleExtractor,
    OracleSpec,
    WorldOracle,
    WorldOracleNet,
    WorldOracleTraining,
    asset_path,
    evaluate_fashion_classifier,
    evaluate_world_oracle,
    is_circular,
    load_oracle,
    r2_scores,
    read_oracle,
    save_oracle,
    train_world_oracle,
)
from ganatomy.oracle.train import augment
from ganatomy.runs.checkpoint import save_checkpoint
from ganatomy.worlds import FACTORS, PART_LABELS, FaceWorld

# One thread per library: the two cores are shared, and two threads under load were 10x slower here.
pytestmark = pytest.mark.usefixtures("one_thread")


# --- spec and network ---------------------------------------------------------------------------


def test_spec_follows_the_registry():
    spec = OracleSpec.from_world()
    cont = [f for f in FACTORS if not f.is_categorical]
    assert [t.name for t in spec.continuous] == [f.name for f in cont]
    assert [t.name for t in spec.categorical] == [f.name for f in FACTORS if f.is_categorical]
    assert spec.parts == tuple(PART_LABELS)
    circular = [t.name for t in spec.continuous if t.circular]
    # exactly the full-circle hues are circular (background_hue today), read from the ranges
    assert circular == [f.name for f in cont if f.name.endswith("_hue") and f.high - f.low == 1.0]
    assert circular == ["background_hue"] and not is_circular(FACTORS[5])  # hair_hue spans 0.18..0.88
    assert spec.regression_width == len(cont) + len(circular)
    assert OracleSpec.from_dict(spec.to_dict()) == spec


def test_encode_decode_round_trip_and_circular_wrap():
    spec = OracleSpec.from_world()
    factors = FaceWorld(32).factors_for_seeds(range(50))
    factors["background_hue"][:2] = [0.0005, 0.9995]  # next to the seam
    reg, classes = spec.encode(factors)
    assert reg.shape == (50, spec.regression_width)
    decoded = spec.decode(reg)
    for t in spec.continuous:
        err = np.abs(decoded[t.name] - factors[t.name])
        if t.circular:
            err = np.minimum(err, 1.0 - err)
        assert err.max() < 1e-5, t.name
    for t in spec.categorical:
        assert torch.equal(classes[t.name], torch.from_numpy(factors[t.name]))


def test_r2_known_answers_including_circular_error():
    spec = OracleSpec.from_world()
    rng = np.random.default_rng(0)
    true = {t.name: rng.uniform(t.low, t.high, 4000) for t in spec.continuous}
    assert all(v == pytest.approx(1.0) for v in r2_scores(spec, true, true).values())
    mean = {k: np.full_like(v, v.mean()) for k, v in true.items()}
    linear = r2_scores(spec, mean, true)
    assert linear["head_x"] == pytest.approx(0.0, abs=1e-12)
    # circular: predicting true + 0.5 turn is the worst possible guess, R^2 = 1 - (1/4)/(1/12) = -2
    shifted = dict(true, background_hue=np.mod(true["background_hue"] + 0.5, 1.0))
    assert r2_scores(spec, shifted, true)["background_hue"] == pytest.approx(-2.0, abs=0.05)
    # 0.99 for a true 0.01 is an error of 0.02, not 0.98
    small = dict(true, background_hue=np.mod(true["background_hue"] + 0.02, 1.0))
    assert r2_scores(spec, small, true)["background_hue"] == pytest.approx(1 - 0.02**2 * 12, abs=0.01)


@pytest.mark.parametrize("res", [32, 64])
def test_world_oracle_network_shapes(res):
    net = WorldOracleNet(res).eval()
    spec = net.spec
    x = torch.rand(3, 3, res, res) * 2 - 1
    with torch.no_grad():
        out = net(x)
        feats = net.features(x)
    assert out["features"].shape == (3, 256) and torch.allclose(out["features"], feats, atol=1e-6)
    assert out["regression"].shape == (3, spec.regression_width)
    assert {k: tuple(v.shape) for k, v in out["logits"].items()} == {
        t.name: (3, t.num_classes) for t in spec.categorical
    }
    assert out["mask_logits"].shape == (3, len(PART_LABELS), res, res)
    assert 0.3e6 < sum(p.numel() for p in net.parameters()) < 2e6
    with pytest.raises(GanatomyError, match="oracle input"):
        net(torch.zeros(1, 3, res // 2, res // 2))
    with pytest.raises(OptionsError, match="widths"):
        WorldOracleNet(res, widths=[8, 8])


def test_fashion_net_shapes():
    net = FashionNet().eval()
    x = torch.rand(5, 1, 32, 32)
    assert net(x).shape == (5, 10) and net.features(x).shape == (5, 128)


def test_augment_keeps_shape_and_range_and_is_seeded():
    x = WorldDataset(32, size=16).get_images(np.arange(16)).float() / 127.5 - 1
    a = augment(x, torch.Generator().manual_seed(0), 0.04, 0.5)
    b = augment(x, torch.Generator().manual_seed(0), 0.04, 0.5)
    assert torch.equal(a, b) and a.shape == x.shape and a.abs().max() <= 1
    assert 0 < (a - x).abs().mean() < 0.1  # small: the factors stay readable
    assert torch.equal(augment(x, torch.Generator(), 0.0, 0.0), x)


# --- shipped checkpoints ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["world32", "world64"])
def test_shipped_world_oracles_meet_loose_targets(name):
    oracle = load_oracle(name)
    assert isinstance(oracle, WorldOracle) and oracle.resolution == int(name[-2:])
    assert oracle.meta["command"].startswith("ganatomy oracle train")
    scores = evaluate_world_oracle(oracle, 256)
    assert scores.min_factor_r2 > 0.9, scores.r2
    assert scores.min_class_acc > 0.95, scores.accuracy
    assert scores.mask_miou > 0.85, scores.part_iou


def test_shipped_world_oracle_reads_a_planted_factor_change():
    """Moving one factor moves the oracle's reading of that factor, and not the class."""
    oracle = load_oracle("world32")
    world = FaceWorld(32)
    base = world.factors_for_seeds([123] * 5)
    base["smile"] = np.linspace(-0.9, 0.9, 5)
    read = oracle.predict(torch.from_numpy(world.render(base).images).permute(0, 3, 1, 2))
    assert np.all(np.diff(read.factors["smile"]) > 0)
    assert np.all(read.factors["hair_style"] == base["hair_style"])


def test_shipped_fashion_classifier_accuracy(real_fashion_mnist):
    clf = load_oracle("fmnist")
    assert clf.meta["command"].startswith("ganatomy oracle train-fmnist")
    assert evaluate_fashion_classifier(clf, 1000)["accuracy"] > 0.88


# --- training, save and load --------------------------------------------------------------------


def test_tiny_training_learns_and_saves_exactly(tmp_path):
    cfg = WorldOracleTraining(
        res=32, steps=40, batch=16, widths=[8, 8, 16, 16], feature_dim=32, eval_images=32, warmup=5, lr=5e-3
    )
    out = tmp_path / "tiny.safetensors"
    oracle, meta = train_world_oracle(cfg, out=out, command="test", progress=False)
    curve = [loss for _, loss in meta["loss_curve"]]
    assert len(curve) == 4 and curve[-1] < 0.7 * curve[0]
    assert meta["command"] == "test" and meta["config"]["steps"] == 40 and "heldout" in meta
    loaded = load_oracle(out)
    _, stored_meta = read_oracle(out)
    assert stored_meta["heldout"] == meta["heldout"]
    # the saved weights are the float16 rounding of the trained ones, bit for bit
    for k, v in oracle.net.state_dict().items():
        w = loaded.net.state_dict()[k]
        expected = v.half().float() if v.is_floating_point() else v
        assert torch.equal(w, expected), k
    images = WorldDataset(32, size=8, seed=5).get_images(np.arange(8))
    assert torch.equal(oracle.features(images), loaded.features(images))


def test_training_is_reproducible(tmp_path):
    cfg = WorldOracleTraining(res=32, steps=3, batch=4, widths=[4, 4, 4, 4], feature_dim=8, eval_images=4, warmup=1)
    a, _ = train_world_oracle(cfg, progress=False)
    b, _ = train_world_oracle(cfg, progress=False)
    for (k, v), w in zip(a.net.state_dict().items(), b.net.state_dict().values()):
        assert torch.equal(v, w), k


def test_load_errors(tmp_path):
    with pytest.raises(OptionsError, match="unknown oracle"):
        asset_path("world128")
    with pytest.raises(CheckpointError, match="no such oracle"):
        load_oracle("world128")
    with pytest.raises(CheckpointError, match="no such oracle"):
        load_oracle(tmp_path / "missing.safetensors")
    save_checkpoint(tmp_path / "other.safetensors", {"format": "something-else"})
    with pytest.raises(CheckpointError, match="not an oracle"):
        load_oracle(tmp_path / "other.safetensors")
    net = WorldOracleNet(32, widths=[4, 4, 4, 4], feature_dim=8)
    spec = net.spec.to_dict()
    spec["parts"] = spec["parts"][:-1]  # a world with one part less
    bad = WorldOracleNet(32, spec=spec, widths=[4, 4, 4, 4], feature_dim=8)
    save_oracle(tmp_path / "stale.safetensors", bad, {})
    with pytest.raises(CheckpointError, match="different world"):
        load_oracle(tmp_path / "stale.safetensors")


# --- extractors and the judge picker ------------------------------------------------------------


class _Tensors(ImageDataset):
    def __init__(self, images):
        self.images, self.name, self.resolution, self.channels = images, "tensors", images.shape[-1], images.shape[1]
        self.num_classes, self.labels = 0, np.full(len(images), -1)

    def __len__(self):
        return len(self.images)

    def get_images(self, indices):
        return self.images[torch.as_tensor(indices)]


def test_oracle_extractor_features_and_identity():
    ext = OracleExtractor(load_oracle("world32"))
    images = WorldDataset(32, size=6, seed=9).get_images(np.arange(6))
    feats = ext(images)
    assert feats.shape == (6, 256) and torch.isfinite(feats).all()
    # uint8 and the same images as [-1, 1] floats give the same features
    assert torch.allclose(ext(images.float() / 127.5 - 1), feats, atol=1e-5)
    assert ext.describe()["config"]["oracle"] == "world32" and len(ext.weights_sha256) == 64


def test_a_dataset_declares_its_judge(tmp_path):
    from ganatomy.data.fashion_mnist import FashionMNIST
    from ganatomy.data.folder import ImageFolderDataset
    from ganatomy.worlds import export_world

    world = WorldDataset(32, size=4)
    assert judge_of(world) == "oracle" and judge_of(world.with_labels(np.full(4, -1))) == "oracle"
    assert FashionMNIST.judge == "fmnist"
    # nothing is read from the name: a set called "world..." without a declaration gets the generic judge
    named_world = _Tensors(torch.zeros(2, 3, 32, 32, dtype=torch.uint8))
    named_world.name = "world32"
    assert judge_of(named_world) == "effnet"
    # a folder declares its judge in dataset.json; the world exporter writes it
    assert judge_of(ImageFolderDataset(export_world(tmp_path / "w", count=2, res=32))) == "oracle"
    named_world.judge = "no-such-judge"
    with pytest.raises(OptionsError, match="unknown judge 'no-such-judge'; known: effnet, fmnist, oracle"):
        judge_of(named_world)


def test_judges_are_registered_by_name():
    assert {"oracle", "fmnist", "effnet"} <= set(registered_judges())
    oracle = load_judge("oracle", 64)
    assert oracle.name == "world64" and load_judge("oracle", 32).name == "world32"
    with pytest.raises(OptionsError, match="features only"):
        load_judge("effnet")
    with pytest.raises(OptionsError, match="already registered"):
        register_judge(Judge("oracle", lambda resolution, device, bf16: None))


# --- CLI ----------------------------------------------------------------------------------------


def test_cli_oracle_train_records_its_command(tmp_path):
    out = tmp_path / "o.safetensors"
    args = [
        "oracle",
        "train",
        "--res",
        "32",
        "--steps",
        "2",
        "--batch",
        "4",
        "--widths",
        "4,4,4,4",
        "--eval-images",
        "8",
        "--out",
        str(out),
        "--no-progress",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    _, meta = read_oracle(out)
    # the command as resolved: every option spelled out, so it re-creates the checkpoint
    assert meta["command"].startswith("ganatomy oracle train --res 32 --steps 2 --batch 4 ")
    assert f"--out {out}" in meta["command"] and meta["config"]["widths"] == [4, 4, 4, 4]
    assert "mIoU" in result.output and math.isfinite(meta["heldout"]["mask_miou"])
