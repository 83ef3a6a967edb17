"""Importers of users' StyleGAN2 checkpoints and the faithful ``stylegan2-ref`` networks.

The fixtures (``../shared/fixtures/stylegan2-import``, or ``$GANATOMY_SG2_FIXTURES``) are tiny
random-weight checkpoints saved by NVIDIA's and rosinality's own code, with reference outputs of
that code; every reference tensor must be matched within 1e-4. Without the folder those tests
skip. The safety tests build their own hostile files and need no fixtures.
"""

from __future__ import annotations

import io
import os
import pickle
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from ganatomy.errors import CheckpointError, OptionsError
from ganatomy.nets import Generator, build_discriminator, build_generator
from ganatomy.nets.importers import UnsafePickleError, import_networks, load_foreign_generator
from ganatomy.nets.importers.safe_pickle import safe_unpickle
from ganatomy.nets.reference import StyleGAN2RefDiscriminator, StyleGAN2RefGenerator
from ganatomy.nets.reference.upfirdn import conv2d_resample, upfirdn2d, upsample2d

pytestmark = pytest.mark.usefixtures("one_thread")

FIXTURES = Path(
    os.environ.get(
        "GANATOMY_SG2_FIXTURES", Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "stylegan2-import"
    )
)
TOLERANCE = 1e-4
NVIDIA_FIXTURES = ["nvidia-sg2ada-tiny32", "nvidia-sg2ada-tiny64-c3", "nvidia-sg3-stylegan2cfg-tiny32"]
ROSINALITY_FIXTURES = ["rosinality-tiny32", "rosinality-tiny32-convertfmt"]

needs_fixtures = pytest.mark.skipif(
    not FIXTURES.is_dir(),
    reason=f"the StyleGAN2 import fixtures are not at {FIXTURES} (a checkout without ../shared; "
    "set GANATOMY_SG2_FIXTURES to their folder)",
)


def _reference(name: str) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    # Cloned: a tensor used straight from the file can take another CPU kernel path (README).
    return {k: v.clone() for k, v in load_file(FIXTURES / f"{name}.ref.safetensors").items()}


def _max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape, f"shape {list(a.shape)} != {list(b.shape)}"
    return float((a - b).abs().max())


def _generator_outputs(G: StyleGAN2RefGenerator, ref: dict[str, torch.Tensor], fused: bool) -> dict[str, torch.Tensor]:
    """The reference calls of the fixtures' README, made on the imported generator."""
    z, c = ref["z"], ref.get("c")
    with torch.no_grad():
        w = G.mapping(z, c)
        w_trunc = G.mapping(z, c, truncation_psi=0.5)
        return {
            "w": w,
            "w_trunc": w_trunc,
            "img": G(z, c, noise_mode="const", fused_modconv=fused),
            "img_trunc": G(z, c, truncation_psi=0.5, noise_mode="const", fused_modconv=fused),
            "img_from_ws": G.synthesis(ref["ws"], noise_mode="const", fused_modconv=fused),
        }


# --------------------------------------------------------------------------- reference outputs
@needs_fixtures
@pytest.mark.parametrize("name", NVIDIA_FIXTURES)
def test_nvidia_pickle_matches_every_reference_tensor(name):
    nets = import_networks(FIXTURES / f"{name}.pkl", ("G_ema", "D"))
    G, D, ref = nets["G_ema"], nets["D"], _reference(name)
    assert G.num_ws == ref["ws"].shape[1]
    for fused in (True, False):  # NVIDIA evaluates fused; trains (and we default to) non-fused
        outputs = _generator_outputs(G, ref, fused)
        for key, value in outputs.items():
            assert _max_diff(value, ref[key]) < TOLERANCE, (name, key, fused)
    with torch.no_grad():
        logits = D(ref["img"], ref.get("c"))
    assert _max_diff(logits, ref["d_logits"][:, 0]) < TOLERANCE
    expected = set(ref) - {"z", "c", "ws"}
    assert expected == {"w", "w_trunc", "img", "img_trunc", "img_from_ws", "d_logits"}  # all of them compared


