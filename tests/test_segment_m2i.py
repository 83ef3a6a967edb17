"""Mask-to-image (SPADE): a planted colour-per-class mapping is learned; SPADE follows the mask; files."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ganatomy.errors import CheckpointError, OptionsError
from ganatomy.segment.m2i import SPADE, generate, m2i_checkpoint, m2i_from_checkpoint, one_hot, train_m2i

pytestmark = pytest.mark.usefixtures("one_thread")

COLOURS = torch.tensor([[-1.0, -1.0, -1.0], [1.0, -1.0, -1.0], [-1.0, 1.0, -1.0]])  # black, red, green


def rectangle_masks(n: int, size: int, seed: int) -> torch.Tensor:
    """Class 0 everywhere, one random class-1 and one class-2 rectangle per mask."""
    g = torch.Generator().manual_seed(seed)
    masks = torch.zeros(n, size, size, dtype=torch.long)
    for i in range(n):
        for cls in (1, 2):
            y0, x0 = torch.randint(0, size - 4, (2,), generator=g).tolist()
            h, w = torch.randint(3, size // 2, (2,), generator=g).tolist()
            masks[i, y0 : y0 + h, x0 : x0 + w] = cls
    return masks


def planted_images(masks: torch.Tensor) -> torch.Tensor:
    return COLOURS[masks].permute(0, 3, 1, 2)


def nearest_colour(images: torch.Tensor) -> torch.Tensor:
    d = (images.permute(0, 2, 3, 1)[..., None, :] - COLOURS).square().sum(-1)
    return d.argmin(-1)


def test_planted_colour_mapping_reproduces_the_mask_layout():
    masks = rectangle_masks(64, 16, seed=0)
    net = train_m2i(planted_images(masks), masks, 3, steps=150, batch_size=16, lr=1e-3, widths=(32, 16))
    fresh = rectangle_masks(16, 16, seed=1)
    out = generate(net, fresh, seed=3)
    assert out.shape == (16, 3, 16, 16) and float(out.abs().max()) <= 1
    agreement = float((nearest_colour(out) == fresh).float().mean())
    assert agreement > 0.9, agreement


def test_spade_output_depends_on_the_mask_only_through_gamma_and_beta():
    spade = SPADE(4, 3, hidden=8)
    x = torch.randn(2, 4, 8, 8)
    mask = one_hot(rectangle_masks(2, 16, seed=2), 3)
    with torch.no_grad():
        torch.nn.init.zeros_(spade.gamma.weight), torch.nn.init.zeros_(spade.gamma.bias)
        torch.nn.init.zeros_(spade.beta.weight), torch.nn.init.zeros_(spade.beta.bias)
        plain = spade(x, mask)
    # With gamma = beta = 0 SPADE is the parameter-free instance norm: zero mean, unit variance per channel.
    assert torch.allclose(plain.mean((2, 3)), torch.zeros(2, 4), atol=1e-5)
    assert torch.allclose(plain.var((2, 3), unbiased=False), torch.ones(2, 4), atol=1e-3)
    fresh = SPADE(4, 3, hidden=8)
    a, b = fresh(x, mask), fresh(x, one_hot(rectangle_masks(2, 16, seed=5), 3))
    assert not torch.allclose(a, b)


def test_checkpoint_round_trip_and_bad_input():
    masks = rectangle_masks(4, 16, seed=0)
    net = train_m2i(planted_images(masks), masks, 3, steps=1, batch_size=4, widths=(16, 8))
    again = m2i_from_checkpoint(m2i_checkpoint(net))
    assert torch.equal(generate(net, masks, seed=1), generate(again, masks, seed=1))
    with pytest.raises(CheckpointError, match="not a mask-to-image file"):
        m2i_from_checkpoint({"format": "ganatomy-segmenter"})
    with pytest.raises(OptionsError, match="mask values must lie in 0..2"):
        generate(net, np.full((1, 16, 16), 3))
    with pytest.raises(OptionsError, match="make 16x16 images, not 32"):
        train_m2i(planted_images(rectangle_masks(2, 32, 0)), rectangle_masks(2, 32, 0), 3, steps=1, widths=(8, 8))
