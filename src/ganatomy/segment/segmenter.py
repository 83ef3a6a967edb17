"""A U-Net segmenter trained on (image, mask) pairs: KLiSH's unsupervised segmentation of real images.

``train_segmenter(images, masks, n_classes)`` trains ``ganatomy.nets.unet.UNet`` with cross-entropy
and Adam (random horizontal flips; the lr drops x0.1 for the last 20% of the steps, as the paper's
schedule drops it for the last epochs); ``segment_images(net, images)`` gives masks.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ganatomy.errors import OptionsError
from ganatomy.nets.unet import UNet
from ganatomy.utils.images import as_unit_images

SEGMENTER_WIDTHS = (32, 64, 128)


def check_pairs(images, masks, n_classes: int, steps: int, batch_size: int, what: str, lr: float = 1.0):
    """(images in [-1, 1] [N, C, H, W], long masks [N, H, W]) of a training set, checked (with the learning rate)."""
    x = as_unit_images(images)
    y = torch.as_tensor(np.asarray(masks)).long()
    if y.shape != (x.shape[0], x.shape[2], x.shape[3]):
        raise OptionsError(f"{what}: masks must be [N, H, W] = {[x.shape[0], *x.shape[2:]]}, got {list(y.shape)}")
    if int(y.max()) >= n_classes or int(y.min()) < 0:
        raise OptionsError(f"{what}: mask values must lie in 0..{n_classes - 1}")
    if steps < 1 or batch_size < 1:
        raise OptionsError(f"{what}: steps and batch_size must be >= 1")
    if not 0 < lr < math.inf:
        raise OptionsError(f"{what}: the learning rate must be a finite number > 0, got {lr}")
    return x, y


def train_segmenter(
    images: torch.Tensor | np.ndarray,
    masks: torch.Tensor | np.ndarray,
    n_classes: int,
    steps: int = 1000,
    batch_size: int = 32,
    lr: float = 1e-3,
    seed: int = 0,
    widths: tuple[int, ...] = SEGMENTER_WIDTHS,
    progress: Any = None,
    device: str = "cpu",
) -> UNet:
    """A U-Net fitted on ``device`` to uint8 images [N, C, H, W] (or [-1, 1] floats) and integer masks [N, H, W]."""
    x, y = check_pairs(images, masks, n_classes, steps, batch_size, "segmenter", lr)
    x, y = x.to(device), y.to(device)
    torch.manual_seed(seed)  # initial weights: reproducible per seed
    g = torch.Generator().manual_seed(seed)
    net = UNet(x.shape[1], n_classes, widths=widths).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, [int(0.8 * steps)], 0.1)
    net.train()
    for step in range(steps):
        idx = torch.randint(len(x), (min(batch_size, len(x)),), generator=g)
        xb, yb = x[idx], y[idx]
        flip = (torch.rand(len(idx), generator=g) < 0.5).to(device)
        xb = torch.where(flip[:, None, None, None], xb.flip(-1), xb)
        yb = torch.where(flip[:, None, None], yb.flip(-1), yb)
        loss = F.cross_entropy(net(xb), yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if progress is not None:
            progress(step + 1, float(loss.detach()))
    return net.eval()


@torch.no_grad()
def segment_images(net: UNet, images: torch.Tensor | np.ndarray, batch_size: int = 128) -> np.ndarray:
    """uint8 masks [N, H, W] (argmax class) of uint8 or [-1, 1] images, computed where ``net`` is."""
    x = as_unit_images(images)
    device = next(net.parameters()).device
    net.eval()
    out = [net(chunk.to(device)).argmax(1).to(torch.uint8).cpu() for chunk in x.split(batch_size)]
    return torch.cat(out).numpy()
