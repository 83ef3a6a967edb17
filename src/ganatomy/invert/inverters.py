"""GAN inversion as estimators: ``fit(G)`` prepares the inverter, ``invert(images, G)`` gives latents.

- :class:`EncoderInverter`: an encoder (``LatentEncoder``) trained on (image, latent) pairs the
  generator draws itself, with a latent loss and an image reconstruction loss through the frozen
  generator, optionally refined per image by a few optimisation steps (``refine_steps``);
- :class:`OptimizationInverter`: optimisation alone, from the mean latent and random restarts (the
  way to invert a generator without W, such as a DCGAN, into Z).

Both leave ``space_`` (the latents' space), ``latent_mean_`` / ``latent_std_`` (the prior the
optimisation is anchored to) and ``generator_``; ``invert`` refuses another generator than the one
fitted on, and images of another size or channel count than it draws. The work is done on G's device
(``generator_device``); images may be anywhere, and latents and redrawings come back on the CPU.
"""

from __future__ import annotations

import math
import os
from typing import Any, ClassVar

import numpy as np
import torch

from ganatomy.base import Estimator, describe_generator
from ganatomy.errors import OptionsError
from ganatomy.invert.encoder import LatentEncoder
from ganatomy.invert.images import generator_images
from ganatomy.invert.losses import ReconstructionLoss, check_loss_settings
from ganatomy.invert.optimize import check_steps, optimize_latents
from ganatomy.nets.protocol import generator_device

INVERT_SPACES = ("z", "w", "w+")


def resolve_space(G: Any, space: str, where: str) -> str:
    """'auto' is W where the generator has it, else Z; the space must be one G has (and a continuous Z)."""
    space = ("w" if "w" in G.latent_spaces else "z") if space == "auto" else space
    if space not in INVERT_SPACES:
        raise OptionsError(f"{where}: space must be one of auto, {', '.join(INVERT_SPACES)}, got {space!r}")
    if space not in G.latent_spaces:
        raise OptionsError(f"{where}: the generator ({G.kind}) has no {space!r} space; it has {G.latent_spaces}")
    if space == "z" and getattr(G, "z_discrete", False):
        raise OptionsError(f"{where}: the generator's z is discrete (gene indices); invert into 'w' or 'w+'")
    return space


