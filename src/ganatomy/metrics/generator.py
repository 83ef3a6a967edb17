"""Metrics of a generator read by a judge: class consistency and disentanglement.

Both draw N images from the one seeded sampler (:mod:`ganatomy.latent.sampling`): image j has
seed ``seed + j`` (z, and for a conditional generator its label, from that seed; random noise
from the same seed's noise stream), so a value does not depend on ``batch_size``. Images are
quantised to uint8 like real ones before the judge sees them.

* class consistency (kind ``cc``): N samples with requested classes ``i mod c_dim`` (balanced),
  classified by the judge (the world oracle's label-factor head, or the Fashion-MNIST
  classifier); values as :func:`ganatomy.metrics.classes.class_consistency`. Read the number
  against the judge's own held-out accuracy, which the record carries.
* disentanglement (kind ``dis``): codes are the generator's z (plus the class index as one more
  column for a conditional generator), factors are what the world oracle reads off the images
  (continuous in registry units, categorical as class indices); MIG, DCI (gradient-boosted
  trees) and SAP from :mod:`ganatomy.metrics.disentanglement`. A factor the generator never
  varies (the oracle reads one value for all samples) cannot be scored and is listed instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ganatomy.errors import OptionsError
from ganatomy.latent.sampling import seeded_latents
from ganatomy.metrics.classes import class_consistency
from ganatomy.metrics.disentanglement import disentanglement_scores
from ganatomy.nets.noise import SeededNoise


def to_uint8_images(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] floats -> uint8 [N, C, H, W], the mapping inverse to u / 127.5 - 1."""
    return ((images.detach().float().cpu().clamp(-1.0, 1.0) + 1.0) * 127.5).round().to(torch.uint8)


def generate(
    G: Any, seeds: Sequence[int], c: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """(uint8 images, z, class indices) of one sample per seed (labels drawn from each seed when ``c`` is None)."""
    with torch.no_grad():
        batch = seeded_latents(G, seeds, "z", c)
        images = G.synthesize(batch.latents, "z", c=batch.c, noise_mode=SeededNoise(batch.seeds))
    labels = batch.c.argmax(dim=1).cpu() if batch.c is not None else None
    return to_uint8_images(images), batch.z.detach().cpu(), labels


def generator_class_consistency(G: Any, judge: Any, num: int, seed: int = 0, batch_size: int = 64) -> dict[str, Any]:
    """Class consistency values of a conditional generator under ``judge`` (see the module doc)."""
    c_dim = int(getattr(G, "c_dim", 0))
    if not c_dim:
        raise OptionsError("class consistency needs a class-conditional generator; this one has c_dim = 0")
    if c_dim != judge.num_classes:
        raise OptionsError(f"class consistency: the generator has {c_dim} classes, the judge {judge.num_classes}")
    requested = np.arange(num) % c_dim
    judged = []
    for start in range(0, num, batch_size):
        c = torch.from_numpy(requested[start : start + batch_size])
        images, _, _ = generate(G, range(seed + start, seed + start + len(c)), c)
        judged.append(judge.classify(images).argmax(axis=1))
    r = class_consistency(requested, np.concatenate(judged), c_dim)
    return {
        "class_consistency": r.overall,
        "class_consistency_balanced": r.balanced,
        "per_class": [None if np.isnan(v) else float(v) for v in r.per_class],
    }


def class_consistency_protocol(G: Any) -> dict[str, Any]:
    return {"requested_classes": "i mod c_dim"}


def generator_disentanglement(G: Any, oracle: Any, num: int, seed: int = 0, batch_size: int = 64) -> dict[str, Any]:
    """MIG, DCI and SAP of the generator's z (and class) against the oracle's reading of its images."""
    codes, read = [], []
    for start in range(0, num, batch_size):
        b = min(batch_size, num - start)
        images, z, c = generate(G, range(seed + start, seed + start + b))
        code = z.reshape(b, -1).double()
        if c is not None:
            code = torch.cat([code, c.double()[:, None]], dim=1)
        codes.append(code.numpy())
        read.append(oracle.predict(images).factors)
    factors = {k: np.concatenate([r[k] for r in read]) for k in read[0]}
    constant = [k for k, v in factors.items() if np.all(v == v[0])]
    varied = {k: v for k, v in factors.items() if k not in constant}
    if not varied:
        raise OptionsError("disentanglement: the oracle reads the same value of every factor on all samples")
    kinds = {k: v for k, v in oracle.spec.kinds().items() if k in varied}
    scores = disentanglement_scores(np.concatenate(codes), varied, kinds, max_samples=num, seed=seed)
    return {**scores, "constant_factors": constant}


def disentanglement_protocol(G: Any) -> dict[str, Any]:
    return {"codes": "z" + (" + class index" if getattr(G, "c_dim", 0) else ""), "dci_model": "gbt"}


def judge_info(judge: Any) -> dict[str, Any]:
    """What a record says about the judge: its name, weights, resolution, held-out scores and maker."""
    meta = judge.meta if isinstance(judge.meta, dict) else {}
    return {
        "name": judge.name,
        "weights_sha256": judge.weights_sha256,
        "resolution": judge.resolution,
        "heldout": meta.get("heldout", {}),
        "made_by": meta.get("command"),
    }
