"""Training the oracles: the world oracle on freshly rendered world images, the Fashion-MNIST classifier.

World oracle (:func:`train_world_oracle`): step k renders ``batch`` new images of world dataset
seed :data:`~ganatomy.oracle.evaluation.TRAIN_DATA_SEED` (images ``k * batch ..``), so no
image is seen twice and none is in the held-out set. Loss per batch::

    CE(part logits, mask) + reg_weight * mean_j (prediction_j - target_j)^2 / var_j + mean_f CE(logits_f, class_f)

where the regression targets are the continuous factors normalised by their registry range (cos/sin
for full-circle hues, see ``spec.py``) and ``var_j`` their variance under the uniform prior (so the
regression term is about ``1 - R²``). Augmentation does not change any factor or part: Gaussian
pixel noise with a per-image standard deviation drawn from U(0, ``noise_max``), and with probability
``blur_prob`` a 3x3 Gaussian blur of random width; this is what lets the oracle read GAN samples,
which are never as clean as renders. AdamW, linear warm-up then cosine decay (the shared trainer,
``ganatomy.fit``), bf16 autocast and channels_last on the CPU.

Fashion-MNIST classifier (:func:`train_fashion_classifier`): the 60k training split with random
horizontal flips and shifts of up to 2 pixels; cross-entropy with label smoothing; test accuracy at
the end on the 10k test split.

Every random thing is seeded from ``seed``; the checkpoint's meta records the command, the settings,
the time taken and the held-out scores.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

import ganatomy
from ganatomy.errors import OptionsError
from ganatomy.fit import Trainer
from ganatomy.oracle.evaluation import (
    EVAL_DATA_SEED,
    TRAIN_DATA_SEED,
    evaluate_fashion_classifier,
    evaluate_world_oracle,
)
from ganatomy.oracle.network import FashionNet, WorldOracleNet
from ganatomy.oracle.predictor import FashionClassifier, WorldOracle, load_oracle
from ganatomy.oracle.store import save_oracle
from ganatomy.utils.precision import use_bf16

Log = Callable[[str], None]


@dataclasses.dataclass
class WorldOracleTraining:
    """Settings of a world-oracle training run (recorded in the checkpoint)."""

    res: int = 32
    steps: int = 6000
    batch: int = 64
    lr: float = 3e-3
    weight_decay: float = 1e-4
    warmup: int = 200
    seed: int = 0
    noise_max: float = 0.04
    blur_prob: float = 0.25
    reg_weight: float = 2.0
    eval_images: int = 2000
    widths: list[int] | None = None
    feature_dim: int = 256
    bf16: bool | str = "auto"  # autocast; auto: where the CPU computes bf16 natively
    channels_last: bool = True

    def __post_init__(self) -> None:
        if self.res not in (32, 64):
            raise OptionsError(f"--res: the world oracle is trained at 32 or 64, got {self.res}")
        if self.steps < 1 or self.batch < 2:
            raise OptionsError(f"--steps and --batch must be >= 1 and >= 2, got {self.steps} and {self.batch}")
        if self.eval_images < 1:  # checked now, not after the training
            raise OptionsError(f"--eval-images must be >= 1, got {self.eval_images}")


@dataclasses.dataclass
class FashionTraining:
    """Settings of a Fashion-MNIST classifier training run (recorded in the checkpoint)."""

    epochs: float = 4.0
    batch: int = 128
    lr: float = 3e-3
    weight_decay: float = 5e-4
    label_smoothing: float = 0.1
    seed: int = 0
    widths: list[int] = dataclasses.field(default_factory=lambda: [32, 64, 128])
    feature_dim: int = 128
    bf16: bool | str = "auto"  # autocast; auto: where the CPU computes bf16 natively
    channels_last: bool = True
    root: str | None = None

    def __post_init__(self) -> None:
        if not 0 < self.epochs < math.inf or self.batch < 2:
            raise OptionsError(f"--epochs and --batch must be > 0 and >= 2, got {self.epochs} and {self.batch}")


def augment(x: torch.Tensor, gen: torch.Generator, noise_max: float, blur_prob: float) -> torch.Tensor:
    """Factor-preserving augmentation of [-1, 1] images: random blur, then random Gaussian noise."""
    n, c = x.shape[:2]
    if blur_prob > 0:
        blur = torch.rand(n, generator=gen) < blur_prob
        if blur.any():
            sigma = 0.3 + 0.5 * torch.rand(int(blur.sum()), generator=gen)  # pixels
            taps = torch.exp(-torch.tensor([1.0, 0.0, 1.0])[None] / (2 * sigma[:, None] ** 2))
            taps = taps / taps.sum(dim=1, keepdim=True)  # [B', 3]
            kernel = (taps[:, :, None] * taps[:, None, :]).repeat_interleave(c, dim=0)[:, None]  # [B'*C, 1, 3, 3]
            sel = x[blur]
            flat = F.pad(sel.reshape(1, -1, *sel.shape[2:]), (1, 1, 1, 1), mode="replicate")
            x = x.clone()
            x[blur] = F.conv2d(flat, kernel, groups=kernel.shape[0]).reshape(sel.shape)
    if noise_max > 0:
        std = noise_max * torch.rand(n, 1, 1, 1, generator=gen)
        x = x + std * torch.randn(x.shape, generator=gen)
    return x.clamp(-1.0, 1.0)


def _to_unit(images_nhwc: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(images_nhwc).permute(0, 3, 1, 2).float() / 127.5 - 1.0


def _meta(kind_cfg: Any, command: str | None, seconds: float, extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "command": command or f"ganatomy.oracle.train ({type(kind_cfg).__name__})",
        "config": dataclasses.asdict(kind_cfg),
        "train_seconds": round(seconds, 1),
        "torch_threads": torch.get_num_threads(),
        "ganatomy_version": ganatomy.__version__,
        "torch_version": torch.__version__,
        **extra,
    }


def _save_and_score(
    net: torch.nn.Module,
    meta: dict[str, Any],
    out: str | Path | None,
    wrap: Callable[..., Any],
    score: Callable[[Any], dict[str, Any]],
) -> Any:
    """The trained predictor, scored on held-out data as it is stored (float16 weights when ``out``
    is given); the scores go to ``meta["heldout"]`` and into the saved file."""
    if out is not None:
        save_oracle(out, net, meta)
        predictor = load_oracle(out)
    else:
        predictor = wrap(net, meta)
    meta["heldout"] = score(predictor)
    predictor.meta = meta
    if out is not None:
        save_oracle(out, predictor.net, meta)
    return predictor


def train_world_oracle(
    cfg: WorldOracleTraining,
    out: str | Path | None = None,
    command: str | None = None,
    progress: bool = True,
    log: Log | None = None,
    log_every: int = 100,
) -> tuple[WorldOracle, dict[str, Any]]:
    """Train a world oracle; save it to ``out`` (if given) and return it with its held-out scores.

    Returns (oracle, meta): the meta is what the checkpoint records (with ``meta["heldout"]`` the
    scores on ``cfg.eval_images`` held-out images, measured on the weights as saved).
    """
    from ganatomy.worlds import FaceWorld, image_seeds

    torch.manual_seed(cfg.seed)  # the initialisation draws from torch's global RNG
    net = WorldOracleNet(cfg.res, widths=cfg.widths, feature_dim=cfg.feature_dim)
    memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
    net = net.to(memory_format=memory_format).train()
    world = FaceWorld(cfg.res)
    spec = net.spec
    scale = spec.regression_scale()

    bf16 = use_bf16(cfg.bf16)

    def loss_fn(net: WorldOracleNet, step: int, gen: torch.Generator) -> dict[str, torch.Tensor]:
        batch = world.render_seeds(image_seeds(TRAIN_DATA_SEED, range(step * cfg.batch, (step + 1) * cfg.batch)))
        x = augment(_to_unit(batch.images), gen, cfg.noise_max, cfg.blur_prob)
        x = x.contiguous(memory_format=memory_format)
        reg_t, cls_t = spec.encode(batch.factors)
        masks = torch.from_numpy(batch.masks).long()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            pred = net(x)
        loss_mask = F.cross_entropy(pred["mask_logits"].float(), masks)
        loss_reg = ((pred["regression"].float() - reg_t) ** 2 / scale).mean()
        loss_cls = sum(F.cross_entropy(pred["logits"][n].float(), cls_t[n]) for n in cls_t) / max(1, len(cls_t))
        loss = loss_mask + cfg.reg_weight * loss_reg + loss_cls
        return {"loss": loss, "mask": loss_mask, "reg": loss_reg, "cls": loss_cls}

    trainer = Trainer(
        net,
        loss_fn,
        cfg.steps,
        lr=cfg.lr,
        weight_decay=cfg.weight_decay,
        warmup=cfg.warmup,
        seed=cfg.seed,
        progress=progress,
        log=log,
        log_every=log_every,
        description=f"world oracle {cfg.res}",
    ).fit()
    net = net.to(memory_format=torch.contiguous_format).eval()
    extra = {
        "kind": "world",
        "loss_curve": trainer.curve,
        "resolution": cfg.res,
        "images_seen": cfg.steps * cfg.batch,
        "train_data": f"world:{cfg.res} dataset seed {TRAIN_DATA_SEED}, images 0..{cfg.steps * cfg.batch - 1}",
        "eval_data": f"world:{cfg.res} dataset seed {EVAL_DATA_SEED}, images 0..{cfg.eval_images - 1}",
    }
    meta = _meta(cfg, command, trainer.seconds, extra)
    oracle = _save_and_score(net, meta, out, WorldOracle, lambda o: evaluate_world_oracle(o, cfg.eval_images).as_dict())
    scores = meta["heldout"]
    if log:
        log(
            f"held-out: min R2 {scores['min_factor_r2']:.4f}, min class acc {scores['min_class_acc']:.4f}, "
            f"mask mIoU {scores['mask_miou']:.4f}"
        )
    return oracle, meta


def _shift_flip(x: torch.Tensor, gen: torch.Generator, max_shift: int = 2) -> torch.Tensor:
    """Random horizontal flips and integer shifts (zero fill) of [-1, 1] grey images."""
    n = len(x)
    flip = torch.rand(n, generator=gen) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    padded = F.pad(x, (max_shift,) * 4, value=-1.0)
    dx = torch.randint(0, 2 * max_shift + 1, (n,), generator=gen)
    dy = torch.randint(0, 2 * max_shift + 1, (n,), generator=gen)
    h, w = x.shape[-2:]
    rows = (dy[:, None] + torch.arange(h)[None])[:, None, :, None].expand(n, x.shape[1], h, w + 2 * max_shift)
    out = padded.gather(2, rows)
    cols = (dx[:, None] + torch.arange(w)[None])[:, None, None, :].expand(n, x.shape[1], h, w)
    return out.gather(3, cols)


class _FashionLoss:
    """Label-smoothed cross-entropy on shuffled, flipped and shifted training images; a new order every epoch."""

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        cfg: FashionTraining,
        steps_per_epoch: int,
        memory_format: torch.memory_format,
    ):
        self.images, self.labels, self.cfg = images, labels, cfg
        self.steps_per_epoch, self.memory_format = steps_per_epoch, memory_format
        self.order: torch.Tensor | None = None
        self.bf16 = use_bf16(cfg.bf16)

    def __call__(self, net: FashionNet, step: int, gen: torch.Generator) -> dict[str, torch.Tensor]:
        pos = (step % self.steps_per_epoch) * self.cfg.batch
        if pos == 0:
            self.order = torch.randperm(len(self.images), generator=gen)
        idx = self.order[pos : pos + self.cfg.batch]
        x = _shift_flip(self.images[idx].float() / 127.5 - 1.0, gen).contiguous(memory_format=self.memory_format)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            logits = net(x)
        loss = F.cross_entropy(logits.float(), self.labels[idx], label_smoothing=self.cfg.label_smoothing)
        return {"loss": loss, "acc": (logits.argmax(1) == self.labels[idx]).float().mean()}

    def state_dict(self) -> dict[str, Any]:
        return {"order": self.order}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.order = state["order"]


def train_fashion_classifier(
    cfg: FashionTraining,
    out: str | Path | None = None,
    command: str | None = None,
    progress: bool = True,
    log: Log | None = None,
    log_every: int = 100,
) -> tuple[FashionClassifier, dict[str, Any]]:
    """Train the Fashion-MNIST classifier on the train split; test accuracy is in ``meta['heldout']``."""
    from ganatomy.data.fashion_mnist import FashionMNIST

    torch.manual_seed(cfg.seed)  # the initialisation and dropout draw from torch's global RNG
    train = FashionMNIST(root=cfg.root, split="train")
    images = train.get_images(np.arange(len(train)))
    labels = torch.from_numpy(train.labels.copy())
    net = FashionNet(train.num_classes, widths=cfg.widths, feature_dim=cfg.feature_dim)
    memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
    net = net.to(memory_format=memory_format).train()
    steps_per_epoch = len(train) // cfg.batch
    steps = max(1, int(round(cfg.epochs * steps_per_epoch)))
    loss_fn = _FashionLoss(images, labels, cfg, steps_per_epoch, memory_format)
    warmup = min(200, steps // 10 + 1)
    trainer = Trainer(
        net,
        loss_fn,
        steps,
        lr=cfg.lr,
        weight_decay=cfg.weight_decay,
        warmup=warmup,
        seed=cfg.seed,
        progress=progress,
        log=log,
        log_every=log_every,
        description="fashion classifier",
    ).fit()
    net = net.to(memory_format=torch.contiguous_format).eval()
    extra = {
        "kind": "fmnist",
        "loss_curve": trainer.curve,
        "resolution": 32,
        "steps": steps,
        "images_seen": steps * cfg.batch,
        "train_data": "fashion-mnist train split (60k)",
        "eval_data": "fashion-mnist test split (10k)",
    }
    meta = _meta(cfg, command, trainer.seconds, extra)
    classifier = _save_and_score(
        net, meta, out, FashionClassifier, lambda c: evaluate_fashion_classifier(c, root=cfg.root)
    )
    scores = meta["heldout"]
    if log:
        log(f"test accuracy {scores['accuracy']:.4f}")
    return classifier, meta


def parse_widths(text: str | None) -> list[int] | None:
    """``"16,32,64,128"`` -> [16, 32, 64, 128]; None stays None."""
    if text is None:
        return None
    try:
        return [int(t) for t in str(text).split(",") if t.strip()]
    except ValueError:
        raise OptionsError(f"--widths: expected comma-separated integers, got {text!r}") from None
