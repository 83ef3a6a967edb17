"""The estimator base: parameters from __init__, fitted state with a trailing underscore, save/load."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from ganatomy.base import Estimator, config_sha256, describe_generator
from ganatomy.errors import CheckpointError, GanatomyError, NotFittedError, OptionsError
from ganatomy.latent import Directions
from ganatomy.nets.unet import UNet
from ganatomy.runs.checkpoint import save_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")


class Scale(nn.Module):
    """A tiny network with a config(), as fitted state."""

    def __init__(self, width: int = 3):
        super().__init__()
        self.width = width
        self.weight = nn.Parameter(torch.zeros(width))

    def config(self):
        return {"width": self.width}


class Probe(Estimator):
    """A toy estimator whose fit stores one of every kind of fitted state."""

    fitted_types = {"net_": Scale, "directions_": Directions}

    def __init__(
        self, alpha: float = 1.0, names: tuple[str, ...] = ("a", "b"), layers: list[int] | None = None, seed: int = 0
    ):
        self.alpha = alpha
        self.names = names
        self.layers = layers
        self.seed = seed

    def fit(self, G=None):
        g = torch.Generator().manual_seed(self.seed)
        self.coef_ = torch.randn(2, 3, generator=g) * self.alpha
        self.classes_ = np.array([3, 1, 2], dtype=np.int16)
        self.score_ = 0.25
        self.history_ = [1.0, 0.5, {"step": 2, "ok": True}]
        self.net_ = Scale(3)
        with torch.no_grad():
            self.net_.weight.copy_(torch.tensor([1.0, -2.0, 0.5]))
        self.directions_ = Directions(torch.eye(3)[:2], "w+", layers=[1], num_ws=3, method="probe")
        self.generator_ = describe_generator(G, name="tiny") if G is not None else None
        return self


class OtherProbe(Probe):
    pass


def test_params_come_from_init():
    p = Probe(alpha=2.0, layers=[1, 2])
    assert p.get_params() == {"alpha": 2.0, "names": ("a", "b"), "layers": [1, 2], "seed": 0}
    assert p.set_params(alpha=3.0, seed=5) is p and p.get_params()["alpha"] == 3.0 and p.seed == 5
    with pytest.raises(OptionsError) as excinfo:
        p.set_params(beta=1)
    assert "\n" not in str(excinfo.value) and "'beta'" in str(excinfo.value) and "alpha" in str(excinfo.value)
    clone = p.fit().clone()
    assert clone.get_params() == p.get_params() and not clone.is_fitted()
    assert clone.layers is not p.layers  # a copy, not shared
    assert repr(Probe()) == "Probe(alpha=1.0, names=('a', 'b'), layers=None, seed=0)"


def test_init_must_list_and_store_its_parameters():
    class Loose(Estimator):
        def __init__(self, **kwargs):
            pass

    class Forgetful(Estimator):
        def __init__(self, size: int = 1):
            pass

    with pytest.raises(TypeError, match="explicitly"):
        Loose().get_params()
    with pytest.raises(TypeError, match="self.size"):
        Forgetful().get_params()


def test_not_fitted_is_a_one_line_error_naming_the_estimator(tmp_path):
    p = Probe()
    assert not p.is_fitted() and p.fitted_attributes() == []
    for call in (p.check_fitted, lambda: p.save(tmp_path / "p.safetensors")):
        with pytest.raises(NotFittedError) as excinfo:
            call()
        assert isinstance(excinfo.value, GanatomyError)
        assert "\n" not in str(excinfo.value) and "Probe" in str(excinfo.value)
    assert not (tmp_path / "p.safetensors").exists()
    p.fit()
    p.check_fitted()
    assert p.fitted_attributes() == ["coef_", "classes_", "score_", "history_", "net_", "directions_", "generator_"]


def test_save_and_load_give_the_same_estimator(tmp_path):
    G = UNet(3, 2, widths=[2, 4])
    p = Probe(alpha=0.5, layers=[0]).fit(G)
    path = p.save(tmp_path / "probe.safetensors")
    q = Probe.load(path)
    assert type(q) is Probe and q.get_params() == p.get_params() and isinstance(q.names, tuple)
    assert torch.equal(q.coef_, p.coef_)
    assert q.classes_.dtype == np.int16 and np.array_equal(q.classes_, p.classes_)
    assert q.score_ == 0.25 and q.history_ == p.history_
    assert isinstance(q.net_, Scale) and torch.equal(q.net_.weight, p.net_.weight) and not q.net_.training
    d = q.directions_
    assert torch.equal(d.vectors, p.directions_.vectors) and (d.space, d.layers, d.num_ws) == ("w+", (1,), 3)
    assert q.generator_ == p.generator_
    assert q.generator_["kind"] == "unet" and q.generator_["name"] == "tiny"
    assert q.generator_["config_sha256"] == config_sha256("unet", G.config())
    q.check_same_generator(G)


def test_the_generator_identity(planted):
    G = UNet(3, 2, widths=[2, 4])
    same = UNet(3, 2, widths=[2, 4])
    same.load_state_dict(G.state_dict())
    assert describe_generator(same) == describe_generator(G)
    p = Probe().fit(G)
    p.check_same_generator(same)
    with torch.no_grad():
        same.head.bias.add_(1.0)
    with pytest.raises(OptionsError, match="weights differ"):
        p.check_same_generator(same)
    with pytest.raises(OptionsError, match="architecture differ"):
        p.check_same_generator(UNet(3, 2, widths=[2, 8]))
    stub = describe_generator(planted())  # not a torch module: no weights to hash
    assert stub["weights_sha256"] is None and stub["kind"] == "planted-world"


def test_load_refuses_other_classes_versions_and_damaged_files(tmp_path, monkeypatch):
    path = Probe().fit().save(tmp_path / "probe.safetensors")

    def load_error(cls, file, *words):
        with pytest.raises(CheckpointError) as excinfo:
            cls.load(file)
        msg = str(excinfo.value)
        assert "\n" not in msg and str(file) in msg, msg
        for word in words:
            assert word in msg, msg

    load_error(OtherProbe, path, "test_base.Probe", "OtherProbe")
    monkeypatch.setattr(Probe, "state_version", 2)
    load_error(Probe, path, "state version 1", "reads 2")
    monkeypatch.undo()
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF
    (tmp_path / "corrupt.safetensors").write_bytes(bytes(data))
    load_error(Probe, tmp_path / "corrupt.safetensors", "corrupt")
    (tmp_path / "cut.safetensors").write_bytes(path.read_bytes()[:100])
    load_error(Probe, tmp_path / "cut.safetensors", "truncated")
    save_checkpoint(tmp_path / "other.safetensors", {"format": "ganatomy-directions"})
    load_error(Probe, tmp_path / "other.safetensors", "not a saved estimator")
    load_error(Probe, tmp_path / "missing.safetensors", "not found")


def test_unsavable_state_is_a_one_line_error(tmp_path):
    p = Probe().fit()
    p.set_params(seed=lambda: 0)
    with pytest.raises(CheckpointError) as excinfo:
        p.save(tmp_path / "p.safetensors")
    assert "\n" not in str(excinfo.value) and "function" in str(excinfo.value)
    p.set_params(seed=0)
    p.extra_ = nn.Linear(2, 2)  # a network that fitted_types does not declare
    with pytest.raises(CheckpointError, match="fitted_types"):
        p.save(tmp_path / "p.safetensors")
    assert not (tmp_path / "p.safetensors").exists()
