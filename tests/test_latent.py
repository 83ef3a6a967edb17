"""The seeded sampler: image i depends on its seed alone (not on the batch, its position or the RNG)."""

from __future__ import annotations

import pytest
import torch

from ganatomy.errors import OptionsError
from ganatomy.latent import SeededImages, default_space, seeded_images, seeded_latents
from ganatomy.nets import StyleGAN2Generator, get_preset


def _tiny_sg2(c_dim: int = 0) -> StyleGAN2Generator:
    torch.manual_seed(0)
    G = StyleGAN2Generator(img_resolution=16, z_dim=16, w_dim=16, c_dim=c_dim, channel_base=256, channel_max=32)
    with torch.no_grad():  # noise strengths start at 0: make the constant noise matter
        for name, p in G.named_parameters():
            if name.endswith("noise_strength"):
                p.fill_(0.5)
    return G.eval()


@pytest.mark.parametrize("c_dim", [0, 3])
def test_an_image_depends_on_its_seed_alone(c_dim):
    G = _tiny_sg2(c_dim)
    seeds = [5, 0, 17, 3, 9, 12, 1]
    torch.manual_seed(123)  # the global RNG must not matter
    with torch.no_grad():
        one_batch = seeded_images(G, seeds, batch_size=len(seeds))
        torch.manual_seed(456)
        in_threes = seeded_images(G, seeds, batch_size=3)
        alone = torch.cat([seeded_images(G, [s]) for s in seeds])
        reversed_order = seeded_images(G, seeds[::-1], batch_size=2)
    torch.testing.assert_close(in_threes, one_batch, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(alone, one_batch, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(reversed_order.flip(0), one_batch, atol=1e-5, rtol=1e-5)
    assert (one_batch[0] - one_batch[1]).abs().max() > 1e-3  # different seeds, different images


def test_z_and_labels_come_from_the_seed():
    G = _tiny_sg2(c_dim=4)
    batch = seeded_latents(G, range(40))
    assert batch.seeds == tuple(range(40)) and len(batch) == 40 and batch.space == "z"
    # z is what sample_latents draws from that seed (the convention `ganatomy generate` always had).
    assert torch.equal(batch.z[7], G.sample_latents(1, seed=7)[0])
    assert torch.equal(batch.latents, batch.z)
    # labels: one-hot rows from the same stream, after z; every class turns up
    g = torch.Generator().manual_seed(7)
    G.sample_latents(1, generator=g)
    assert torch.equal(batch.c[7], G.sample_c(1, generator=g)[0])
    assert torch.equal(batch.c.sum(1), torch.ones(40)) and batch.c.sum(0).min() > 0
    assert torch.equal(seeded_latents(G, [30, 7]).c[1], batch.c[7])


def test_given_labels_and_spaces():
    G = _tiny_sg2(c_dim=3)
    seeds = [0, 1, 2, 3]
    as_int = seeded_latents(G, seeds, "w", c=2)
    assert torch.equal(as_int.c, torch.eye(3)[[2, 2, 2, 2]])
    as_indices = seeded_latents(G, seeds, "w+", c=torch.tensor([0, 1, 2, 0]))
    assert torch.equal(as_indices.c, torch.eye(3)[[0, 1, 2, 0]]) and as_indices.latents.shape == (4, G.num_ws, 16)
    with torch.no_grad():
        assert torch.equal(as_indices.latents, G.to_space(as_indices.z, "w+", c=torch.tensor([0, 1, 2, 0])))
        truncated = seeded_latents(G, seeds, "w+", c=[0, 1, 2, 0], truncation_psi=0.5).latents
        torch.testing.assert_close(truncated, G.w_avg.lerp(as_indices.latents, 0.5))
        # images from indices given in batches: each image keeps its own label
        images = seeded_images(G, seeds, c=[0, 1, 2, 0], batch_size=3)
        assert torch.equal(images[3], seeded_images(G, [3], c=0)[0])
    with pytest.raises(OptionsError, match="truncation acts in W"):
        seeded_latents(G, seeds, "z", c=0, truncation_psi=0.7)
    with pytest.raises(OptionsError, match="no seeds"):
        seeded_latents(G, [])
    dcgan = get_preset("dcgan32").build_generator()
    assert default_space(G) == "w+" and default_space(dcgan) == "z"
    with pytest.raises(OptionsError, match="not available"):
        seeded_latents(dcgan, seeds, "w")


def test_seeded_images_source_for_the_metrics():
    G = _tiny_sg2()
    source = SeededImages(G, transform=lambda x: x * 0 + 1)
    assert torch.equal(source.images_for_seeds([1, 2]), torch.ones(2, 3, 16, 16))
    plain = SeededImages(G)
    with torch.no_grad():
        # the metrics' source samples with per-image random noise
        assert torch.equal(plain(3, 10), seeded_images(G, [10, 11, 12], batch_size=3, noise_mode="random"))


def test_generate_images_use_the_sampler():
    from ganatomy.generate import generate_images

    G = _tiny_sg2(c_dim=2)
    with torch.no_grad():
        expected = seeded_images(G, [4, 8], c=1).clamp(-1, 1)
    torch.testing.assert_close(generate_images(G, [4, 8], class_idx=1, batch=1), expected, atol=1e-5, rtol=1e-5)


def test_random_noise_is_seeded_per_image_and_differs_from_const():
    """Metrics sample with random noise; it too must be a function of each image's own seed."""
    from ganatomy.nets.presets import get_preset

    torch.manual_seed(0)
    G = get_preset("cpu32").build_generator(channel_base=256, channel_max=32).eval()
    for layer in G.modules():
        if hasattr(layer, "noise_strength"):
            layer.noise_strength.data.fill_(0.5)  # trained networks use their noise; fresh ones start at 0
    seeds = [3, 11, 12, 40]
    with torch.no_grad():
        together = seeded_images(G, seeds, noise_mode="random", batch_size=4)
        alone = torch.cat([seeded_images(G, [s], noise_mode="random") for s in reversed(seeds)]).flip(0)
        torch.manual_seed(123)  # the global RNG must not matter
        again = seeded_images(G, seeds, noise_mode="random", batch_size=3)
        const = seeded_images(G, seeds, noise_mode="const")
    assert torch.allclose(together, alone, atol=1e-5) and torch.allclose(together, again, atol=1e-5)
    assert (together - const).abs().amax() > 1e-2  # the noise really is random, not the stored maps
