"""Networks: shapes at every preset, modulated conv identities, the generator protocol, D heads."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

from ganatomy.errors import OptionsError
from ganatomy.nets import (
    PRESETS,
    DCGANGenerator,
    Generator,
    ShapeError,
    StyleGAN2Generator,
    build_discriminator,
    build_generator,
    get_preset,
)
from ganatomy.nets.layers import modulated_conv2d
from ganatomy.nets.mapping import prior_class

CPU_PRESETS = ["cpu32", "cpu64", "dcgan32", "dcgan64"]


def _count(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def _tiny_sg2(c_dim: int = 0, res: int = 16, seed: int = 0) -> StyleGAN2Generator:
    torch.manual_seed(seed)
    return StyleGAN2Generator(img_resolution=res, z_dim=16, w_dim=16, c_dim=c_dim, channel_base=256, channel_max=32)


def _randomize_(module: nn.Module, seed: int = 0) -> None:
    """Perturb every parameter, noise strengths and biases included (they start at 0 or 1)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.5)


def _no_hooks(module: nn.Module) -> bool:
    return all(not m._forward_hooks and not m._forward_pre_hooks for m in module.modules())


# --------------------------------------------------------------------------- presets and shapes
@pytest.mark.parametrize("name", CPU_PRESETS)
def test_cpu_presets_shapes_and_dtypes(name):
    preset = get_preset(name)
    G = preset.build_generator(c_dim=3)  # conditional G and projection D, for both architectures
    D = preset.build_discriminator(c_dim=3)
    r = preset.resolution
    assert isinstance(G, Generator)
    assert (G.img_resolution, G.img_channels, G.c_dim) == (r, 3, 3)
    assert 0.6e6 < _count(G) < 4e6 and 0.6e6 < _count(D) < 4e6
    z = G.sample_latents(3, seed=0)
    c = torch.tensor([0, 1, 2])
    with torch.no_grad():
        img = G(z, c)
        logits = D(img, c)
    assert img.shape == (3, 3, r, r) and img.dtype == torch.float32
    assert logits.shape == (3,) and logits.dtype == torch.float32  # batch 3: mbstd group adapts
    # bf16 autocast + channels_last, as the training loop runs them; G+D backward works.
    G, D = G.to(memory_format=torch.channels_last), D.to(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        img = G(z, c)
        logits = D(img, c)
    assert img.shape == (3, 3, r, r) and img.dtype == torch.bfloat16
    assert logits.dtype == torch.float32
    logits.sum().backward()
    grads = [p.grad for p in G.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


def test_gray_images():
    G = get_preset("cpu32").build_generator(img_channels=1)
    D = get_preset("dcgan32").build_discriminator(img_channels=1)
    with torch.no_grad():
        img = G(G.sample_latents(2, seed=0))
        assert img.shape == (2, 1, 32, 32) and D(img).shape == (2,)


@pytest.mark.parametrize("name,res", [("gpu32", 32), ("gpu64", 64), ("gpu256", 256)])
def test_gpu_presets_construct(name, res):
    with torch.device("meta"):  # count without allocating full-size weights
        G = get_preset(name).build_generator()
        D = get_preset(name).build_discriminator()
    assert G.num_ws == 2 * int(math.log2(res)) - 2 and G.w_dim == 512
    assert 20e6 < _count(G) < 32e6 and 20e6 < _count(D) < 32e6


def test_preset_registry():
    assert set(PRESETS) >= {"cpu32", "cpu64", "gpu32", "gpu64", "gpu256", "dcgan32", "dcgan64"}
    assert get_preset("cpu32").generator_config()["prior"]["num_layers"] == 2
    with pytest.raises(OptionsError, match="unknown network preset"):
        get_preset("cpu128")
    with pytest.raises(OptionsError, match="not dcgan"):
        get_preset("cpu32", arch="dcgan")
    assert get_preset("dcgan32").build_generator(c_dim=3).c_dim == 3  # DCGAN G is conditional too


def test_dcgan64_state_dict_layout():
    keys = set(get_preset("dcgan64").build_generator().state_dict())
    assert {"main.0.weight", "main.1.running_mean", "main.12.weight"} <= keys
    assert tuple(DCGANGenerator().state_dict()["main.0.weight"].shape) == (100, 512, 4, 4)


# --------------------------------------------------------------------------- modulated conv
@pytest.mark.parametrize("demodulate", [True, False])
@pytest.mark.parametrize("up", [False, True])
@pytest.mark.parametrize("k", [3, 1])
def test_fast_modconv_equals_fused(demodulate, up, k):
    g = torch.Generator().manual_seed(k + 2 * up + 4 * demodulate)
    x = torch.randn(3, 12, 8, 8, generator=g)
    weight = torch.randn(10, 12, k, k, generator=g)
    styles = torch.randn(3, 12, generator=g)  # random signs and scales
    fast = modulated_conv2d(x, weight, styles, demodulate=demodulate, up=up)
    fused = modulated_conv2d(x, weight, styles, demodulate=demodulate, up=up, fused=True)
    assert fast.shape == (3, 10, 8 * (1 + up), 8 * (1 + up))
    torch.testing.assert_close(fast, fused, atol=1e-5, rtol=1e-5)


def test_generator_fast_equals_fused_reference():
    G = _tiny_sg2(c_dim=2)
    _randomize_(G)
    z, c = G.sample_latents(4, seed=1), torch.tensor([0, 1, 1, 0])
    with torch.no_grad():
        fast = G(z, c, noise_mode="const")
        fused = G(z, c, noise_mode="const", fused_modconv=True)
    torch.testing.assert_close(fast, fused, atol=1e-5, rtol=1e-5)
    fused_G = StyleGAN2Generator(**{**G.config(), "fused_modconv": True})
    fused_G.load_state_dict(G.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(fused_G(z, c, noise_mode="const"), fast, atol=1e-5, rtol=1e-5)


def test_demodulation_gives_unit_variance():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(8, 64, 20, 20, generator=g)
    weight = torch.randn(32, 64, 3, 3, generator=g) * 7.0  # scale of W and s must not matter
    styles = torch.rand(8, 64, generator=g) * 3 + 0.1
    y = modulated_conv2d(x, weight, styles)[:, :, 1:-1, 1:-1]  # away from the zero padding
    assert abs(y.std().item() - 1.0) < 0.05
    per_channel = y.transpose(0, 1).reshape(32, -1).std(dim=1)
    assert ((per_channel - 1).abs() < 0.25).all()


def test_modconv_under_bf16_autocast():
    g = torch.Generator().manual_seed(0)
    x, weight = torch.randn(2, 8, 8, 8, generator=g), torch.randn(4, 8, 3, 3, generator=g)
    styles = torch.randn(2, 8, generator=g)
    ref = modulated_conv2d(x, weight, styles)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        for fused in (False, True):
            y = modulated_conv2d(x, weight, styles, fused=fused)
            assert y.dtype == torch.bfloat16
            assert (y.float() - ref).abs().max() < 0.05 * ref.abs().max()


# --------------------------------------------------------------------------- W, W+, truncation, mixing
def test_w_and_wplus_equivalence():
    G = _tiny_sg2()
    _randomize_(G)
    z = G.sample_latents(3, seed=2)
    with torch.no_grad():
        w = G.to_space(z, "w")
        wp = G.to_space(z, "w+")
        assert w.shape == (3, G.w_dim) and wp.shape == (3, G.num_ws, G.w_dim)
        assert torch.equal(wp, w.unsqueeze(1).expand_as(wp))
        from_w = G.synthesize(w, "w")
        assert torch.equal(from_w, G.synthesize(w.unsqueeze(1).repeat(1, G.num_ws, 1), "w+"))
        assert torch.equal(from_w, G.synthesize(z, "z"))
        assert torch.equal(from_w, G.synthesis(w, noise_mode="const"))
    assert G.latent_shape("w+") == (G.num_ws, G.w_dim)


def test_truncation():
    G = _tiny_sg2()
    G.prior.w_avg.copy_(torch.randn(G.w_dim))
    z = G.sample_latents(5, seed=3)
    with torch.no_grad():
        ws = G.mapping(z)
        assert torch.equal(G.mapping(z, truncation_psi=1.0), ws)
        at_avg = G.mapping(z, truncation_psi=0.0)
        assert torch.allclose(at_avg, G.w_avg.expand_as(at_avg))
        half = G.mapping(z, truncation_psi=0.5, truncation_cutoff=2)
        assert torch.allclose(half[:, :2], (ws[:, :2] + G.w_avg) / 2, atol=1e-6)
        assert torch.equal(half[:, 2:], ws[:, 2:])


def test_w_avg_tracking():
    G = _tiny_sg2()
    G.prior.w_avg.fill_(1.0)
    z = G.sample_latents(6, seed=4)
    with torch.no_grad():
        w = G.to_space(z, "w")
        G(z, update_w_avg=True)
    assert torch.allclose(G.w_avg, w.mean(0).lerp(torch.ones(G.w_dim), 0.995), atol=1e-6)
    with torch.no_grad():
        G(z)  # not updated unless asked
    assert torch.allclose(G.w_avg, w.mean(0).lerp(torch.ones(G.w_dim), 0.995), atol=1e-6)


def test_style_mixing_uses_second_w_after_cutoff():
    G = _tiny_sg2(c_dim=2)
    n = 16
    z, c = G.sample_latents(n, seed=5), torch.arange(n) % 2
    with torch.no_grad():
        w1 = G.to_space(z, "w", c)
        mixed = G.mapping(z, c, mixing_prob=1.0, generator=torch.Generator().manual_seed(9))
        again = G.mapping(z, c, mixing_prob=1.0, generator=torch.Generator().manual_seed(9))
        w2 = G.prior(G.prior.sample_z(n, torch.Generator().manual_seed(9)), nn.functional.one_hot(c, 2).float())
    assert torch.equal(mixed, again)  # the generator decides everything
    cutoffs = []
    for i in range(n):
        is_w1 = [torch.allclose(mixed[i, k], w1[i]) for k in range(G.num_ws)]
        is_w2 = [torch.allclose(mixed[i, k], w2[i]) for k in range(G.num_ws)]
        cut = is_w1.index(False)
        assert 1 <= cut < G.num_ws
        assert all(is_w1[:cut]) and all(is_w2[cut:])
        cutoffs.append(cut)
    assert len(set(cutoffs)) > 1  # cutoffs are drawn per sample
    with torch.no_grad():
        assert torch.equal(G.mapping(z, c, mixing_prob=0.0, generator=torch.Generator()), G.mapping(z, c))


# --------------------------------------------------------------------------- conditioning and D heads
def test_conditional_generator():
    G = _tiny_sg2(c_dim=4)
    z = G.sample_latents(1, seed=6).repeat(4, 1)
    with torch.no_grad():
        w = G.to_space(z, "w", torch.arange(4))
        w_onehot = G.to_space(z, "w", torch.eye(4))
    assert torch.equal(w, w_onehot)
    assert torch.cdist(w, w).triu(1)[torch.triu(torch.ones(4, 4), 1).bool()].min() > 1e-3
    with pytest.raises(OptionsError, match="class-conditional"):
        G(z)
    with pytest.raises(ShapeError):
        G(z, torch.arange(4) + 1)  # label 4 is out of range
    assert G.sample_c(3, seed=0).shape == (3, 4)


@pytest.mark.parametrize("name", ["cpu32", "dcgan32"])
def test_projection_discriminator_depends_on_labels(name):
    preset = get_preset(name)
    D = preset.build_discriminator(c_dim=3)
    _randomize_(D.heads)
    img = torch.randn(2, 3, 32, 32).repeat(3, 1, 1, 1)
    with torch.no_grad():
        logits = D(img, torch.tensor([0, 0, 1, 1, 2, 2]))
    assert logits.shape == (6,)
    assert (logits[0::2] - logits[0:1]).abs()[1:].min() > 1e-4  # same image, other class
    D0 = preset.build_discriminator()
    with torch.no_grad():
        assert torch.equal(D0(img), D0(img, torch.zeros(6, dtype=torch.long)))  # unconditional ignores c


@pytest.mark.parametrize("name", ["cpu32", "dcgan32"])
def test_add_head_without_touching_discriminator(name):
    D = get_preset(name).build_discriminator(c_dim=3)
    img, c = torch.randn(4, 3, 32, 32), torch.tensor([0, 1, 2, 0])
    with torch.no_grad():
        before = D(img, c)
    D.add_head("rot", {"kind": "linear", "out": 4})
    D.add_head("cls", {"kind": "linear", "out": 3})
    with torch.no_grad():
        assert torch.equal(D(img, c), before)
        h = D.trunk(img)
        out = D.run_heads(h, c)
    assert h.shape == (4, D.feat_dim)
    assert out["rot"].shape == (4, 4) and out["cls"].shape == (4, 3) and torch.equal(out["adv"], before)
    assert "heads.rot.weight" in D.state_dict()
    with pytest.raises(OptionsError, match="already has"):
        D.add_head("rot", {"kind": "linear", "out": 4})
    with pytest.raises(OptionsError, match="no head"):
        D.run_heads(h, c, ["missing"])


# --------------------------------------------------------------------------- protocol
def test_features_shapes_and_no_hooks_left():
    G = _tiny_sg2()
    z = G.sample_latents(2, seed=7, generator=None)
    names = G.feature_names
    assert names[0] == "b4.conv1" and names[-1] == "b16.conv1"
    feats = G.features(z, names)
    for name, shape in G.feature_shapes().items():
        assert feats[name].shape == (2, *shape)
    assert _no_hooks(G)
    # Early stop, W space, and gradients to the latent.
    w = G.to_space(z, "w").detach().requires_grad_(True)
    f = G.features(w, ["b8.conv0"], space="w")
    f["b8.conv0"].sum().backward()
    assert w.grad is not None and _no_hooks(G)
    with pytest.raises(OptionsError, match="unknown feature"):
        G.features(z, ["b99.conv0"])
    assert _no_hooks(G)


def test_dcgan_protocol():
    G = get_preset("dcgan32").build_generator().eval()
    assert G.latent_spaces == ("z",) and G.num_ws == 1 and G.c_dim == 0 and G.w_dim == 0
    assert G.ws_layout() == [] and G.style_names == [] and G.sample_c(2, seed=0) is None
    z = G.sample_latents(3, seed=0)
    assert torch.equal(z, G.sample_latents(3, seed=0)) and not torch.equal(z, G.sample_latents(3, seed=1))
    with torch.no_grad():
        img = G(z)
        assert torch.equal(G.synthesize(z, "z"), img) and img.abs().max() <= 1
        feats = G.features(z, G.feature_names)
    assert G.feature_names == ["b4", "b8", "b16"]
    for name, shape in G.feature_shapes().items():
        assert feats[name].shape == (3, *shape)
    assert _no_hooks(G)
    with pytest.raises(OptionsError, match="not available"):
        G.to_space(z, "w")
    with pytest.raises(ShapeError, match="z: expected shape"):
        G(torch.randn(3, 7))


def test_config_round_trip_through_json():
    for G in (_tiny_sg2(c_dim=2), get_preset("dcgan32").build_generator()):
        cfg = json.loads(json.dumps(G.config()))
        G2 = build_generator(G.kind, cfg)
        G2.load_state_dict(G.state_dict())
        z = G.sample_latents(2, seed=0)
        c = torch.tensor([0, 1]) if G.c_dim else None
        with torch.no_grad():
            assert torch.equal(G.eval().synthesize(z, c=c), G2.eval().synthesize(z, c=c))
    D = get_preset("cpu32").build_discriminator(c_dim=2)
    D2 = build_discriminator(D.kind, json.loads(json.dumps(D.config())))
    D2.load_state_dict(D.state_dict())
    with pytest.raises(OptionsError, match="unknown config key"):
        build_generator("stylegan2", {"bogus": 1})
    with pytest.raises(OptionsError, match="unknown generator kind"):
        build_generator("biggan", {})
    with pytest.raises(OptionsError, match="unknown latent prior"):
        prior_class("os:system")


def test_user_shape_errors_are_one_line():
    G = _tiny_sg2()
    with pytest.raises(ShapeError) as e:
        G.synthesize(torch.randn(2, G.num_ws + 1, G.w_dim), "w+")
    assert "\n" not in str(e.value)
    with pytest.raises(OptionsError, match="noise_mode"):
        G(G.sample_latents(1, seed=0), noise_mode="loud")


# --------------------------------------------------------------------------- protocol: shapes, passes, layout
def _hook_counter(module: nn.Module) -> tuple[list[int], torch.utils.hooks.RemovableHandle]:
    calls = [0]

    def count(*_args):
        calls[0] += 1

    return calls, module.register_forward_hook(count)


@pytest.mark.parametrize("name", ["cpu32", "dcgan32", "dcgan64"])
def test_feature_shapes_are_the_forward_shapes_and_return_image_is_the_image(name):
    torch.manual_seed(0)
    G = get_preset(name).build_generator().eval()
    z = G.sample_latents(2, seed=0)
    with torch.no_grad():
        image, feats = G.features(z, G.feature_names, return_image=True)
        reference = G.synthesize(z)
    assert set(G.feature_shapes()) == set(G.feature_names)
    assert {n: tuple(f.shape) for n, f in feats.items()} == {n: (2, *s) for n, s in G.feature_shapes().items()}
    assert torch.equal(image, reference)
    assert isinstance(G, Generator) and G.latent_shape("z") == (G.z_dim,)


def test_features_stop_after_the_last_requested_map():
    G = _tiny_sg2()
    last_torgb = G.synthesis.blocks()[-1].torgb
    calls, handle = _hook_counter(last_torgb)
    z = G.sample_latents(2, seed=0)
    with torch.no_grad():
        G.features(z, ["b8.conv0", "b4.conv1"])
        assert calls[0] == 0  # the pass stopped at b8.conv0, before any later layer ran
        G.features(z, ["b8.conv0"], return_image=True)
        assert calls[0] == 1  # return_image runs the whole pass
        G.features(z, ["style:b16.torgb"])  # the last style code: everything up to the last ToRGB's affine
        assert calls[0] == 1
    handle.remove()
    D = get_preset("dcgan32").build_generator().eval()
    calls, handle = _hook_counter(D.main[-1])  # the final tanh
    with torch.no_grad():
        D.features(D.sample_latents(2, seed=0), ["b8"])
        assert calls[0] == 0
        D.features(D.sample_latents(2, seed=0), ["b8"], return_image=True)
        assert calls[0] == 1
    handle.remove()
    assert _no_hooks(G) and _no_hooks(D)


def test_ws_layout_names_the_layers_that_read_each_row():
    G = _tiny_sg2()
    _randomize_(G)
    layout = G.ws_layout()
    layers = [name.removeprefix("style:") for name in G.style_names]
    assert len(layout) == G.num_ws
    assert sorted(n for row in layout for n in row) == sorted(layers)  # every layer exactly once
    assert layout[0] == ["b4.conv1"] and layout[1] == ["b4.torgb", "b8.conv0"] and layout[-1] == ["b16.torgb"]
    # Known answer: moving row i moves exactly the style codes of the layers in row i.
    ws = G.to_space(G.sample_latents(2, seed=1), "w+").detach()
    with torch.no_grad():
        base = G.features(ws, G.style_names, space="w+")
        for i, row in enumerate(layout):
            moved = ws.clone()
            moved[:, i] += 1.0
            styles = G.features(moved, G.style_names, space="w+")
            changed = sorted(n.removeprefix("style:") for n in styles if not torch.equal(styles[n], base[n]))
            assert changed == sorted(row), (i, changed, row)


def test_style_codes_are_the_affine_of_w():
    G = _tiny_sg2(c_dim=2)
    _randomize_(G)
    w = G.to_space(G.sample_latents(3, seed=2), "w", c=torch.tensor([0, 1, 1])).detach()
    weights = G.style_weights()
    assert list(weights) == [n.removeprefix("style:") for n in G.style_names]
    styles = G.features(w, G.style_names, space="w")
    for layer, weight in weights.items():
        affine = G.get_submodule("synthesis." + layer).affine
        by_hand = w @ (affine.weight * affine.weight_gain).T + affine.bias * affine.bias_gain
        assert weight.shape == (affine.out_features, G.w_dim) and not weight.requires_grad
        torch.testing.assert_close(styles["style:" + layer], by_hand)
        torch.testing.assert_close(w @ weight.T + affine.bias * affine.bias_gain, by_hand)


def test_dcgan_style_weight_is_the_first_layer_as_a_matrix():
    G = get_preset("dcgan32").build_generator().eval()
    z = G.sample_latents(3, seed=0)
    (weight,) = G.style_weights().values()
    with torch.no_grad():
        first = G.main[0](z.reshape(3, G.z_dim, 1, 1))  # [3, C, 4, 4]
    torch.testing.assert_close(z @ weight.T, first.flatten(1))


def test_latent_stats():
    G = _tiny_sg2(c_dim=3)
    _randomize_(G)
    mean, std = G.latent_stats("z", n=10_000, seed=0)
    assert mean.shape == std.shape == (G.z_dim,)
    assert mean.abs().max() < 0.05 and (std - 1).abs().max() < 0.05  # N(0, I)
    # W: the mean and spread of the same samples mapped by hand (one batch of 500).
    mean_w, std_w = G.latent_stats("w", n=500, seed=3)
    g = torch.Generator().manual_seed(3)
    z = G.sample_latents(500, generator=g)
    with torch.no_grad():
        w = G.to_space(z, "w", c=G.sample_c(500, generator=g))
    torch.testing.assert_close(mean_w, w.mean(0), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(std_w, w.std(0), atol=1e-5, rtol=1e-5)
    mean_wp, _ = G.latent_stats("w+", n=500, seed=3)
    assert mean_wp.shape == G.latent_shape("w+")
    torch.testing.assert_close(mean_wp, mean_w.expand_as(mean_wp))
    with pytest.raises(OptionsError, match="not available"):
        get_preset("dcgan32").build_generator().latent_stats("w")


def test_sample_c_draws_one_hot_rows():
    G = _tiny_sg2(c_dim=4)
    c = G.sample_c(200, seed=0)
    assert c.shape == (200, 4) and torch.equal(c.sum(1), torch.ones(200))
    assert set(c.unique().tolist()) == {0.0, 1.0} and torch.equal(c, G.sample_c(200, seed=0))
    assert c.sum(0).min() > 30  # every class is drawn
    assert _tiny_sg2().sample_c(3, seed=0) is None


# --------------------------------------------------------------------------- conditional DCGAN
@pytest.mark.parametrize("res", [32, 64])
def test_conditional_dcgan(res):
    torch.manual_seed(0)
    preset = get_preset(f"dcgan{res}")
    G = preset.build_generator(c_dim=3).eval()
    assert isinstance(G, Generator) and G.c_dim == 3 and G.config()["c_dim"] == 3
    z = G.sample_latents(1, seed=0).repeat(3, 1)
    with torch.no_grad():
        img = G(z, torch.arange(3))
        assert img.shape == (3, 3, res, res)
        assert (img[1:] - img[:1]).abs().flatten(1).max(1).values.min() > 1e-3  # same z, other class
        assert torch.equal(G(z, torch.eye(3)), img)  # indices and one-hot rows agree
        feats = G.features(z, G.feature_names, c=torch.arange(3))
    assert {n: tuple(f.shape[1:]) for n, f in feats.items()} == G.feature_shapes()
    with pytest.raises(OptionsError, match="class-conditional"):
        G(z)
    # The unconditional parameter names are unchanged; conditioning only adds class_norms.
    uncond = set(preset.build_generator().state_dict())
    cond = set(G.state_dict())
    assert uncond < cond and all(k.startswith("class_norms.") for k in cond - uncond)
    G2 = build_generator("dcgan", json.loads(json.dumps(G.config())))
    G2.load_state_dict(G.state_dict())
    D = preset.build_discriminator(c_dim=3)  # projection D
    with torch.no_grad():
        assert torch.equal(G2.eval()(z, torch.arange(3)), img) and D(img, torch.arange(3)).shape == (3,)


def test_conditional_dcgan_trains_its_class_norms():
    G = get_preset("dcgan32").build_generator(c_dim=2)
    z = G.sample_latents(4, seed=0)
    G(z, torch.tensor([0, 1, 0, 1])).square().mean().backward()
    assert all(m.weight.grad is not None and m.weight.grad.abs().sum() > 0 for m in G.class_norms)


# --------------------------------------------------------------------------- the generator loader
def _snapshot(tmp_path, G, fmt: str = "ganatomy-network", key: str = "G_ema"):
    from ganatomy.runs.checkpoint import save_checkpoint

    path = tmp_path / f"{fmt}.safetensors"
    save_checkpoint(path, {"format": fmt, key: {"kind": G.kind, "config": G.config(), "state": G.state_dict()}})
    return path


@pytest.mark.parametrize(
    "fmt,key", [("ganatomy-network", "G_ema"), ("ganatomy-train-state", "G_ema"), ("ganatomy-generator", "G")]
)
def test_load_generator_freezes_and_latents_still_get_gradients(tmp_path, fmt, key):
    import ganatomy
    from ganatomy.nets import load_generator

    G = _tiny_sg2(c_dim=2)
    _randomize_(G)
    loaded = ganatomy.load_generator(_snapshot(tmp_path, G, fmt, key))
    assert ganatomy.load_generator is load_generator
    assert isinstance(loaded, StyleGAN2Generator) and not loaded.training
    assert not any(p.requires_grad for p in loaded.parameters())
    z = G.sample_latents(2, seed=0)
    with torch.no_grad():
        assert torch.equal(loaded.synthesize(z, c=torch.tensor([0, 1])), G.eval().synthesize(z, c=torch.tensor([0, 1])))
    wp = loaded.to_space(z, "w+", c=torch.tensor([0, 1])).detach().requires_grad_(True)
    loaded.synthesize(wp, "w+").square().mean().backward()
    assert wp.grad is not None and wp.grad.abs().sum() > 0
    assert all(p.grad is None for p in loaded.parameters())


def test_load_generator_dispatches_zoo_names(monkeypatch):
    import ganatomy.zoo as zoo
    from ganatomy.nets import load_generator

    name = next(iter(zoo.ZOO))
    asked = []

    def fake_load_pretrained(n, device="cpu"):
        asked.append(n)
        return _tiny_sg2()  # trainable on purpose: the loader freezes whatever it returns

    monkeypatch.setattr(zoo, "load_pretrained", fake_load_pretrained)
    G = load_generator(name)
    assert asked == [name] and not G.training and not any(p.requires_grad for p in G.parameters())


def test_load_generator_errors_are_one_line(tmp_path):
    from ganatomy.errors import CheckpointError
    from ganatomy.nets import load_generator
    from ganatomy.runs.checkpoint import save_checkpoint
    from ganatomy.zoo import ZOO

    with pytest.raises(CheckpointError) as e:
        load_generator(tmp_path / "missing.safetensors")
    message = str(e.value)
    assert "\n" not in message and "missing.safetensors" in message and all(name in message for name in ZOO)
    save_checkpoint(tmp_path / "other.safetensors", {"format": "ganatomy-directions"})
    with pytest.raises(CheckpointError, match="not a network snapshot"):
        load_generator(tmp_path / "other.safetensors")
    G = _tiny_sg2()
    path = _snapshot(tmp_path, G)
    from ganatomy.runs.checkpoint import load_checkpoint

    tree = load_checkpoint(path)
    tree["G_ema"]["config"]["channel_max"] = 64  # weights no longer fit the config
    save_checkpoint(path, tree)
    with pytest.raises(CheckpointError, match="does not make a generator") as e:
        load_generator(path)
    assert "\n" not in str(e.value)
    with pytest.raises(CheckpointError, match="folder"):
        load_generator(tmp_path)


@pytest.mark.parametrize("up_mode", ["bilinear", "transposed"])
def test_upsampling_modconv_forms_agree(up_mode):
    """The fast form (scale activations, one shared conv) equals the grouped reference in both up modes."""
    torch.manual_seed(0)
    x, weight, styles = torch.randn(3, 6, 5, 5), torch.randn(4, 6, 3, 3), torch.rand(3, 6) + 0.5
    fast = modulated_conv2d(x, weight, styles, up=True, up_mode=up_mode)
    ref = modulated_conv2d(x, weight, styles, up=True, up_mode=up_mode, fused=True)
    assert fast.shape == (3, 4, 10, 10)
    assert torch.allclose(fast, ref, atol=1e-5)


def test_transposed_upsampling_is_a_filtered_transposed_conv():
    """One input pixel through a 1x1-identity transposed 'conv': the [1,3,3,1] filter, gain 4, centred."""
    x = torch.zeros(1, 1, 4, 4)
    x[0, 0, 1, 1] = 1.0
    weight = torch.zeros(1, 1, 3, 3)
    weight[0, 0, 1, 1] = 1.0
    y = modulated_conv2d(x, weight, torch.ones(1, 1), demodulate=False, up=True, up_mode="transposed")
    taps = torch.tensor([1.0, 3.0, 3.0, 1.0])
    expected = torch.zeros(8, 8)
    expected[1:5, 1:5] = taps[:, None] * taps[None, :] * 4 / 64
    assert torch.allclose(y[0, 0], expected, atol=1e-6)
    assert y.sum().item() == pytest.approx(4.0)  # gain 4: a stride-2 transposed conv leaves 3 of 4 pixels zero


def test_old_configs_keep_bilinear_upsampling_and_presets_use_transposed():
    from ganatomy.nets.registry import build_generator

    G = get_preset("cpu32").build_generator(channel_base=256, channel_max=32)
    assert G.config()["up_mode"] == "transposed"
    old_config = {k: v for k, v in G.config().items() if k != "up_mode"}  # written before up_mode existed
    assert build_generator("stylegan2", old_config).synthesis.b8.conv0.up_mode == "bilinear"
    with pytest.raises(OptionsError, match="up_mode"):
        build_generator("stylegan2", {**old_config, "up_mode": "nearest"})


@pytest.mark.parametrize("kind", ["dcgan", "stylegan2"])
def test_channels_last_weights_keep_every_latent_space_images(kind):
    from ganatomy.nets.protocol import channels_last_

    torch.manual_seed(0)
    G = (get_preset("dcgan32").build_generator() if kind == "dcgan" else _tiny_sg2(res=32)).eval()
    if kind == "stylegan2":  # noise strengths and biases start at 0 (the DCGAN's init is already random)
        _randomize_(G)
    z = G.sample_latents(4, seed=0)
    with torch.no_grad():
        before = {space: G.synthesize(G.to_space(z, space), space) for space in G.latent_spaces}
        assert channels_last_(G) is G
        assert any(p.dim() == 4 and p.is_contiguous(memory_format=torch.channels_last) for p in G.parameters())
        for space, image in before.items():
            torch.testing.assert_close(
                G.synthesize(G.to_space(z, space), space), image, rtol=1e-3, atol=1e-3
            )  # summation order only
    assert channels_last_(len) is len  # a plain callable is left alone


def test_folding_batchnorm_keeps_the_generators_images_and_gradients_and_leaves_it_untouched():
    from ganatomy.nets.protocol import fold_batchnorm

    torch.manual_seed(0)
    G = get_preset("dcgan32").build_generator()
    for m in G.modules():  # running statistics and affine terms away from their 0/1 initial values
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5), m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5), m.bias.data.uniform_(-0.2, 0.2)
    G = G.eval().requires_grad_(False)
    state = {k: v.clone() for k, v in G.state_dict().items()}
    folded = fold_batchnorm(G)
    assert folded is not G and not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    assert all(torch.equal(v, G.state_dict()[k]) for k, v in state.items())  # G itself untouched
    z = G.sample_latents(4, seed=0).requires_grad_(True)
    image = G.synthesize(z, "z")
    (grad,) = torch.autograd.grad(image.square().sum(), z)
    z2 = z.detach().clone().requires_grad_(True)
    image2 = folded.synthesize(z2, "z")
    (grad2,) = torch.autograd.grad(image2.square().sum(), z2)
    torch.testing.assert_close(image2, image, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(grad2, grad, rtol=1e-4, atol=1e-4)
    assert not any(p.requires_grad for p in folded.parameters())
    G.train()  # batch statistics: nothing may be folded
    assert fold_batchnorm(G) is G
    sg2 = _tiny_sg2(res=32)
    assert fold_batchnorm(sg2) is sg2  # no BatchNorm: returned as is
