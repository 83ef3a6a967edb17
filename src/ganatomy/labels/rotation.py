"""Rotation as a self-supervised task (Gidaris et al. 2018), for label inference and D's rotation head.

An image rotated by ``k`` quarter turns (counter-clockwise, ``torch.rot90`` with k in 0..3) has
rotation target ``k``. ``rotate_batch`` rotates each image of a batch by its own target and keeps
gradients (G's rotation loss flows through it); ``rotation_copies`` gives the three rotated
copies of every image with their targets, the layout of the fewer-labels paper (the unrotated
originals, target 0, are the batch itself).

``RotationNet`` is the representation that Clustering and S2GAN infer labels from: a small
convolutional network trained on the real images to predict which of the four rotations it sees,
every image in all four rotations in each batch; its pooled last features are the representation.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ganatomy.data.base import ImageDataset
from ganatomy.errors import OptionsError
from ganatomy.nets._checks import assert_shape

NUM_ROTATIONS = 4  # 0, 90, 180 and 270 degrees
SMALLEST_MAP = 4  # the rotation net halves the resolution down to 4x4


def rotate_batch(images: torch.Tensor, rotations: torch.Tensor) -> torch.Tensor:
    """Image i of square ``images`` [N, C, R, R] turned ``rotations[i]`` quarter turns counter-clockwise."""
    n = images.shape[0]
    assert_shape(images, [n, None, images.shape[-1], images.shape[-1]], "images to rotate (square)")
    rotations = torch.as_tensor(rotations, device=images.device).long().reshape(-1)
    if rotations.numel() != n or (n and not bool(((rotations >= 0) & (rotations < NUM_ROTATIONS)).all())):
        raise OptionsError(f"rotate_batch: needs one rotation in 0..{NUM_ROTATIONS - 1} per image ({n})")
    out = images
    for k in range(1, NUM_ROTATIONS):
        turned = torch.rot90(images, k, dims=(2, 3))
        out = torch.where((rotations == k).reshape(n, 1, 1, 1), turned, out)
    return out


def rotation_copies(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(images turned by 1, 2 and 3 quarter turns [3N, C, R, R], their targets [3N]: 1..1, 2..2, 3..3)."""
    turned = torch.cat([torch.rot90(images, k, dims=(2, 3)) for k in range(1, NUM_ROTATIONS)])
    targets = torch.arange(1, NUM_ROTATIONS, device=images.device).repeat_interleave(images.shape[0])
    return turned, targets


def rotated_count(batch: int, share: float) -> int:
    """How many images of a batch get rotated copies so that ``share`` of it is in the rotation
    loss (each such image counts four times: itself and three copies); at least one."""
    return max(1, min(batch, int(round(share * batch / NUM_ROTATIONS))))


def unit_images(dataset: ImageDataset, indices: np.ndarray) -> torch.Tensor:
    """Images ``indices`` of ``dataset`` as float [-1, 1], the range the GAN trains in."""
    return dataset.get_images(np.asarray(indices, dtype=np.int64)).float().div(127.5).sub(1.0)


class RotationNet(nn.Module):
    """Images [N, C, R, R] -> features [N, feat_dim] (``features``) -> rotation logits [N, 4].

    A 3x3 conv at full resolution, then stride-2 3x3 convs doubling the width down to 4x4, each
    with BatchNorm and ReLU, and global average pooling."""

    def __init__(self, img_channels: int, resolution: int, width: int = 16) -> None:
        super().__init__()
        if resolution < 2 * SMALLEST_MAP or resolution & (resolution - 1):
            raise OptionsError(f"rotation net: resolution must be a power of two >= 8, got {resolution}")
        self.img_channels, self.resolution = img_channels, resolution
        layers: list[nn.Module] = [nn.Conv2d(img_channels, width, 3, 1, 1), nn.BatchNorm2d(width), nn.ReLU()]
        ch, res = width, resolution
        while res > SMALLEST_MAP:
            layers += [nn.Conv2d(ch, ch * 2, 3, 2, 1), nn.BatchNorm2d(ch * 2), nn.ReLU()]
            ch, res = ch * 2, res // 2
        self.body = nn.Sequential(*layers)
        self.feat_dim = ch
        self.head = nn.Linear(ch, NUM_ROTATIONS)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        assert_shape(images, [None, self.img_channels, self.resolution, self.resolution], "rotation net input")
        return self.body(images).mean(dim=(2, 3))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images))


@dataclasses.dataclass
class RotationTraining:
    """The trained rotation net and what its training did."""

    net: RotationNet
    images_seen: int
    final_accuracy: float  # rotation accuracy on the last tenth of the training steps
    seconds: float


def train_rotation_net(
    dataset: ImageDataset,
    kimg: float,
    batch: int = 64,
    lr: float = 1e-3,
    width: int = 16,
    seed: int = 0,
    indices: np.ndarray | None = None,
) -> RotationTraining:
    """Train a ``RotationNet`` on ``kimg`` thousand real images of ``dataset`` (each in all four
    rotations), drawn with ``seed``; ``indices`` restricts it to those images."""
    if kimg <= 0 or batch < 1:
        raise OptionsError(f"rotation pre-training: kimg ({kimg}) and batch ({batch}) must be positive")
    pool = np.arange(len(dataset)) if indices is None else np.asarray(indices, dtype=np.int64)
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # the net's initialisation
    net = RotationNet(dataset.channels, dataset.resolution, width)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    steps = max(1, int(round(kimg * 1000 / batch)))
    tail = max(1, steps // 10)
    correct = seen = 0
    start = time.time()
    for step in range(steps):
        idx = pool[torch.randint(len(pool), (batch,), generator=gen).numpy()]
        images = unit_images(dataset, idx)
        turned, targets = rotation_copies(images)
        inputs = torch.cat([images, turned])
        targets = torch.cat([torch.zeros(batch, dtype=torch.long), targets])
        logits = net(inputs)
        loss = F.cross_entropy(logits, targets)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step >= steps - tail:
            correct += int((logits.argmax(1) == targets).sum())
            seen += targets.numel()
    net.eval().requires_grad_(False)
    return RotationTraining(net, steps * batch, correct / max(seen, 1), time.time() - start)


@torch.no_grad()
def embed(net: RotationNet, dataset: ImageDataset, batch: int = 500) -> np.ndarray:
    """The rotation net's features of every image of ``dataset``, float32 [N, feat_dim]."""
    net.eval()
    chunks = [
        net.features(unit_images(dataset, np.arange(start, min(start + batch, len(dataset))))).numpy()
        for start in range(0, len(dataset), batch)
    ]
    return np.concatenate(chunks).astype(np.float32)
