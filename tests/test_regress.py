"""LARGE's regressor against known answers: a planted generator whose attribute is exactly linear along
a latent direction (an orthogonal W, so the planted direction is the hyperplane's normal)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from conftest import PlantedGenerator
from ganatomy.errors import OptionsError
from ganatomy.latent import Directions
from ganatomy.regress import (
    LatentRegressor,
    best_aligned,
    calibrate,
    distance_features,
    sort_latents,
    spaced_draws,
    supervised_normal,
)

pytestmark = pytest.mark.usefixtures("one_thread")

FACTOR = "smile"


def planted_w(num_ws: int = 1) -> PlantedGenerator:
    q, _ = torch.linalg.qr(torch.randn(11, 11, generator=torch.Generator().manual_seed(0), dtype=torch.float64))
    return PlantedGenerator(w_matrix=q, num_ws=num_ws)


def linear_attribute(G: PlantedGenerator, latents: torch.Tensor, space: str = "w") -> np.ndarray:
    """An attribute exactly linear in the planted factor's latent unit: y = 3 z_j - 0.5."""
    return 3.0 * G.to_z(latents, space)[:, G.factor_index(FACTOR)].numpy() - 0.5


def samples(G: PlantedGenerator, n: int, seed: int, space: str = "w") -> torch.Tensor:
    return G.to_space(G.sample_latents(n, seed=seed), space)


def test_two_labels_recover_a_linear_attribute_exactly():
    G = planted_w()
    direction = G.planted_direction(FACTOR, "w")
    train, test = samples(G, 2, seed=1), samples(G, 500, seed=2)
    reg = LatentRegressor(direction=direction, space="w").fit_latents(train, linear_attribute(G, train))
    np.testing.assert_allclose(reg.predict_latents(test), linear_attribute(G, test), atol=1e-9)


def test_two_labels_close_together_along_the_direction_are_warned_about():
    G = planted_w()
    direction = G.planted_direction(FACTOR, "w")
    unit = direction / direction.norm()
    base = samples(G, 1, seed=5)
    # the regressor's own reference: 2,000 prior latents from seed 0
    prior_std = float((G.to_space(G.sample_latents(2000, seed=0), "w") @ unit).std())
    for gap, warned in ((0.2, True), (2.0, False)):
        pair = torch.cat([base, base + gap * prior_std * unit])
        reg = LatentRegressor(direction=direction, space="w", generator=G)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            reg.fit_latents(pair, linear_attribute(G, pair))
        assert reg.label_spread_ == pytest.approx(gap, rel=1e-3)
        assert any("prior std apart" in str(w.message) for w in caught) == warned


def test_wplus_projection_and_per_layer_recover_the_attribute():
    G = planted_w(num_ws=3)
    row = G.factor_row(FACTOR)
    directions = Directions(G.planted_direction(FACTOR, "w")[None], "w+", layers=[row], num_ws=3)
    train, test = samples(G, 5, seed=3, space="w+"), samples(G, 200, seed=4, space="w+")
    for mode in ("projection", "per_layer"):
        reg = LatentRegressor(direction=directions, space="w+", distance=mode)
        reg.fit_latents(train, linear_attribute(G, train, "w+"))
        np.testing.assert_allclose(reg.predict_latents(test), linear_attribute(G, test, "w+"), atol=1e-9)


def test_the_best_aligned_direction_is_chosen_from_two_labels():
    G = planted_w()
    j = G.factor_index(FACTOR)
    all_directions = Directions(torch.stack([-G.planted_direction(k, "w") for k in range(11)]), "w")
    train, test = samples(G, 2, seed=5), samples(G, 300, seed=6)
    # Two labelled latents that differ in the attribute only (as two well-chosen photographs would).
    train[1] = train[0] + 1.7 * G.planted_direction(FACTOR, "w")
    reg = LatentRegressor(direction=all_directions, index=None, space="w", generator=G)
    reg.fit_latents(train, linear_attribute(G, train))
    assert reg.index_ == j
    np.testing.assert_allclose(reg.predict_latents(test), linear_attribute(G, test), atol=1e-9)
    index, sign, scores = best_aligned(all_directions, train, linear_attribute(G, train), samples(G, 1000, seed=7))
    assert index == j and sign == -1.0 and np.abs(scores).argmax() == j