@needs_fixtures
@pytest.mark.parametrize("name", ROSINALITY_FIXTURES)
def test_rosinality_checkpoint_matches_every_reference_tensor(name):
    ref = _reference("rosinality-tiny32")
    train_layout = name == "rosinality-tiny32"
    nets = import_networks(FIXTURES / f"{name}.pt", ("G_ema", "D") if train_layout else ("G_ema",))
    G = nets["G_ema"]
    # rosinality's mean_latent(4096) after torch.manual_seed(2): the global RNG, as the reference drew it.
    with torch.random.fork_rng(), torch.no_grad():
        torch.manual_seed(2)
        mean_latent = G.mapping(torch.randn(4096, G.z_dim))[:, 0].mean(0, keepdim=True)
    assert _max_diff(mean_latent, ref["truncation_latent"]) < TOLERANCE
    if train_layout:  # no latent_avg in the file: the reference passed truncation_latent explicitly
        assert nets["meta"]["w_avg"].startswith("mean w of 4096")
        G.mapping.w_avg.copy_(ref["truncation_latent"][0])
    else:  # convert_weight.py's latent_avg is the centre of truncation
        assert _max_diff(G.w_avg, ref["truncation_latent"][0]) == 0
    for fused in (True, False):
        for key, value in _generator_outputs(G, ref, fused).items():
            assert _max_diff(value, ref[key]) < TOLERANCE, (name, key, fused)
    if train_layout:
        with torch.no_grad():
            assert _max_diff(nets["D"](ref["img"]), ref["d_logits"][:, 0]) < TOLERANCE


@needs_fixtures
def test_g_and_g_ema_are_told_apart():
    for path, tensor in (
        (FIXTURES / "nvidia-sg2ada-tiny32.pkl", "synthesis.b8.conv0.weight"),
        (FIXTURES / "rosinality-tiny32.pt", "synthesis.b8.conv0.noise_const"),
    ):
        nets = import_networks(path, ("G_ema", "G"))
        assert not torch.equal(nets["G"].state_dict()[tensor], nets["G_ema"].state_dict()[tensor])
    with pytest.raises(CheckpointError, match="has no D network"):
        import_networks(FIXTURES / "rosinality-tiny32-convertfmt.pt", ("D",))


@needs_fixtures
def test_imported_generator_speaks_the_protocol_and_rebuilds_from_its_config():
    G = load_foreign_generator(FIXTURES / "nvidia-sg2ada-tiny64-c3.pkl")
    assert isinstance(G, Generator) and not any(p.requires_grad for p in G.parameters())
    assert (G.kind, G.z_dim, G.w_dim, G.c_dim, G.num_ws, G.img_resolution) == ("stylegan2-ref", 64, 64, 3, 10, 64)
    assert G.feature_names[:3] == ["b4.conv1", "b8.conv0", "b8.conv1"] and G.feature_names[-1] == "b64.conv1"
    assert G.feature_shapes()["b64.conv0"] == (8, 64, 64)
    assert G.ws_layout()[:3] == [["b4.conv1"], ["b4.torgb", "b8.conv0"], ["b8.conv1"]]
    assert G.ws_layout()[-1] == ["b64.torgb"] and len(G.ws_layout()) == G.num_ws
    assert G.style_weights()["b8.conv0"].shape == (16, 64)
    assert G.latent_shape("w+") == (10, 64)
    z, c = G.sample_latents(2, seed=0), G.sample_c(2, seed=0)
    image, feats = G.features(z, ["b16.conv1", "style:b16.conv1"], c=c, return_image=True)
    assert torch.equal(image, G.synthesize(z, "z", c=c))
    assert feats["b16.conv1"].shape == (2, 16, 16, 16) and feats["style:b16.conv1"].shape == (2, 16)
    ws = G.to_space(z, "w+", c=c)
    assert torch.equal(G.synthesize(ws, "w+"), G.synthesize(ws[:, 0], "w"))
    rebuilt = build_generator(G.kind, G.config())
    rebuilt.load_state_dict(G.state_dict())
    assert torch.equal(rebuilt.eval().synthesize(ws, "w+"), G.synthesize(ws, "w+"))
    D = import_networks(FIXTURES / "nvidia-sg2ada-tiny64-c3.pkl", ("D",))["D"]
    D2 = build_discriminator(D.kind, D.config())
    D2.load_state_dict(D.state_dict())
    with torch.no_grad():
        assert torch.equal(D2.eval()(image, c), D(image, c))
        assert D.run_heads(D.features(image), c)["adv"].shape == (2,)


# --------------------------------------------------------------------------- the network on its own
def test_reference_generator_any_size_and_protocol_basics():
    torch.manual_seed(0)
    G = StyleGAN2RefGenerator(
        z_dim=8, w_dim=8, img_resolution=8, mapping_layers=1, channel_base=64, channel_max=8, conv_clamp=0.5
    )
    assert G.num_ws == 4 and G.feature_names == ["b4.conv1", "b8.conv0", "b8.conv1"]
    z = G.sample_latents(3, seed=1)
    img = G.synthesize(z)
    assert img.shape == (3, 3, 8, 8)
    assert torch.equal(G.synthesize(z, noise_mode="const"), img)  # const noise: a function of z
    with torch.no_grad():
        feats = G.features(z, G.feature_names)
    assert all(f.abs().max() <= 0.5 for f in feats.values())  # conv_clamp bounds every conv output
    G4 = StyleGAN2RefGenerator(z_dim=4, w_dim=4, img_resolution=4, mapping_layers=1, channel_base=16, channel_max=4)
    assert G4.num_ws == 2 and G4.synthesize(G4.sample_latents(1, seed=0)).shape == (1, 3, 4, 4)


