"""Fashion-MNIST from its standard IDX files (offline: Debian's ``dataset-fashion-mnist`` ships them).

The folder holds ``{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz`` (uncompressed copies without
``.gz`` are read too). An IDX file is a big-endian header (magic number, then one uint32 per
dimension) followed by the raw uint8 array. The 28x28 images are brought to the 32x32 power-of-two
size our models use, either by padding 2 zero pixels on each side (default: pixels stay exact) or
by bilinear resizing.
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from ganatomy.data.base import ImageDataset
from ganatomy.errors import DataError, OptionsError

DEFAULT_ROOT = Path("/usr/share/datasets/fashion-mnist")
CLASS_NAMES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
IMAGES_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions
LABELS_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension
SOURCE_SIZE = 28
RESOLUTION = 32
_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
SPLITS = ("train", "test", "all")

Split = Literal["train", "test", "all"]
Fit = Literal["pad", "resize"]


def read_idx(path: str | os.PathLike, magic: int) -> np.ndarray:
    """Read an IDX file of unsigned bytes (gzip-compressed when it ends in ``.gz``).

    Raises DataError (one line, naming ``path``) for a corrupt or truncated file, a wrong magic number
    or a payload whose size does not match the header.
    """
    path = Path(path)
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                data = f.read()
        else:
            data = path.read_bytes()
    except (OSError, EOFError, zlib.error) as e:  # BadGzipFile is an OSError; truncation is EOFError
        msg = " ".join(str(e).split()) or type(e).__name__
        raise DataError(f"{path}: corrupt or truncated file ({msg})") from None
    if len(data) < 4:
        raise DataError(f"{path}: too short for an IDX header ({len(data)} bytes)")
    found = int.from_bytes(data[:4], "big")
    if found != magic:
        kind = "images" if magic == IMAGES_MAGIC else "labels"
        raise DataError(f"{path}: IDX magic number is {found}, expected {magic} (uint8 {kind})")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path}: truncated IDX header")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    expected = int(np.prod(dims, dtype=np.int64))
    payload = len(data) - header
    if payload < expected:
        raise DataError(f"{path}: truncated: header says {dims} ({expected} bytes) but only {payload} bytes follow")
    if payload > expected:
        raise DataError(f"{path}: {payload - expected} unexpected bytes after the {dims} array")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def _find(root: Path, stem: str) -> Path:
    for candidate in (root / f"{stem}.gz", root / stem):
        if candidate.is_file():
            return candidate
    raise DataError(
        f"{root / (stem + '.gz')}: file not found; a Fashion-MNIST folder holds "
        "{train,t10k}-images-idx3-ubyte.gz and {train,t10k}-labels-idx1-ubyte.gz"
    )


def load_split(root: Path, split: Literal["train", "test"]) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 images [N, 28, 28], int64 labels [N]) of one split, validated."""
    images_path, labels_path = (_find(root, stem) for stem in _FILES[split])
    images = read_idx(images_path, IMAGES_MAGIC)
    if images.shape[1:] != (SOURCE_SIZE, SOURCE_SIZE):
        raise DataError(f"{images_path}: images are {images.shape[1]}x{images.shape[2]}, expected 28x28")
    labels = read_idx(labels_path, LABELS_MAGIC)
    if labels.shape[0] != images.shape[0]:
        raise DataError(f"{labels_path}: {labels.shape[0]} labels but {images_path.name} has {images.shape[0]} images")
    if labels.size and int(labels.max()) >= len(CLASS_NAMES):
        raise DataError(f"{labels_path}: label {int(labels.max())} is out of range 0-{len(CLASS_NAMES) - 1}")
    return images, labels.astype(np.int64)


def to_32(images: np.ndarray, fit: Fit = "pad") -> torch.Tensor:
    """uint8 [N, 28, 28] -> uint8 [N, 1, 32, 32], zero-padded by 2 or bilinearly resized."""
    n = images.shape[0]
    if fit == "pad":
        out = torch.zeros((n, 1, RESOLUTION, RESOLUTION), dtype=torch.uint8)
        off = (RESOLUTION - SOURCE_SIZE) // 2
        out[:, 0, off : off + SOURCE_SIZE, off : off + SOURCE_SIZE] = torch.from_numpy(images.copy())
        return out
    out = torch.empty((n, 1, RESOLUTION, RESOLUTION), dtype=torch.uint8)
    for start in range(0, n, 8192):  # chunks keep the float copy small on 70k images
        x = torch.from_numpy(images[start : start + 8192].copy()).float()[:, None]
        y = F.interpolate(x, size=(RESOLUTION, RESOLUTION), mode="bilinear", align_corners=False)
        out[start : start + 8192] = y.round().clamp(0, 255).to(torch.uint8)
    return out


class FashionMNIST(ImageDataset):
    """Fashion-MNIST at 32x32, all images in memory.

    Args:
        root: folder with the IDX files; default: where Debian's ``dataset-fashion-mnist`` puts them.
        split: ``"train"`` (60k), ``"test"`` (10k) or ``"all"`` (train then test, 70k).
        fit: ``"pad"`` (2 zero pixels on each side) or ``"resize"`` (bilinear).
        mode: ``"grey"`` (1 channel; ``"auto"`` means the same) or ``"rgb"`` (the grey value three times).
    """

    judge = "fmnist"  # the shipped Fashion-MNIST classifier

    def __init__(
        self,
        root: str | os.PathLike | None = None,
        split: Split = "train",
        fit: Fit = "pad",
        mode: Literal["grey", "rgb", "auto"] = "grey",
    ):
        if split not in SPLITS:
            raise OptionsError(f"Fashion-MNIST split {split!r} is unknown; use train, test or all")
        if fit not in ("pad", "resize"):
            raise OptionsError(f"Fashion-MNIST fit {fit!r} is unknown; use pad or resize")
        if mode not in ("grey", "rgb", "auto"):
            raise OptionsError(f"image mode {mode!r} is unknown; use grey, rgb or auto")
        self.root = Path(root) if root is not None else DEFAULT_ROOT
        if not self.root.is_dir():
            if root is None:
                raise DataError(
                    f"{self.root}: Fashion-MNIST not found; install it with "
                    "`apt-get install dataset-fashion-mnist` or pass --data PATH_TO_FOLDER"
                )
            raise DataError(f"{self.root}: no such folder (expected the Fashion-MNIST IDX .gz files)")
        parts = [load_split(self.root, s) for s in (("train", "test") if split == "all" else (split,))]
        images = np.concatenate([p[0] for p in parts]) if len(parts) > 1 else parts[0][0]
        self.labels = np.concatenate([p[1] for p in parts]) if len(parts) > 1 else parts[0][1]
        self._grey = to_32(images, fit)
        self.split = split
        self.fit = fit
        self.name = "fashion-mnist" if split == "train" else f"fashion-mnist-{split}"
        self.resolution = RESOLUTION
        self.channels = 3 if mode == "rgb" else 1
        self.num_classes = len(CLASS_NAMES)
        self.class_names = CLASS_NAMES

    def __len__(self) -> int:
        return self._grey.shape[0]

    def get_images(self, indices: np.ndarray) -> torch.Tensor:
        x = self._grey[torch.as_tensor(np.asarray(indices, dtype=np.int64))]
        # RGB is made per batch: storing three identical planes would triple the memory for nothing
        return x.repeat(1, 3, 1, 1) if self.channels == 3 else x