def test_the_supervised_normal_from_many_labels_is_the_planted_direction():
    G = planted_w()
    latents = samples(G, 200, seed=8)
    normal = supervised_normal(latents, linear_attribute(G, latents), alpha=1e-6)
    planted = G.planted_direction(FACTOR, "w")
    assert float(normal @ planted / planted.norm()) > 0.999


def test_least_squares_from_more_labels_and_closed_form_from_two():
    d = np.array([[0.0], [2.0]])
    coef, intercept = calibrate(d, np.array([1.0, 5.0]))
    assert coef[0] == pytest.approx(2.0) and intercept == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 1))
    coef, intercept = calibrate(x, 0.5 * x[:, 0] + 2 + 0.01 * rng.normal(size=50))
    assert coef[0] == pytest.approx(0.5, abs=0.01) and intercept == pytest.approx(2.0, abs=0.01)


def test_sort_is_invariant_to_scale_and_flips_with_sign():
    G = planted_w()
    latents = samples(G, 100, seed=9)
    direction = G.planted_direction(FACTOR, "w")
    order = sort_latents(latents, direction)
    assert (np.diff(linear_attribute(G, latents)[order]) > 0).all()
    np.testing.assert_array_equal(sort_latents(latents, 7.5 * direction), order)
    np.testing.assert_array_equal(sort_latents(latents, -direction), order[::-1])


def test_spaced_draws_keep_their_minimum_spacing():
    values = np.random.default_rng(1).uniform(0, 1, 300)
    for draw in spaced_draws(values, 5, draws=50, seed=0):
        chosen = np.sort(values[draw])
        assert len(set(draw)) == 5 and np.diff(chosen).min() >= np.ptp(values) / 5**1.3


def test_distance_is_a_plain_projection():
    latents = torch.tensor([[1.0, 2.0], [3.0, -1.0]])
    np.testing.assert_allclose(distance_features(latents, torch.tensor([2.0, 0.5]))[:, 0], [3.0, 5.5])


@pytest.mark.parametrize(
    ("labels", "message"),
    [([1.0], "at least 2 labelled"), ([2.0, 2.0], "two different values"), ([1.0, np.nan], "NaN")],
)
def test_bad_labels_are_one_line_errors(labels, message):
    G = planted_w()
    latents = samples(G, len(labels), seed=10)
    with pytest.raises(OptionsError, match=message) as info:
        LatentRegressor(direction=G.planted_direction(FACTOR, "w")).fit_latents(latents, labels)
    assert "\n" not in str(info.value)


def test_labelled_images_at_one_distance_are_refused():
    G = planted_w()
    direction = G.planted_direction(FACTOR, "w")
    latents = samples(G, 1, seed=11).repeat(2, 1)
    with pytest.raises(OptionsError, match="same distance"):
        LatentRegressor(direction=direction).fit_latents(latents, [0.0, 1.0])


def test_a_directions_file_of_another_generator_is_refused(tmp_path):
    from ganatomy.directions import SeFaDirections

    G, other = planted_w(num_ws=1), planted_w(num_ws=2)
    path = SeFaDirections(n_directions=3).fit(G).save_directions(tmp_path / "d.safetensors")
    latents = samples(other, 2, seed=12)
    with pytest.raises(OptionsError, match="another generator"):
        LatentRegressor(direction=path, index=0, generator=other).fit_latents(latents, [0.0, 1.0])
    reg = LatentRegressor(direction=path, index=0, generator=G).fit_latents(samples(G, 2, seed=12), [0.0, 1.0])
    assert reg.direction_.method == "sefa"


def test_images_without_an_inverter_and_mismatched_spaces_are_refused():
    G = planted_w()
    reg = LatentRegressor(direction=G.planted_direction(FACTOR, "w"))
    with pytest.raises(OptionsError, match="inverter"):
        reg.fit(torch.zeros(2, 3, 32, 32), [0.0, 1.0])
    with pytest.raises(OptionsError, match="cannot measure"):
        LatentRegressor(direction=Directions(torch.ones(1, 11), "z"), space="w").fit_latents(
            samples(G, 2, seed=13), [0.0, 1.0]
        )


def test_save_and_load_keep_the_calibration(tmp_path):
    G = planted_w()
    train, test = samples(G, 3, seed=14), samples(G, 20, seed=15)
    reg = LatentRegressor(direction=G.planted_direction(FACTOR, "w")).fit_latents(train, linear_attribute(G, train))
    loaded = LatentRegressor.load(reg.save(tmp_path / "reg.safetensors"))
    np.testing.assert_allclose(loaded.predict_latents(test), reg.predict_latents(test))