def test_fir_upsampling_of_a_delta_is_the_filter_and_conv_resample_sizes():
    f = torch.arange(16, dtype=torch.float32).reshape(4, 4) / 120
    x = torch.zeros(1, 1, 5, 5)
    x[0, 0, 2, 2] = 1
    y = upfirdn2d(x, f, padding=[1, 2, 1, 2])  # a true convolution: the delta reproduces f, not flipped
    assert torch.allclose(y[0, 0, :4, :4], f)
    assert upsample2d(torch.ones(1, 2, 4, 4), f / f.sum()).shape == (1, 2, 8, 8)
    w = torch.randn(5, 2, 3, 3)
    assert conv2d_resample(torch.randn(1, 2, 8, 8), w, f, up=2, padding=1).shape == (1, 5, 16, 16)
    assert conv2d_resample(torch.randn(1, 2, 8, 8), w, f, down=2, padding=1).shape == (1, 5, 4, 4)
    flat = upsample2d(torch.ones(1, 1, 6, 6), torch.ones(4, 4) / 16)
    assert torch.allclose(flat[0, 0, 2:-2, 2:-2], torch.ones(8, 8))  # DC gain 1 away from the border


def test_reference_discriminator_rebuilds_and_refuses_other_architectures():
    torch.manual_seed(0)
    D = StyleGAN2RefDiscriminator(c_dim=2, img_resolution=16, channel_base=64, channel_max=8, mapping_layers=2)
    img = torch.randn(4, 3, 16, 16)
    assert D(img, torch.tensor([0, 1, 1, 0])).shape == (4,)
    with pytest.raises(OptionsError, match="architecture 'skip' is not supported"):
        StyleGAN2RefDiscriminator(img_resolution=16, architecture="skip")


# --------------------------------------------------------------------------- safety
class _RunsCommand:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_malicious_pickle_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"G_ema": _RunsCommand(marker)}))
    with pytest.raises(UnsafePickleError, match=r"refused to load: the pickle asks for (posix|nt)\.system") as e:
        import_networks(path)
    assert "\n" not in str(e.value) and not marker.exists()


