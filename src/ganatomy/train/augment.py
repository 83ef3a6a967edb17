"""Augmentation for small datasets: x-flips of the data (``--mirror``) and ADA (Karras et al. 2020).

ADA augments every image D sees, real and generated, with probability ``p`` per operation, so
that D cannot memorise a small training set while G is not pushed to make augmented images (the
operations are "non-leaking" at p < ~0.8 because each is applied only with probability p). The
pipeline is the part of the paper's that is cheap and differentiable on a CPU:

- geometric: x-flip, rotation by a multiple of 90 degrees, integer translation by up to 1/8 of
  the image (reflection at the border);
- colour: brightness (+ N(0, 0.2)), contrast (x 2^N(0, 0.5) around the image's mean),
  saturation (x 2^N(0, 1) around the luma; RGB only);
- cutout: a square of half the image's side set to zero.

Every operation is an index permutation or an affine map of the pixels, so gradients reach G
through it. ``--aug ada`` adjusts p every ``interval`` D steps from the sign of D's real logits,
r_t = E[sign(D(real))]: up by batch x interval / (speed_kimg x 1000) when r_t exceeds the
target (0.6), down otherwise, so p can cross [0, 1] in ``speed_kimg`` thousand images.
``--aug fixed`` keeps the given p. Random numbers come from the step's generator (tick-seeded),
and p (with the partial adjustment window) is part of the resume counters, so a resumed run is exact.
"""

from __future__ import annotations

import torch

# Which share of the image an integer translation may move it by, and cutout's square side.
TRANSLATE_FRACTION = 0.125
CUTOUT_FRACTION = 0.5
_LUMA = torch.tensor([0.299, 0.587, 0.114])


def _reflect(index: torch.Tensor, size: int) -> torch.Tensor:
    """Indices outside [0, size) reflected back in (..., 2, 1, 0, 1, 2, ..., size-1, size-2, ...)."""
    period = 2 * (size - 1)
    index = index.remainder(period) if period > 0 else torch.zeros_like(index)
    return torch.where(index >= size, period - index, index)


def _coins(n: int, p: float, generator: torch.Generator, device) -> torch.Tensor:
    return (torch.rand(n, generator=generator) < p).to(device)


def _translate(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """x [N, C, H, W] moved by integer ``shift`` [N, 2] (dy, dx), reflected at the border."""
    n, _, h, w = x.shape
    ys = _reflect(torch.arange(h, device=x.device)[None, :] - shift[:, :1], h)  # [N, H]
    xs = _reflect(torch.arange(w, device=x.device)[None, :] - shift[:, 1:], w)  # [N, W]
    rows = torch.arange(n, device=x.device)[:, None, None]
    return x.permute(0, 2, 3, 1)[rows, ys[:, :, None], xs[:, None, :]].permute(0, 3, 1, 2)


def augment(x: torch.Tensor, p: float, generator: torch.Generator) -> torch.Tensor:
    """Every operation of the pipeline applied to each image of x [N, C, H, W] with probability p."""
    if p <= 0:
        return x
    n, c, h, w = x.shape
    dev = x.device

    def coins() -> torch.Tensor:
        return _coins(n, p, generator, dev)

    flip = coins()
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    if h == w:
        k = torch.randint(0, 4, (n,), generator=generator).to(dev) * coins()
        x = torch.stack([torch.rot90(img, int(r), dims=(1, 2)) for img, r in zip(x, k.tolist())])
    limit = max(1, int(round(TRANSLATE_FRACTION * min(h, w))))
    shift = torch.randint(-limit, limit + 1, (n, 2), generator=generator).to(dev) * coins()[:, None]
    x = _translate(x, shift)
    brightness = torch.randn(n, generator=generator).to(dev) * 0.2 * coins()
    x = x + brightness[:, None, None, None]
    contrast = torch.exp2(torch.randn(n, generator=generator).to(dev) * 0.5 * coins())
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * contrast[:, None, None, None] + mean
    if c == 3:
        saturation = torch.exp2(torch.randn(n, generator=generator).to(dev) * coins())
        luma = (x * _LUMA.to(dev, x.dtype)[None, :, None, None]).sum(dim=1, keepdim=True)
        x = (x - luma) * saturation[:, None, None, None] + luma
    cut = coins()
    centre = torch.rand(n, 2, generator=generator).to(dev)
    side = CUTOUT_FRACTION / 2
    yy = (torch.arange(h, device=dev) + 0.5) / h
    xx = (torch.arange(w, device=dev) + 0.5) / w
    inside = ((yy[None, :, None] - centre[:, 0, None, None]).abs() < side) & (
        (xx[None, None, :] - centre[:, 1, None, None]).abs() < side
    )
    keep = ~(inside & cut[:, None, None])
    return x * keep[:, None].to(x.dtype)


def mirror(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """``--mirror``: each real image x-flipped with probability 1/2 (doubles a small dataset)."""
    flip = _coins(images.shape[0], 0.5, generator, images.device)
    return torch.where(flip[:, None, None, None], images.flip(3), images)


class AdaptiveAugment:
    """The pipeline with its strength p: fixed, or adjusted from D's real logits (ADA)."""

    def __init__(self, p: float, adaptive: bool, target: float, interval: int, speed_kimg: float) -> None:
        self.p, self.adaptive, self.target = float(p), bool(adaptive), float(target)
        self.interval, self.speed_kimg = int(interval), float(speed_kimg)
        self._sign_sum, self._count, self._steps = 0.0, 0, 0

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return augment(x, self.p, generator)

    def state(self) -> dict[str, float]:
        """p and the partial adjustment window: what a resume needs to continue exactly."""
        return {"p": self.p, "sign_sum": self._sign_sum, "count": self._count, "steps": self._steps}

    def load_state(self, state: dict[str, float]) -> None:
        self.p, self._sign_sum = float(state["p"]), float(state["sign_sum"])
        self._count, self._steps = int(state["count"]), int(state["steps"])

    def observe(self, real_logits: torch.Tensor) -> None:
        """Record a D step's real logits; every ``interval`` D steps, move p towards the target r_t."""
        if not self.adaptive:
            return
        self._sign_sum += float(real_logits.detach().sign().sum())
        self._count += real_logits.numel()
        self._steps += 1
        if self._steps % self.interval:
            return
        r_t = self._sign_sum / max(self._count, 1)
        step = self._count / (self.speed_kimg * 1000)  # the images seen since the last adjustment
        self.p = min(max(self.p + (step if r_t > self.target else -step), 0.0), 1.0)
        self._sign_sum, self._count = 0.0, 0
