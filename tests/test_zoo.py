"""The pretrained zoo: DigiFace DCGAN loaded into our own DCGAN class."""

from __future__ import annotations

import importlib.util

import pytest
import torch

import ganatomy.zoo as zoo
from ganatomy.errors import GanatomyError
from ganatomy.nets import DCGANGenerator, Generator
from ganatomy.zoo import ZOO, ZooError, list_pretrained, load_pretrained

HAVE_PACKAGE = importlib.util.find_spec("gan_face_generate") is not None
NO_PACKAGE = "gan-face-generate is not installed (pip install --no-deps gan-face-generate==1.1.1)"


@pytest.mark.skipif(not HAVE_PACKAGE, reason=NO_PACKAGE)
def test_digiface_dcgan_loads_and_generates_faces():
    G = load_pretrained("digiface-dcgan64")
    assert isinstance(G, DCGANGenerator) and isinstance(G, Generator)
    assert not G.training and not any(p.requires_grad for p in G.parameters())
    assert sum(p.numel() for p in G.parameters()) == 3_576_704
    z = G.sample_latents(16, seed=0)
    assert z.shape == (16, 100)
    with torch.no_grad():
        img = G(z)
    assert img.shape == (16, 3, 64, 64)
    assert img.min() >= -1 and img.max() <= 1
    assert img.std(dim=0).mean() > 0.2  # samples differ from each other
    assert img.std(dim=(2, 3)).mean() > 0.1  # and are not flat
    feats = G.features(z[:2], ["b8", "b32"])
    assert feats["b8"].shape == (2, 256, 8, 8) and feats["b32"].shape == (2, 64, 32, 32)


def test_registry_entries_describe_source_and_licence():
    assert list_pretrained() == list(ZOO)
    entry = ZOO["digiface-dcgan64"]
    assert entry.package == "gan-face-generate" and "MIT" in entry.licence and entry.description
    assert entry.install_hint == "pip install --no-deps gan-face-generate==1.1.1"


def test_missing_package_is_a_one_line_error(monkeypatch):
    monkeypatch.setattr(zoo.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ZooError) as e:
        load_pretrained("digiface-dcgan64")
    msg = str(e.value)
    assert isinstance(e.value, GanatomyError) and "\n" not in msg
    assert "pip install --no-deps gan-face-generate==1.1.1" in msg


def test_unknown_model():
    with pytest.raises(ZooError, match="unknown pretrained model"):
        load_pretrained("stylegan-ffhq")
