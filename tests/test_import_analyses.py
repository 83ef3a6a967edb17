"""Every method of this wave runs end to end on a user's StyleGAN2, converted from NVIDIA's own pickle.

The converted fixture is a tiny random-weight network saved by stylegan2-ada-pytorch itself (see
tests/test_import.py); the analyses only have to run on it and keep their invariants, since its
images mean nothing.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ganatomy.nets.load import load_generator
from test_import import FIXTURES, needs_fixtures

pytestmark = [pytest.mark.usefixtures("one_thread"), needs_fixtures]


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    from ganatomy.nets.importers.convert import convert_to_snapshot

    out = tmp_path_factory.mktemp("converted") / "sg2ada-tiny32.safetensors"
    convert_to_snapshot(FIXTURES / "nvidia-sg2ada-tiny32.pkl", out)
    return load_generator(out)


def test_directions_and_saliency_pairs_on_a_converted_generator(converted):
    from ganatomy.directions import GANSpaceDirections, SeFaDirections
    from ganatomy.directions.saliency import saliency_pairs

    G = converted
    sefa = SeFaDirections(n_directions=4).fit(G).directions_
    ganspace = GANSpaceDirections(n_directions=4, n_samples=500).fit(G).directions_
    w = G.to_space(G.sample_latents(2, seed=0), "w")
    for d in (sefa, ganspace):
        moved = d.apply(w, 0, 2.0)
        assert moved.shape == w.shape and not torch.allclose(moved, w)
        assert torch.isfinite(G.synthesize(moved, "w")).all()
    images, masks, kept = saliency_pairs(G, sefa, 0, n=8, min_cover=0.0, max_cover=1.0)
    assert images.shape[1:] == (G.img_channels, G.img_resolution, G.img_resolution) and kept == 1.0


def test_klish_on_a_converted_generator(converted):
    from ganatomy.segment import KLiSH

    G = converted
    est = KLiSH(n_init_clusters=6, n_samples=8, kmeans_pixels=4096, seed=0).fit(G)
    latents = G.to_space(G.sample_latents(2, seed=1), est.space_)  # KLiSH reads latents in its own space
    masks = est.predict(latents, n_clusters=3, G=G)
    masks = np.asarray(masks)
    assert masks.shape == (2, G.img_resolution, G.img_resolution) and len(np.unique(masks)) <= 3


def test_large_on_a_converted_generator(converted):
    from ganatomy.invert import OptimizationInverter
    from ganatomy.regress import LatentRegressor

    G = converted
    with torch.no_grad():
        z = G.sample_latents(6, seed=2)
        images = G(z)
    inverter = OptimizationInverter(space="w", refine_steps=5).fit(G)
    labels = np.linspace(0.0, 1.0, len(images))
    regressor = LatentRegressor(direction="supervised", space="w", inverter=inverter, generator=G)
    predictions = regressor.fit(images[:2], labels[:2]).predict(images)
    assert predictions.shape == (6,) and np.isfinite(predictions).all()
