"""Oracles as predictors: images in, factors / classes / masks / features out.

``load_oracle("world32")`` gives a :class:`WorldOracle`; ``load_oracle("fmnist")`` a
:class:`FashionClassifier`. Both take uint8 images [N, C, H, W] (0..255) or floats in [-1, 1]
(a generator's output; clamped), run in batches under ``torch.no_grad`` and return CPU results.
Images at another resolution are resized (bilinear, antialiased) to the oracle's; grey images
are repeated to RGB for the world oracle, RGB images averaged to grey for the classifier.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ganatomy.errors import OptionsError
from ganatomy.oracle.network import FashionNet, WorldOracleNet
from ganatomy.oracle.spec import OracleSpec
from ganatomy.oracle.store import SHIPPED, read_oracle, resolve_oracle_path
from ganatomy.utils.hashing import file_sha256, module_sha256
from ganatomy.utils.images import as_unit_images, resize, to_rgb


@dataclasses.dataclass
class OraclePrediction:
    """What the world oracle reads off a batch of images.

    Attributes:
        factors: factor name -> [N] array in registry units (float64 continuous, int64 class indices).
        probs: categorical factor name -> float32 [N, C] class probabilities.
        masks: uint8 [N, H, W] part labels at the oracle's resolution (None unless asked for).
    """

    factors: dict[str, np.ndarray]
    probs: dict[str, np.ndarray]
    masks: np.ndarray | None = None


class _Predictor:
    """Shared batching and preprocessing."""

    net: torch.nn.Module
    resolution: int

    def __init__(
        self,
        net: torch.nn.Module,
        meta: dict[str, Any],
        name: str,
        path: Path | None,
        batch_size: int,
        device: str | torch.device,
        bf16: bool,
    ):
        self.net = net.eval().to(device)
        self.meta = meta
        self.name = name
        self.path = path
        self.batch_size = int(batch_size)
        self.device = torch.device(device)
        self.bf16 = bool(bf16)
        self._sha256: str | None = None

    @property
    def weights_sha256(self) -> str:
        """SHA-256 of the checkpoint file (of the state dict when built from a module)."""
        if self._sha256 is None:
            if self.path is not None:
                self._sha256 = file_sha256(self.path)
            else:
                self._sha256 = module_sha256(self.net)
        return self._sha256

    def prepare(self, images: torch.Tensor | np.ndarray) -> torch.Tensor:
        """uint8 or [-1, 1] images -> float [N, C, R, R] in [-1, 1] as the network takes them."""
        x = as_unit_images(images).clamp(-1.0, 1.0)
        channels = self.net.in_channels
        if x.shape[1] != channels:
            x = to_rgb(x) if channels == 3 else x.mean(dim=1, keepdim=True)
        return resize(x, self.resolution, antialias=True)

    def _batches(self, images: torch.Tensor | np.ndarray, fn: Callable[[torch.Tensor], Any]) -> list[Any]:
        x = self.prepare(images)
        outs = []
        with torch.no_grad():
            for chunk in x.split(self.batch_size):
                chunk = chunk.to(self.device).contiguous(memory_format=torch.channels_last)
                with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
                    outs.append(fn(chunk))
        return outs

    def features(self, images: torch.Tensor | np.ndarray) -> torch.Tensor:
        """Feature vectors float32 [N, D] on the CPU."""
        outs = self._batches(images, lambda c: self.net.features(c).float().cpu())
        return torch.cat(outs) if outs else torch.zeros(0, self.net.feature_dim)


class WorldOracle(_Predictor):
    """The world oracle: factors, classes, part masks and features of any image."""

    net: WorldOracleNet

    def __init__(
        self,
        net: WorldOracleNet,
        meta: dict[str, Any] | None = None,
        name: str = "world-oracle",
        path: Path | None = None,
        batch_size: int = 256,
        device: str | torch.device = "cpu",
        bf16: bool = False,
    ):
        super().__init__(net, meta or {}, name, path, batch_size, device, bf16)
        self.resolution = net.resolution
        self.spec: OracleSpec = net.spec

    @property
    def label_factor(self) -> str:
        return self.spec.label_factor

    @property
    def num_classes(self) -> int:
        return next(t.num_classes for t in self.spec.categorical if t.name == self.spec.label_factor)

    def predict(self, images: torch.Tensor | np.ndarray, masks: bool = False) -> OraclePrediction:
        """Factors (registry units), class probabilities and, with ``masks``, part masks."""

        def run(chunk: torch.Tensor) -> tuple:
            out = self.net(chunk)
            probs = {k: F.softmax(v.float(), dim=1).cpu() for k, v in out["logits"].items()}
            mask = out["mask_logits"].argmax(dim=1).to(torch.uint8).cpu() if masks else None
            return out["regression"].float().cpu(), probs, mask

        outs = self._batches(images, run)
        if not outs:
            raise OptionsError("oracle: no images given")
        reg = torch.cat([o[0] for o in outs])
        probs = {t.name: torch.cat([o[1][t.name] for o in outs]).numpy() for t in self.spec.categorical}
        factors: dict[str, np.ndarray] = self.spec.decode(reg)
        for name, p in probs.items():
            factors[name] = p.argmax(axis=1).astype(np.int64)
        mask_arr = torch.cat([o[2] for o in outs]).numpy() if masks else None
        return OraclePrediction({n: factors[n] for n in self.spec.factor_names}, probs, mask_arr)

    def classify(self, images: torch.Tensor | np.ndarray) -> np.ndarray:
        """Class probabilities [N, C] of the world's label factor."""
        return self.predict(images).probs[self.label_factor]


class FashionClassifier(_Predictor):
    """The Fashion-MNIST classifier: class probabilities and penultimate features."""

    net: FashionNet

    def __init__(
        self,
        net: FashionNet,
        meta: dict[str, Any] | None = None,
        name: str = "fmnist",
        path: Path | None = None,
        batch_size: int = 512,
        device: str | torch.device = "cpu",
        bf16: bool = False,
    ):
        super().__init__(net, meta or {}, name, path, batch_size, device, bf16)
        self.resolution = net.resolution

    @property
    def num_classes(self) -> int:
        return self.net.num_classes

    def classify(self, images: torch.Tensor | np.ndarray) -> np.ndarray:
        """Class probabilities float32 [N, num_classes]."""
        outs = self._batches(images, lambda c: F.softmax(self.net(c).float(), dim=1).cpu())
        return torch.cat(outs).numpy()


def load_oracle(
    name_or_path: str | os.PathLike = "world32",
    device: str | torch.device = "cpu",
    bf16: bool = False,
    batch_size: int | None = None,
) -> WorldOracle | FashionClassifier:
    """A shipped oracle by name (``world32``, ``world64``, ``fmnist``) or one from a checkpoint path."""
    path = resolve_oracle_path(name_or_path)
    net, meta = read_oracle(path)
    name = str(name_or_path) if str(name_or_path) in SHIPPED else path.stem
    kw = {"batch_size": batch_size} if batch_size else {}
    if isinstance(net, WorldOracleNet):
        return WorldOracle(net, meta, name, path, device=device, bf16=bf16, **kw)
    return FashionClassifier(net, meta, name, path, device=device, bf16=bf16, **kw)
