"""One string names any dataset: ``world:32``, ``world:64``, ``fashion-mnist[:split]`` or a path.

This is what ``--data`` on the command line accepts. A path may be an image folder, a ``.zip``, or a
folder holding the Fashion-MNIST IDX files.
"""

from __future__ import annotations

from pathlib import Path

from ganatomy.data.base import ImageDataset
from ganatomy.errors import DataError, OptionsError

ACCEPTED = "world:32, world:64, fashion-mnist[:train|test|all], or the path of an image folder or .zip"
WORLD_RESOLUTIONS = (32, 64)
_FASHION_NAMES = ("fashion-mnist", "fashion_mnist", "fashionmnist")
_IDX_IMAGE_FILES = (
    "train-images-idx3-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "train-images-idx3-ubyte",
    "t10k-images-idx3-ubyte",
)


def _is_fashion_mnist_folder(path: Path) -> bool:
    """A folder of IDX files (and no dataset.json) is read as Fashion-MNIST, not as an image folder."""
    return not (path / "dataset.json").exists() and any((path / f).is_file() for f in _IDX_IMAGE_FILES)


def open_dataset(spec: str, **kw) -> ImageDataset:
    """Open the dataset that ``spec`` names; ``kw`` go to its constructor.

    - ``world:32`` / ``world:64``: the procedural world (``WorldDataset(res=...)``).
    - ``fashion-mnist`` or ``fashion-mnist:train|test|all``: Fashion-MNIST from its default folder
      (``root=`` names another).
    - a path: an image folder or zip (``ImageFolderDataset``), or a folder of Fashion-MNIST IDX files.

    Raises OptionsError for an unknown name, DataError for a path that does not exist.
    """
    spec = str(spec).strip()
    head, sep, variant = spec.partition(":")
    key = head.lower()
    if key == "world" and sep:
        if variant not in {str(r) for r in WORLD_RESOLUTIONS}:
            raise OptionsError(f"dataset {spec!r}: the world comes at world:32 or world:64")
        from ganatomy.data.world import WorldDataset  # lazy: the world pulls in its renderer

        return WorldDataset(res=int(variant), **kw)
    if key in _FASHION_NAMES:
        from ganatomy.data.fashion_mnist import SPLITS, FashionMNIST

        if sep and variant not in SPLITS:
            raise OptionsError(f"dataset {spec!r}: the Fashion-MNIST split must be train, test or all")
        if sep:
            kw["split"] = variant
        return FashionMNIST(**kw)

    path = Path(spec).expanduser()
    if path.exists():
        if path.is_dir() and _is_fashion_mnist_folder(path):
            from ganatomy.data.fashion_mnist import FashionMNIST

            return FashionMNIST(root=path, **kw)
        from ganatomy.data.folder import ImageFolderDataset

        return ImageFolderDataset(path, **kw)
    # Something that looks like a path gets a "not found"; a bare unknown word gets the list of names.
    if "/" in spec or "\\" in spec or spec.startswith(".") or path.suffix.lower() == ".zip":
        raise DataError(f"{spec}: no such folder or zip file")
    raise OptionsError(f"unknown dataset {spec!r}; use {ACCEPTED}")
