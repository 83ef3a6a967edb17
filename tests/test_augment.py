"""Augmentation: the pipeline's operations, ADA's adjustment of p, --mirror, and an exact resume with ADA on."""

from __future__ import annotations

import pytest
import torch

from ganatomy.runs.checkpoint import load_checkpoint
from ganatomy.train.augment import AdaptiveAugment, _translate, augment, mirror
from test_train_seams import TINY_SG2, _opts

pytestmark = pytest.mark.usefixtures("one_thread")


def _images(n: int = 16) -> torch.Tensor:
    return torch.rand(n, 3, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1


def test_p_zero_is_the_identity_and_p_one_changes_every_image_differentiably():
    x = _images()
    assert augment(x, 0.0, torch.Generator().manual_seed(1)) is x
    x = x.clone().requires_grad_(True)
    y = augment(x, 1.0, torch.Generator().manual_seed(1))
    assert y.shape == x.shape and ((y - x).abs().flatten(1).amax(1) > 0).all()
    y.square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    again = augment(x.detach(), 1.0, torch.Generator().manual_seed(1))
    torch.testing.assert_close(again, y.detach())  # the generator decides everything


def test_translation_moves_pixels_and_reflects_at_the_border():
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    moved = _translate(x, torch.tensor([[0, 1]]))
    assert moved[0, 0, 0].tolist() == [1.0, 0.0, 1.0, 2.0]  # column -1 reflects to column 1
    moved = _translate(x, torch.tensor([[1, 0]]))
    assert moved[0, 0, :, 0].tolist() == [4.0, 0.0, 4.0, 8.0]


def test_mirror_flips_about_half_the_images():
    x = _images(400)
    flipped = mirror(x, torch.Generator().manual_seed(0))
    same = (flipped == x).flatten(1).all(1)
    assert torch.equal(flipped[~same], x[~same].flip(3)) and 150 < int((~same).sum()) < 250


def test_ada_raises_p_when_d_overfits_and_keeps_it_low_otherwise():
    overfit = AdaptiveAugment(0.0, adaptive=True, target=0.6, interval=4, speed_kimg=1.0)
    for _ in range(20):
        overfit.observe(torch.full((32,), 3.0))  # D sure of every real image: r_t = 1
    assert overfit.p == pytest.approx(20 * 32 / 1000)
    for _ in range(40):
        overfit.observe(torch.full((32,), 3.0))
    assert overfit.p == 1.0  # p is a probability
    balanced = AdaptiveAugment(0.0, adaptive=True, target=0.6, interval=4, speed_kimg=1.0)
    for _ in range(40):
        balanced.observe(torch.tensor([1.0, -1.0] * 16))  # r_t = 0 < target
    assert balanced.p == 0.0
    fixed = AdaptiveAugment(0.3, adaptive=False, target=0.6, interval=4, speed_kimg=1.0)
    fixed.observe(torch.full((32,), 3.0))
    assert fixed.p == 0.3


def test_a_run_with_ada_resumes_exactly_and_records_p(tmp_path):
    from ganatomy.train.run import run_training

    aug = {"augment": {"mode": "ada", "p": 0.2, "speed_kimg": 0.05, "mirror": True}}
    tiny = dict(kimg=0.048, tick_kimg=0.016, precision="fp32", deterministic=True)
    straight = run_training(_opts(TINY_SG2, aug, outdir=str(tmp_path / "a"), **tiny))
    first = run_training(_opts(TINY_SG2, aug, outdir=str(tmp_path / "b"), **{**tiny, "kimg": 0.032}))
    resumed = run_training(resume_dir=first, kimg=0.048)
    a, b = (load_checkpoint(r / "checkpoint.safetensors") for r in (straight, resumed))
    a_counters, b_counters = ({k: v for k, v in c["counters"].items() if "seconds" not in k} for c in (a, b))
    assert a_counters == b_counters and a_counters["augment"]["p"] != 0.2  # p moved, and the resume kept it
    for name, tensor in a["G"]["state"].items():
        torch.testing.assert_close(b["G"]["state"][name], tensor, rtol=0, atol=0, msg=name)