def test_pickle_naming_a_module_does_not_import_it(tmp_path, monkeypatch):
    marker = tmp_path / "imported"
    (tmp_path / "ganatomy_evil_module.py").write_text(f"open({str(marker)!r}, 'w').close()\ndef build(): pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    path = tmp_path / "evil.pkl"
    path.write_bytes(b"\x80\x02cganatomy_evil_module\nbuild\n)R.")  # GLOBAL, empty tuple, REDUCE
    with pytest.raises(UnsafePickleError, match="ganatomy_evil_module.build"):
        import_networks(path)
    assert not marker.exists() and "ganatomy_evil_module" not in sys.modules


def test_malicious_torch_checkpoint_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.pt"
    torch.save({"g_ema": _RunsCommand(marker)}, path)
    with pytest.raises(UnsafePickleError, match="refused to load") as e:
        import_networks(path)
    assert "\n" not in str(e.value) and not marker.exists()


@needs_fixtures
@pytest.mark.parametrize("name", ["nvidia-sg2ada-tiny32.pkl", "rosinality-tiny32.pt"])
def test_truncated_file_is_a_one_line_error(tmp_path, name):
    data = (FIXTURES / name).read_bytes()
    path = tmp_path / name
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt") as e:
        import_networks(path)
    assert "\n" not in str(e.value)
    path.write_bytes(b"")
    with pytest.raises(CheckpointError):
        import_networks(path)


def test_both_numpy_module_spellings_are_read():
    for value in (np.float64(0.25), np.arange(3.0, dtype=np.float32)):
        data = pickle.dumps(value, protocol=2)  # text GLOBAL opcodes: the names can be swapped in place
        for spelling in (b"numpy._core.multiarray", b"numpy.core.multiarray"):
            swapped = data.replace(b"numpy._core.multiarray", spelling).replace(b"numpy.core.multiarray", spelling)
            assert spelling in swapped
            np.testing.assert_array_equal(safe_unpickle(swapped), value)


def _persistent_record(class_name: str, modules: dict, kwargs: dict | None = None) -> dict:
    return {
        "type": "class",
        "version": 6,
        "module_src": "class SynthesisInput:\n    pass\n",
        "class_name": class_name,
        "state": {"_parameters": {}, "_buffers": {}, "_modules": modules, "_init_kwargs": kwargs or {}},
    }


def test_stylegan3_alias_free_network_is_refused_by_name(monkeypatch, tmp_path):
    # A pickle shaped like stylegan3-r's: persistent records whose synthesis starts with SynthesisInput.
    fake = types.ModuleType("torch_utils.persistence")

    class Record:
        def __init__(self, meta):
            self.meta = meta

        def __reduce__(self):
            return fake._reconstruct_persistent_obj, (self.meta,)

    def _reconstruct_persistent_obj(meta):  # never called: only its name goes into the pickle
        raise AssertionError

    fake._reconstruct_persistent_obj = _reconstruct_persistent_obj
    _reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
    _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
    monkeypatch.setitem(sys.modules, "torch_utils", types.ModuleType("torch_utils"))
    monkeypatch.setitem(sys.modules, "torch_utils.persistence", fake)
    synthesis = Record(
        _persistent_record("SynthesisNetwork", {"input": Record(_persistent_record("SynthesisInput", {}))})
    )
    G = Record(_persistent_record("Generator", {"synthesis": synthesis}, {"use_radial_filters": True}))
    buffer = io.BytesIO()
    pickle.dump({"G_ema": G}, buffer)
    monkeypatch.delitem(sys.modules, "torch_utils.persistence")  # the loader must not need it
    monkeypatch.delitem(sys.modules, "torch_utils")
    path = tmp_path / "sg3r.pkl"
    path.write_bytes(buffer.getvalue())
    with pytest.raises(CheckpointError, match=r"StyleGAN3 alias-free generator \(stylegan3-r .* not supported"):
        import_networks(path)


def test_unknown_suffix_and_missing_file_are_one_line_errors(tmp_path):
    with pytest.raises(CheckpointError, match="no such file"):
        import_networks(tmp_path / "missing.pkl")
    other = tmp_path / "weights.npz"
    other.write_bytes(b"x")
    with pytest.raises(CheckpointError, match="unknown file type .npz"):
        import_networks(other)


@needs_fixtures
@pytest.mark.parametrize("name", ["nvidia-sg2ada-tiny32.pkl", "rosinality-tiny32-convertfmt.pt"])
def test_load_generator_takes_foreign_files(name):
    from ganatomy.nets.load import load_generator

    G = load_generator(FIXTURES / name)
    assert G.kind == "stylegan2-ref" and not G.training and not any(p.requires_grad for p in G.parameters())
    ref = _reference(name.split(".")[0].replace("-convertfmt", ""))
    assert _max_diff(G.synthesize(ref["ws"], "w+"), ref["img_from_ws"]) < TOLERANCE


@needs_fixtures
@pytest.mark.parametrize("name", ["nvidia-sg2ada-tiny64-c3.pkl", "rosinality-tiny32-convertfmt.pt"])
def test_convert_writes_a_snapshot_that_needs_no_pickle(tmp_path, name):
    import typer
    from typer.testing import CliRunner

    from ganatomy.cli.convert import register
    from ganatomy.nets.load import load_generator
    from ganatomy.runs.checkpoint import load_checkpoint

    app = typer.Typer()
    register(app)
    app.command("unused")(lambda: None)  # two commands: typer keeps `convert` as a sub-command name
    out = tmp_path / "net.safetensors"
    result = CliRunner().invoke(app, ["convert", str(FIXTURES / name), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "max abs image difference 0" in result.output
    tree = load_checkpoint(out)
    assert tree["format"] == "ganatomy-network" and ("D" in tree) == name.endswith(".pkl")
    G = load_generator(out)
    ref = _reference(name.split(".")[0].replace("-convertfmt", ""))
    assert _max_diff(G.synthesize(ref["ws"], "w+"), ref["img_from_ws"]) < TOLERANCE
    if "D" in tree:
        D = build_discriminator(tree["D"]["kind"], tree["D"]["config"])
        D.load_state_dict(tree["D"]["state"])
        with torch.no_grad():
            assert _max_diff(D.eval()(ref["img"], ref.get("c")), ref["d_logits"][:, 0]) < TOLERANCE


def test_pickles_of_other_shapes_are_one_line_errors(tmp_path):
    path = tmp_path / "data.pkl"
    path.write_bytes(pickle.dumps({"G_ema": {"weights": [1, 2]}}))
    with pytest.raises(CheckpointError, match="not an NVIDIA network pickle"):
        import_networks(path)
    path.write_bytes(b"\x80\x02cdnnlib.tflib.network\nNetwork\n)\x81.")
    with pytest.raises(UnsafePickleError, match="TensorFlow StyleGAN pickle .* python legacy.py"):
        import_networks(path)
