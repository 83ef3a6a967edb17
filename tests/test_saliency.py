"""Saliency from the background direction: known answers on the planted world generator."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ganatomy.directions.saliency import (
    SaliencySegmenter,
    choose_background_direction,
    foreground_scores,
    mask_iou,
    otsu_split,
    saliency_pairs,
)
from ganatomy.errors import OptionsError
from ganatomy.latent import Directions
from ganatomy.worlds.factors import FACTORS

pytestmark = pytest.mark.usefixtures("one_thread")


def coordinate_directions() -> Directions:
    return Directions(torch.eye(len(FACTORS), dtype=torch.float64), "z", method="planted")


def true_foreground(G, seeds) -> np.ndarray:
    z = torch.cat([G.sample_latents(1, seed=s) for s in seeds])
    return G.world.render(G.factors_of(z)).masks != 0


def test_the_background_coordinate_is_chosen_among_planted_directions_by_the_oracle(planted):
    G = planted()
    choice = choose_background_direction(G, coordinate_directions(), n=16, rule="oracle")
    assert FACTORS[choice.index].name == "background_hue" and choice.rule == "oracle"
    assert choice.terms["oracle_iou"][choice.index] > 0.9  # its masks are the true foreground
    # head position moves the foreground: its masks are not the object (or too few are kept)
    assert choice.scores[G.factor_index("head_x")] < 0.5 * choice.scores[choice.index]
    assert "IoU with the oracle" in choice.describe()


def test_the_background_coordinate_is_chosen_without_labels_by_its_masks(planted):
    G = planted()
    choice = choose_background_direction(G, coordinate_directions(), n=16)
    assert FACTORS[choice.index].name == "background_hue" and choice.rule == "masks"
    terms = choice.terms
    assert terms["effectiveness"][choice.index] > 0.9  # moved background, still head: a two-level change map
    # a hue of one part moves too little of the image: its masks cover too much and are dropped
    assert terms["kept_share"][G.factor_index("hair_hue")] < 0.5 * terms["kept_share"][choice.index]
    assert "rule 'masks'" in choice.describe()
    with pytest.raises(OptionsError, match="rule must be one of"):
        choose_background_direction(G, coordinate_directions(), n=2, rule="eyes")


def test_otsu_effectiveness_is_one_for_two_values_and_low_for_one_mode():
    two = np.r_[np.zeros(300), np.ones(700)]
    assert otsu_split(two)[1] == pytest.approx(1.0)
    assert 0 < otsu_split(two)[0] < 1
    one = np.random.default_rng(0).normal(size=5000)
    assert otsu_split(one)[1] < 0.7  # a Gaussian's best split explains 2/pi of its variance
    assert otsu_split(np.full(10, 3.0))[1] == 0.0


def test_pairs_of_the_background_direction_give_the_true_foreground(planted):
    G = planted()
    index = G.factor_index("background_hue")
    images, masks, kept = saliency_pairs(G, coordinate_directions(), index, n=64, shift=3.0, min_cover=0, max_cover=1)
    assert kept == 1.0 and images.shape == (64, 3, 32, 32)
    iou = mask_iou(masks.numpy(), true_foreground(G, range(64)))
    assert np.median(iou) > 0.95 and iou.mean() > 0.9


def test_cover_limits_drop_masks_and_a_direction_with_no_usable_mask_is_a_clear_error(planted):
    G = planted()
    index = G.factor_index("background_hue")
    _, masks, kept = saliency_pairs(G, coordinate_directions(), index, n=32, min_cover=0.05, max_cover=0.5)
    cover = masks.float().mean(dim=(1, 2))
    assert kept < 1 and ((cover >= 0.05) & (cover <= 0.5)).all()
    with pytest.raises(OptionsError, match="no mask of direction"):
        saliency_pairs(G, coordinate_directions(), index, n=8, min_cover=0.95, max_cover=1.0)
    with pytest.raises(OptionsError, match="min_cover < max_cover"):
        saliency_pairs(G, coordinate_directions(), index, n=8, min_cover=0.6, max_cover=0.5)


def test_otsu_splits_two_modes_and_scores_match_hand_counts():
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.normal(0.1, 0.02, 500), rng.normal(0.9, 0.02, 300)])
    assert 0.2 < otsu_split(values)[0] < 0.8
    predicted = np.zeros((1, 4, 4), bool)
    predicted[0, :2] = True  # 8 pixels
    true = np.zeros((1, 4, 4), bool)
    true[0, :1] = True  # 4 pixels, all inside
    scores = foreground_scores(predicted, true)
    precision, recall = 0.5, 1.0
    assert scores["iou"] == pytest.approx(0.5)
    assert scores["fbeta"] == pytest.approx(1.3 * precision * recall / (0.3 * precision + recall))


def test_segmenter_learns_a_separable_foreground_and_round_trips(tmp_path):
    rng = torch.Generator().manual_seed(0)
    masks = torch.zeros(64, 16, 16, dtype=torch.bool)
    for i in range(64):
        x, y = torch.randint(0, 8, (2,), generator=rng).tolist()
        masks[i, y : y + 8, x : x + 8] = True
    images = torch.where(masks[:, None], 0.8, -0.8).repeat(1, 3, 1, 1) + 0.05 * torch.randn(
        64, 3, 16, 16, generator=rng
    )
    segmenter = SaliencySegmenter(widths=(8, 16), steps=150, batch_size=16, lr=5e-3).fit(images, masks)
    assert foreground_scores(segmenter.predict(images), masks.numpy())["iou"] > 0.95
    segmenter.save(tmp_path / "s.safetensors")
    again = SaliencySegmenter.load(tmp_path / "s.safetensors")
    np.testing.assert_array_equal(again.predict(images), segmenter.predict(images))
    with pytest.raises(OptionsError, match="expects"):
        segmenter.predict(torch.zeros(2, 3, 32, 32))
    with pytest.raises(OptionsError, match="do not pair up"):
        SaliencySegmenter(steps=1).fit(images, masks[:10])