def prior_stats(G: Any, space: str, n: int = 4000) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-dimension mean and std of the prior latents in ``space`` (W+ rows share W's)."""
    mean, std = G.latent_stats("z" if space == "z" else "w", n=n, seed=0)
    if space == "w+":
        mean, std = mean.expand(G.num_ws, -1).clone(), std.expand(G.num_ws, -1).clone()
    return mean.float().cpu(), std.float().cpu()


def generated_pairs(
    G: Any, space: str, n: int, seed: int, mixing: float, batch_size: int = 256
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` (image, latent) pairs drawn by G from seed ``seed``: images [n, C, R, R], latents in ``space``.

    In W+ a share ``mixing`` of the latents takes its rows from a crossover row on from a second W
    (StyleGAN's style mixing), so that the encoder sees W+ latents whose rows differ.
    """
    g = torch.Generator().manual_seed(int(seed))
    images, latents = [], []
    with torch.no_grad():
        for start in range(0, n, batch_size):
            b = min(batch_size, n - start)
            base = "w" if space == "w+" else space
            lat = G.to_space(G.sample_latents(b, generator=g), base).float()
            if space == "w+":
                other = G.to_space(G.sample_latents(b, generator=g), "w").float()
                cut = torch.randint(1, max(2, G.num_ws), (b,), generator=g)
                mixed = torch.rand(b, generator=g) < mixing
                rows = torch.arange(G.num_ws)[None, :]
                take_other = (mixed[:, None] & (rows >= cut[:, None]))[:, :, None].to(lat.device)
                lat = torch.where(take_other, other[:, None, :], lat[:, None, :].expand(-1, G.num_ws, -1))
            images.append(G.synthesize(lat, space).float().cpu())
            latents.append(lat.cpu())
    return torch.cat(images), torch.cat(latents)


class EncoderLoss:
    """The encoder's training loss on a bank of generated pairs (what ``Trainer`` calls each step).

    loss = latent_weight * mean ((E(x) - l) / std)²  +  image reconstruction of G(E(x)) against x
    (``ReconstructionLoss``: pixels + the oracle-feature perceptual term). The latent term teaches the
    encoder G's own latents; the image term what the image looks like where G cannot tell latents apart.
    """

    def __init__(
        self,
        G: Any,
        space: str,
        images: torch.Tensor,
        latents: torch.Tensor,
        batch_size: int,
        latent_weight: float,
        recon: ReconstructionLoss,
        image_weight: float,
    ):
        device = generator_device(G)  # the bank moves to G's device once; the batches are drawn there
        self.G, self.space, self.images, self.latents = G, space, images.to(device), latents.to(device)
        self.batch_size, self.latent_weight = batch_size, latent_weight
        self.recon, self.image_weight = recon, image_weight
        self.phi = recon.target_features(self.images) if image_weight > 0 else None
        self.base: torch.Tensor | None = None  # a frozen backbone's features of the bank, computed once

    def __call__(self, model: LatentEncoder, step: int, generator: torch.Generator) -> dict[str, Any]:
        idx = torch.randint(0, len(self.images), (self.batch_size,), generator=generator)
        x, target = self.images[idx], self.latents[idx]
        if model.frozen_backbone:
            if self.base is None:
                with torch.no_grad():
                    self.base = torch.cat([model.backbone_features(c) for c in self.images.split(512)])
            pred = model.from_backbone(self.base[idx])
        else:
            pred = model(x)
        latent = ((pred - target) / model.latent_std).square().mean()
        values: dict[str, Any] = {"latent": latent}
        loss = self.latent_weight * latent
        if self.image_weight > 0:
            phi = None if self.phi is None else self.phi[idx]
            image = self.recon(self.G.synthesize(pred, self.space), x, phi).mean()
            values["image"] = image
            loss = loss + self.image_weight * image
        values["loss"] = loss
        return values


def _check_positive_int(value: Any, name: str, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise OptionsError(f"{where}: {name} must be a positive integer, got {value!r}")
    return value


class _Inverter(Estimator):
    """What both inverters share: the generator check, batching, refinement and reconstruction."""

    space_: str
    latent_mean_: torch.Tensor
    latent_std_: torch.Tensor

    def _check_generator(self, G: Any, where: str) -> None:
        if G is None:
            raise OptionsError(f"{where}: needs the generator it was fitted on (G=...)")
        self.check_same_generator(G)

    def _refine(self, G: Any, start: torch.Tensor, x: torch.Tensor, loss: ReconstructionLoss) -> torch.Tensor:
        latents, _ = optimize_latents(
            G,
            start,
            self.space_,
            x,
            loss,
            self.refine_steps,
            self.refine_lr,
            self.latent_mean_,
            self.latent_std_,
            self.prior_weight,
        )
        return latents

    def _loss(self, G: Any) -> ReconstructionLoss:
        loss = ReconstructionLoss(int(G.img_resolution), self.perceptual, self.pixel_weight, self.perceptual_weight)
        return loss.to(generator_device(G))

    def reconstruct(self, images: Any, G: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """(latents, G's redrawing of each image [N, C, R, R] in [-1, 1])."""
        latents = self.invert(images, G)
        device = generator_device(G)
        with torch.no_grad():
            recon = [G.synthesize(chunk.to(device), self.space_).float().cpu() for chunk in latents.split(256)]
        return latents, torch.cat(recon)


class EncoderInverter(_Inverter):
    """An encoder from images to latents, trained on generated pairs (see the module docstring).

    Args:
        space: 'w', 'w+', 'z' or 'auto' (W where the generator has it, else Z).
        steps, batch_size, lr: the encoder's training (``ganatomy.fit.Trainer``: AdamW, warm-up + cosine).
        n_pairs: (image, latent) pairs drawn once from G (seeded) and sampled from at every step.
        mixing: share of W+ training latents with mixed rows (space 'w+' only).
        latent_weight, image_weight: weights of the latent loss and of the image reconstruction loss.
        perceptual, pixel_weight, perceptual_weight: the reconstruction loss (``ganatomy.invert.losses``),
            in training and in refinement.
        backbone: 'conv' (the encoder's own convolutions) or 'oracle' (the world oracle's frozen encoder).
        width: the first convolution's channels (backbone 'conv').
        refine_steps, refine_lr, prior_weight: per-image optimisation of the encoder's guess at
            ``invert`` time (0 steps: the encoder alone).
        seed: seed of the pairs, the encoder's initialisation and the batches.

    Fitted: ``encoder_``, ``space_``, ``latent_mean_``, ``latent_std_``, ``curve_`` ([step, loss]),
    ``train_seconds_``, ``generator_``.
    """

    fitted_types: ClassVar[dict[str, type]] = {"encoder_": LatentEncoder}

    def __init__(
        self,
        space: str = "w",
        steps: int = 2000,
        batch_size: int = 32,
        lr: float = 1e-3,
        n_pairs: int = 8192,
        mixing: float = 0.5,
        latent_weight: float = 1.0,
        image_weight: float = 1.0,
        perceptual: str = "oracle",
        pixel_weight: float = 1.0,
        perceptual_weight: float = 0.5,
        backbone: str = "conv",
        width: int = 32,
        refine_steps: int = 0,
        refine_lr: float = 0.05,
        prior_weight: float = 0.01,
        seed: int = 0,
    ):
        self.space = space
        self.steps = steps
        self.batch_size = batch_size
        self.lr = lr
        self.n_pairs = n_pairs
        self.mixing = mixing
        self.latent_weight = latent_weight
        self.image_weight = image_weight
        self.perceptual = perceptual
        self.pixel_weight = pixel_weight
        self.perceptual_weight = perceptual_weight
        self.backbone = backbone
        self.width = width
        self.refine_steps = refine_steps
        self.refine_lr = refine_lr
        self.prior_weight = prior_weight
        self.seed = seed

    def _check(self) -> None:
        where = "encoder inverter"
        for name in ("steps", "batch_size", "n_pairs", "width"):
            _check_positive_int(getattr(self, name), name, where)
        if not 0 <= self.mixing <= 1:
            raise OptionsError(f"{where}: mixing must lie in [0, 1], got {self.mixing!r}")
        weights = (self.latent_weight, self.image_weight)
        if not all(0 <= w < math.inf for w in weights) or sum(weights) <= 0:
            raise OptionsError(f"{where}: latent_weight and image_weight must be finite, >= 0 and not both 0")
        check_loss_settings(self.perceptual, self.pixel_weight, self.perceptual_weight, where)
        check_steps(self.refine_steps, self.refine_lr, self.prior_weight, where)

    def fit(
        self,
        G: Any,
        name: str | None = None,
        run_dir: str | os.PathLike | None = None,
        resume: bool = False,
        checkpoint_every: int = 0,
        progress: bool = False,
        log: Any = None,
    ) -> EncoderInverter:
        """Train the encoder on G's own pairs; with ``run_dir``: stats, checkpoints and ``resume`` (Trainer)."""
        from ganatomy.fit.trainer import Trainer

        self._check()
        space = resolve_space(G, self.space, "encoder inverter")
        mean, std = prior_stats(G, space)
        images, latents = generated_pairs(G, space, int(self.n_pairs), int(self.seed), float(self.mixing))
        with torch.random.fork_rng(devices=[]):  # a seeded initialisation without touching the caller's RNG
            torch.manual_seed(int(self.seed))
            encoder = LatentEncoder(
                int(G.img_channels),
                int(G.img_resolution),
                int(mean.shape[-1]),
                int(G.num_ws) if space == "w+" else 0,
                width=int(self.width),
                backbone=self.backbone,
            )
        encoder.set_latent_stats(mean, std)
        encoder.to(generator_device(G))
        loss = EncoderLoss(
            G, space, images, latents, int(self.batch_size), self.latent_weight, self._loss(G), self.image_weight
        )
        trainer = Trainer(
            encoder,
            loss,
            steps=int(self.steps),
            lr=self.lr,
            warmup=min(100, int(self.steps) // 10),
            seed=int(self.seed),
            max_grad_norm=10.0,
            run_dir=run_dir,
            checkpoint_every=checkpoint_every,
            progress=progress,
            log=log,
            description="encoder",
        ).fit(resume=resume)
        self.encoder_ = encoder.eval().requires_grad_(False)
        self.space_ = space
        self.latent_mean_, self.latent_std_ = mean, std
        self.curve_ = trainer.curve
        self.train_seconds_ = trainer.seconds
        self.generator_ = describe_generator(G, name)
        return self

    def _encoder_on(self, G: Any) -> tuple[LatentEncoder, torch.device]:
        """(the encoder, its device): moved to G's device, left where it is without G."""
        encoder = self.encoder_ if G is None else self.encoder_.to(generator_device(G))
        return encoder, next(encoder.parameters()).device

    def features(self, images: Any, G: Any) -> torch.Tensor:
        """The encoder's pooled features [N, F] of the images (what a feature baseline regresses on)."""
        self.check_fitted()
        x = generator_images(images, G, "encoder inverter")
        encoder, device = self._encoder_on(G)
        with torch.no_grad():
            return torch.cat([encoder.features(chunk.to(device)).cpu() for chunk in x.split(256)])

    def invert(self, images: Any, G: Any = None, batch_size: int = 256) -> torch.Tensor:
        """Latents [N, *latent_shape(space_)] of the images; G is needed for refinement (and is checked)."""
        self.check_fitted()
        if G is not None:
            self.check_same_generator(G)
        shape = (self.encoder_.img_channels, self.encoder_.img_resolution)
        reference = G if G is not None else _ImageShape(*shape)
        x = generator_images(images, reference, "encoder inverter")
        if self.refine_steps and G is None:
            raise OptionsError("encoder inverter: refine_steps > 0 needs the generator (invert(images, G))")
        loss = self._loss(G) if self.refine_steps else None
        encoder, device = self._encoder_on(G)
        out = []
        for chunk in x.split(batch_size):
            chunk = chunk.to(device)
            with torch.no_grad():
                guess = encoder(chunk)
            out.append(self._refine(G, guess, chunk, loss) if self.refine_steps else guess.cpu())
        return torch.cat(out)


class _ImageShape:
    """The image size and channels an encoder takes, standing in for G in the image checks."""

    def __init__(self, img_channels: int, img_resolution: int):
        self.img_channels, self.img_resolution = img_channels, img_resolution


class OptimizationInverter(_Inverter):
    """Per-image optimisation through the frozen generator (see ``ganatomy.invert.optimize``).

    Args:
        space: 'z', 'w', 'w+' or 'auto' (W where the generator has it, else Z).
        refine_steps, refine_lr: Adam steps and learning rate (in units of the prior's std).
        prior_weight: weight of the prior term.
        restarts: starts per image: the prior mean (in W; a prior draw in Z), then ``restarts - 1``
            prior draws; the one with the lowest final loss is kept (an optimisation in Z has local minima).
        perceptual, pixel_weight, perceptual_weight: the reconstruction loss.
        batch_size: images optimised together (they do not interact).
        seed: seed of the restarts.

    Fitted: ``space_``, ``latent_mean_``, ``latent_std_``, ``generator_``.
    """

    def __init__(
        self,
        space: str = "auto",
        refine_steps: int = 200,
        refine_lr: float = 0.05,
        prior_weight: float = 0.01,
        restarts: int = 1,
        perceptual: str = "none",
        pixel_weight: float = 1.0,
        perceptual_weight: float = 0.0,
        batch_size: int = 64,
        seed: int = 0,
    ):
        self.space = space
        self.refine_steps = refine_steps
        self.refine_lr = refine_lr
        self.prior_weight = prior_weight
        self.restarts = restarts
        self.perceptual = perceptual
        self.pixel_weight = pixel_weight
        self.perceptual_weight = perceptual_weight
        self.batch_size = batch_size
        self.seed = seed

    def fit(self, G: Any, name: str | None = None) -> OptimizationInverter:
        where = "optimisation inverter"
        check_steps(self.refine_steps, self.refine_lr, self.prior_weight, where, minimum=1)
        _check_positive_int(self.restarts, "restarts", where)
        _check_positive_int(self.batch_size, "batch_size", where)
        check_loss_settings(self.perceptual, self.pixel_weight, self.perceptual_weight, where)
        self.space_ = resolve_space(G, self.space, where)
        self.latent_mean_, self.latent_std_ = prior_stats(G, self.space_)
        self.generator_ = describe_generator(G, name)
        return self

    def invert(self, images: Any, G: Any = None) -> torch.Tensor:
        """Latents of the images, optimised through G (which must be the generator fitted on)."""
        self.check_fitted()
        self._check_generator(G, "optimisation inverter")
        x = generator_images(images, G, "optimisation inverter")
        loss = self._loss(G)
        g = torch.Generator().manual_seed(int(self.seed))
        best = torch.empty(len(x), *self.latent_mean_.shape)
        best_loss = torch.full((len(x),), np.inf)
        for r in range(int(self.restarts)):
            noise = torch.randn(len(x), *self.latent_mean_.shape, generator=g)
            # W's mean is a typical latent (the usual start); Z's is not: a Gaussian's draws lie near the
            # sphere of radius sqrt(D), and a DCGAN at z = 0 draws one flat image with no useful gradient.
            from_mean = r == 0 and self.space_ != "z"
            starts = self.latent_mean_ + (not from_mean) * self.latent_std_ * noise
            for lo in range(0, len(x), int(self.batch_size)):
                hi = lo + int(self.batch_size)
                lat, final = optimize_latents(
                    G,
                    starts[lo:hi],
                    self.space_,
                    x[lo:hi],
                    loss,
                    int(self.refine_steps),
                    self.refine_lr,
                    self.latent_mean_,
                    self.latent_std_,
                    self.prior_weight,
                )
                better = final < best_loss[lo:hi]
                best[lo:hi][better] = lat[better]
                best_loss[lo:hi] = torch.minimum(best_loss[lo:hi], final)
        return best
