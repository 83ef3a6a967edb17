"""Saliency from the background direction (Voynov & Babenko's application): masks without labels.

1. **Pairs** (``saliency_pairs``): an image G(l) and its shifted versions G(l +- t d); the
   foreground is where the shift changes the image little: the per-pixel colour change (the smaller
   of the two shifts': a pixel is background when both move it, which measured 0.66 against 0.52
   mask IoU for the larger on world32-stylegan2) thresholded per image by Otsu's method, so no
   threshold is tuned. Masks covering less than ``min_cover`` or more than ``max_cover`` of the
   image are dropped, as the paper drops degenerate ones.
2. **The background direction** (``choose_background_direction``): among K directions, the one
   whose masks are best, or the user names an index. Two rules:

   - ``"masks"`` (the default, no labels): (share of masks kept) x (mean Otsu effectiveness of the
     kept masks: the between-class share of the change map's variance, 1 for a clean two-level
     map). A background direction moves a large connected region and leaves the object still, so
     its change maps split cleanly and their masks fall within the cover limits. On
     world32-stylegan2 (64 GANSpace and SeFa directions, 128 images) this score ranks the
     directions by their masks' IoU with the oracle's true foreground at Spearman 0.94 and picks
     the best of them (0.82).
   - ``"oracle"``: the mean IoU of the kept masks with the world oracle's foreground of the same
     generated images, among the directions keeping at least ``MIN_KEPT_SHARE`` of their masks.
     It needs a world oracle, and it sees what the "masks" rule cannot: which regions belong to
     the object. On world32-stylegan2 a Voynov direction that moves the background and the hair
     hue together splits its change maps as cleanly as a pure background direction (the masks
     rule scores it highest) but its masks leave the hair out (IoU 0.68 against 0.82 for SeFa 1).
     (An earlier oracle rule, background-hue share x the oracle's foreground kept across the
     shift, picked that direction too: moving the hair's hue keeps the foreground.)
3. **The segmenter** (``SaliencySegmenter``): a small U-Net trained on the pairs with a binary
   cross-entropy, applied to any image (``predict``), scored against true foregrounds by IoU and
   F-beta (beta^2 = 0.3, the saliency literature's choice) with ``foreground_scores``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ganatomy.base import Estimator
from ganatomy.errors import OptionsError
from ganatomy.latent import Directions
from ganatomy.nets.unet import UNet

BACKGROUND_PART = 0  # the oracle's part label of the background
BETA_SQUARED = 0.3


# How the background direction is chosen (module docstring).
CHOICE_RULES = ("masks", "oracle")
# The oracle rule's candidates keep at least this share of their masks (fewer make too few pairs
# and too noisy an IoU).
MIN_KEPT_SHARE = 0.1


@dataclasses.dataclass
class BackgroundChoice:
    """The chosen direction and, for every candidate (``indices``), its score and what it is made of
    (``terms``: kept share and effectiveness, whose product is the score, for "masks"; kept share
    and the kept masks' IoU with the oracle's foreground, the score, for "oracle")."""

    index: int
    rule: str
    indices: list[int]
    scores: list[float]
    terms: dict[str, list[float]]

    def describe(self) -> str:
        what = {"masks": "kept share x effectiveness", "oracle": "masks' IoU with the oracle's foreground"}
        return f"direction {self.index} ({what[self.rule]} = {max(self.scores):.3f}, rule {self.rule!r})"


def foreground_of(masks: np.ndarray) -> np.ndarray:
    """The foreground (every part but the background) of part masks."""
    return masks != BACKGROUND_PART


def mask_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU per image of boolean masks [N, H, W] (1 where both are empty)."""
    inter = (a & b).sum(axis=(1, 2))
    union = (a | b).sum(axis=(1, 2))
    return np.where(union > 0, inter / np.maximum(union, 1), 1.0)


def otsu_split(values: np.ndarray, bins: int = 64) -> tuple[float, float]:
    """Otsu's cut of a 1-d sample and its effectiveness.

    The cut maximises the between-class variance (the middle one of equally good cuts); the
    effectiveness is that variance over the total (both on the histogram), in [0, 1]: 1 when the
    sample has two values, low when it has one mode.
    """
    hist, edges = np.histogram(values, bins=bins)
    centres = (edges[:-1] + edges[1:]) / 2
    weight = np.cumsum(hist)
    total = weight[-1]
    mean = np.cumsum(hist * centres)
    w0, w1 = weight[:-1], total - weight[:-1]
    m0 = mean[:-1] / np.maximum(w0, 1)
    m1 = (mean[-1] - mean[:-1]) / np.maximum(w1, 1)
    between = w0 * w1 * (m0 - m1) ** 2
    # Every cut inside an empty gap between the modes scores the same: take the gap's middle.
    best = np.flatnonzero(between >= between.max() * (1 - 1e-9))
    variance = float((hist * (centres - mean[-1] / total) ** 2).sum() * total)
    effectiveness = float(between.max() / variance) if variance > 0 else 0.0
    return float(edges[1:][best[len(best) // 2]]), effectiveness


@torch.no_grad()
def render(G: Any, latents: torch.Tensor, space: str, c: Any) -> torch.Tensor:
    """Images [N, C, H, W] in [-1, 1] (float32) of latents in ``space``."""
    return G.synthesize(latents, space, c=c).float().clamp(-1, 1)


@torch.no_grad()
def change_masks(
    G: Any, directions: Directions, index: int, latents: torch.Tensor, c: Any, shift: float, x0: torch.Tensor
) -> tuple[np.ndarray, np.ndarray]:
    """(foreground masks bool [N, H, W], Otsu effectiveness [N]) of one batch of latents and their images
    ``x0`` (:func:`render`): where the +-``shift`` moves of direction ``index`` change the image little."""
    change = torch.stack(
        [
            (G.synthesize(directions.apply(latents, index, s), directions.space, c=c).float() - x0).abs().sum(dim=1)
            for s in (shift, -shift)
        ]
    ).amin(dim=0)
    masks, effectiveness = [], []
    for delta in change.cpu().numpy():
        cut, eff = otsu_split(delta.ravel())
        masks.append(delta < cut)
        effectiveness.append(eff)
    return np.stack(masks), np.asarray(effectiveness)


def _check_cover(min_cover: float, max_cover: float) -> None:
    if not 0 <= min_cover < max_cover <= 1:
        raise OptionsError(f"saliency pairs: need 0 <= min_cover < max_cover <= 1, got {min_cover}, {max_cover}")


def _kept(masks: np.ndarray, min_cover: float, max_cover: float) -> np.ndarray:
    cover = masks.mean(axis=(1, 2))
    return (cover >= min_cover) & (cover <= max_cover)


@torch.no_grad()
def choose_background_direction(
    G: Any,
    directions: Directions,
    reader: Any = None,
    n: int = 32,
    shift: float = 3.0,
    seed: int = 0,
    rule: str = "masks",
    min_cover: float = 0.05,
    max_cover: float = 0.5,
) -> BackgroundChoice:
    """The direction that moves the background and keeps the object, by ``rule`` (module docstring).

    ``reader`` (the world oracle of G's resolution when None) is used by the "oracle" rule only; the
    cover limits are those of the pairs (:func:`saliency_pairs`).
    """
    from ganatomy.latent.sampling import seeded_latents

    if rule not in CHOICE_RULES:
        raise OptionsError(f"background direction: rule must be one of {', '.join(CHOICE_RULES)}, got {rule!r}")
    _check_cover(min_cover, max_cover)
    if rule == "oracle":
        from ganatomy.directions.oracle_access import reader_or_oracle

        reader = reader_or_oracle(reader, G.img_resolution)
    base = seeded_latents(G, range(seed, seed + n), space=directions.space)
    x0 = render(G, base.latents, directions.space, base.c)  # the same unshifted images for every direction
    truth = foreground_of(reader.predict(x0, masks=True).masks) if rule == "oracle" else None
    indices = list(range(len(directions)))
    kept_share, quality = [], []
    for k in indices:
        masks, effectiveness = change_masks(G, directions, k, base.latents, base.c, shift, x0)
        kept = _kept(masks, min_cover, max_cover)
        kept_share.append(float(kept.mean()))
        if rule == "masks":
            quality.append(float(effectiveness[kept].mean()) if kept.any() else 0.0)
            continue
        ok = kept.mean() >= MIN_KEPT_SHARE
        quality.append(float(mask_iou(masks[kept], truth[kept]).mean()) if ok else 0.0)
    if rule == "masks":
        scores = [a * b for a, b in zip(kept_share, quality)]
        terms = {"kept_share": kept_share, "effectiveness": quality}
    else:
        scores = quality
        terms = {"kept_share": kept_share, "oracle_iou": quality}
    return BackgroundChoice(indices[int(np.argmax(scores))], rule, indices, scores, terms)


@torch.no_grad()
def saliency_pairs(
    G: Any,
    directions: Directions,
    index: int,
    n: int = 2000,
    shift: float = 3.0,
    seed: int = 0,
    min_cover: float = 0.05,
    max_cover: float = 0.5,
    batch_size: int = 128,
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """(images [M, C, H, W] in [-1, 1], foreground masks bool [M, H, W], both on the CPU; share of the n kept)."""
    from ganatomy.latent.sampling import seeded_latents

    _check_cover(min_cover, max_cover)
    images, masks = [], []
    for start in range(seed, seed + int(n), int(batch_size)):
        base = seeded_latents(G, range(start, min(start + int(batch_size), seed + int(n))), space=directions.space)
        x0 = render(G, base.latents, directions.space, base.c)
        fore, _ = change_masks(G, directions, index, base.latents, base.c, shift, x0)
        kept = _kept(fore, min_cover, max_cover)
        images.append(x0.cpu()[torch.from_numpy(kept)])
        masks.append(torch.from_numpy(fore[kept]))
    images, masks = torch.cat(images), torch.cat(masks)
    if not len(images):
        raise OptionsError(
            f"saliency pairs: no mask of direction {index} covers {min_cover:.0%}-{max_cover:.0%} of the image; "
            "is it a background direction? (try another --index or a larger --shift)"
        )
    return images, masks, len(images) / int(n)


def write_pairs_sheet(path, images: torch.Tensor, masks: torch.Tensor, count: int = 16):
    """A PNG of the first ``count`` pairs: the images in one row, their foreground masks (white) below."""
    from ganatomy.utils.images import grid_array, save_png, to_uint8

    masks_rgb = (masks[:count, :, :, None].numpy().repeat(3, axis=3) * 255).astype(np.uint8)
    save_png(path, grid_array(np.concatenate([to_uint8(images[:count]), masks_rgb]), ncols=count))
    return path


def foreground_scores(predicted: np.ndarray, true: np.ndarray) -> dict[str, float]:
    """Mean IoU and F-beta (beta^2 = 0.3) of boolean foreground masks [N, H, W]."""
    predicted, true = np.asarray(predicted, bool), np.asarray(true, bool)
    if predicted.shape != true.shape:
        raise OptionsError(f"foreground scores: masks {predicted.shape} and {true.shape} differ in shape")
    tp = (predicted & true).sum(axis=(1, 2))
    precision = tp / np.maximum(predicted.sum(axis=(1, 2)), 1)
    recall = tp / np.maximum(true.sum(axis=(1, 2)), 1)
    fbeta = (1 + BETA_SQUARED) * precision * recall / np.maximum(BETA_SQUARED * precision + recall, 1e-12)
    return {"iou": float(mask_iou(predicted, true).mean()), "fbeta": float(fbeta.mean())}


class SaliencySegmenter(Estimator):
    """A small U-Net that predicts the foreground of an image (one logit per pixel).

    ``fit`` trains on ``device``; ``predict`` runs where ``model_`` is (move it with ``model_.to``).
    """

    fitted_types = {"model_": UNet}

    def __init__(
        self,
        widths: tuple[int, ...] = (16, 32, 64),
        steps: int = 1500,
        batch_size: int = 32,
        lr: float = 2e-3,
        seed: int = 0,
        device: str = "cpu",
    ) -> None:
        self.widths = widths
        self.steps = steps
        self.batch_size = batch_size
        self.lr = lr
        self.seed = seed
        self.device = device

    def fit(self, images: torch.Tensor, masks: torch.Tensor, progress: bool = False) -> SaliencySegmenter:
        """Train on images [N, C, H, W] in [-1, 1] (or uint8) and boolean foreground masks [N, H, W]."""
        from ganatomy.fit import Trainer
        from ganatomy.utils.images import as_unit_images

        x = as_unit_images(images).float().to(self.device)
        y = torch.as_tensor(masks).float().to(self.device)
        if x.ndim != 4 or y.shape != (x.shape[0], *x.shape[2:]):
            raise OptionsError(f"saliency segmenter: images {tuple(x.shape)} and masks {tuple(y.shape)} do not pair up")
        if len(x) < 2:
            raise OptionsError("saliency segmenter: needs at least 2 training images")
        torch.manual_seed(int(self.seed))
        model = UNet(in_channels=x.shape[1], out_channels=1, widths=tuple(self.widths)).to(self.device)

        def loss_fn(net: UNet, step: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
            pick = torch.randint(0, len(x), (min(int(self.batch_size), len(x)),), generator=generator)
            flip = (torch.rand(len(pick), generator=generator) < 0.5).to(x.device)  # the foreground flips too
            xb, yb = x[pick], y[pick]
            xb, yb = (
                torch.where(flip[:, None, None, None], xb.flip(-1), xb),
                torch.where(flip[:, None, None], yb.flip(-1), yb),
            )
            return {"loss": F.binary_cross_entropy_with_logits(net(xb)[:, 0], yb)}

        Trainer(
            model,
            loss_fn,
            steps=int(self.steps),
            lr=float(self.lr),
            seed=int(self.seed),
            progress=progress,
            description="saliency U-Net",
        ).fit()
        self.model_ = model.eval()
        self.resolution_ = int(x.shape[-1])
        return self

    @torch.no_grad()
    def predict_proba(self, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """Foreground probabilities [N, H, W] for images in [-1, 1] or uint8 at the training resolution."""
        from ganatomy.utils.images import as_unit_images

        self.check_fitted()
        x = as_unit_images(images).float()
        if x.ndim != 4 or x.shape[1] != self.model_.in_channels or x.shape[-1] != self.resolution_:
            raise OptionsError(
                f"saliency segmenter: expects [N, {self.model_.in_channels}, {self.resolution_}, {self.resolution_}] "
                f"images, got {tuple(x.shape)}"
            )
        device = next(self.model_.parameters()).device
        return torch.cat([torch.sigmoid(self.model_(chunk.to(device))[:, 0]).cpu() for chunk in x.split(batch_size)])

    def predict(self, images: torch.Tensor) -> np.ndarray:
        """Boolean foreground masks [N, H, W]."""
        return (self.predict_proba(images) > 0.5).numpy()


# Held-out real world images for the evaluation: dataset seeds 0 (training data), 1 and 2 (the
# oracle's), 3 (the real-vs-real reference) are taken; 5 is nobody's.
WORLD_TEST_SEED = 5


def world_foregrounds(res: int, n: int, seed: int) -> tuple[torch.Tensor, np.ndarray]:
    """``n`` real world images [N, 3, res, res] (uint8) and their true foregrounds (every part but the background)."""
    from ganatomy.data.world import WorldDataset

    images, masks, _ = WorldDataset(res, size=n, seed=seed).get_ground_truth(np.arange(n))
    return images, foreground_of(masks.numpy())


def world_saliency_scores(
    segmenter: SaliencySegmenter, upper_steps: int | None = None, n: int = 1000
) -> dict[str, float]:
    """IoU and F-beta of ``segmenter`` on ``n`` held-out real world images; with ``upper_steps``, also
    the same U-Net trained that long on true masks of as many real training images (the upper bound)."""
    segmenter.check_fitted()
    res = segmenter.resolution_
    images, truth = world_foregrounds(res, n, WORLD_TEST_SEED)
    scores = foreground_scores(segmenter.predict(images), truth)
    out = {"saliency_iou": scores["iou"], "saliency_fbeta": scores["fbeta"]}
    if upper_steps is not None:
        train_images, train_truth = world_foregrounds(res, n, 0)
        upper = segmenter.clone().set_params(steps=int(upper_steps)).fit(train_images, torch.from_numpy(train_truth))
        scores = foreground_scores(upper.predict(images), truth)
        out.update(saliency_iou_upper=scores["iou"], saliency_fbeta_upper=scores["fbeta"])
    return out
