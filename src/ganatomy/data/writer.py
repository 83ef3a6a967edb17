"""Write (image, mask, label, factors) datasets as a folder or a zip that ``ganatomy.data`` reads back.

Layout (``ImageFolderDataset`` / ``open_dataset`` read it)::

    images/00000000.png     the images (RGB or grey), numbered in the order they were added
    masks/00000000.png      optional: single channel, value = part index (all images or none)
    dataset.json            {"labels": [[image, label or null], ...],
                             "masks": [[image, mask], ...],                         (when there are masks)
                             "factors": {"names": [...], "values": {image: [...]}}, (when factors are named)
                             ...extra metadata keys, in the order given}

The write is atomic: everything goes to a temporary file or folder beside ``path`` that is renamed
onto ``path`` only when the writer closes without an error. An exception removes the temporary;
a killed process leaves at most a hidden ``.NAME.*.tmp`` beside ``path``, never a half dataset at
``path``. A zip's bytes depend only on what was added (stored members, fixed timestamps).

    with DatasetWriter("pairs.zip", metadata={"part_labels": parts}) as out:
        for image, mask in pairs:
            out.add(image, mask=mask)
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from ganatomy.data.folder import METADATA_NAME
from ganatomy.errors import DataError, OptionsError
from ganatomy.utils.atomic import atomic_directory, atomic_path
from ganatomy.utils.images import png_bytes

# Fixed zip member timestamps keep the archive reproducible.
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
# Keys the writer fills in itself.
_RESERVED = ("labels", "masks", "factors")


class Sample(NamedTuple):
    """One item of a dataset: an [H, W, C] or [H, W] uint8 image and its optional ground truth."""

    image: np.ndarray
    mask: np.ndarray | None = None
    label: int | None = None
    factors: Sequence[float | int | None] | Mapping[str, float | int | None] | None = None


def _json_number(value: Any, where: str) -> float | int | None:
    """A factor value as a JSON number (ints stay ints, so categorical factors stay categorical)."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None  # missing: the loader reads null as NaN
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isinf(value):
        raise DataError(f"{where}: factor values must be finite numbers or None, got {value!r}")
    return value


class DatasetWriter:
    """Add samples one by one; the dataset appears at ``path`` when the writer closes.

    Args:
        path: a folder (must not exist, or be empty) or a file ending in ``.zip`` (must not exist).
        factor_names: names of the factors each sample carries (None: no factors).
        metadata: extra ``dataset.json`` keys (``part_labels``, ``label_factor``, ``factor_classes``,
            ...), written after the ones the writer fills in, in their order.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        factor_names: Sequence[str] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ):
        self.path = Path(path)
        self.is_zip = self.path.suffix.lower() == ".zip"
        if self.path.exists() and (self.is_zip or not self.path.is_dir() or any(self.path.iterdir())):
            raise OptionsError(f"{self.path}: already exists; choose a new path")
        reserved = [k for k in (metadata or {}) if k in _RESERVED]
        if reserved:
            raise OptionsError(f"dataset writer: metadata key {reserved[0]!r} is written by the writer itself")
        names = None if factor_names is None else [str(n) for n in factor_names]
        if names is not None and len(set(names)) != len(names):
            raise OptionsError(f"dataset writer: factor names must be distinct, got {names!r}")
        self.factor_names = names
        self.metadata = dict(metadata or {})
        self._labels: list[list[Any]] = []
        self._masks: list[list[str]] = []
        self._factors: dict[str, list[Any]] = {}
        self._shape: tuple[int, ...] | None = None
        self._with_masks: bool | None = None
        self._stack = contextlib.ExitStack()
        self._zip: zipfile.ZipFile | None = None
        self._folder: Path | None = None
        self._closed = False
        try:
            if self.is_zip:
                tmp = self._stack.enter_context(atomic_path(self.path))
                self._zip = self._stack.enter_context(zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED))
            else:
                self._folder = self._stack.enter_context(atomic_directory(self.path))
        except BaseException:
            self._stack.close()
            raise

    def __len__(self) -> int:
        return len(self._labels)

    def _write(self, rel: str, data: bytes) -> None:
        if self._zip is not None:
            # PNGs are compressed already and the JSON is small: store everything.
            info = zipfile.ZipInfo(rel, date_time=ZIP_DATE)
            info.external_attr = 0o644 << 16  # rw-r--r-- when unpacked
            self._zip.writestr(info, data)
        else:
            target = self._folder / rel
            target.parent.mkdir(exist_ok=True)
            target.write_bytes(data)

    def _check_image(self, image: np.ndarray, where: str) -> None:
        if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
            raise DataError(f"{where}: images must be uint8 numpy arrays, got {type(image).__name__}")
        if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3)):
            raise DataError(f"{where}: an image must be [H, W], [H, W, 1] or [H, W, 3], got {list(image.shape)}")
        h, w = image.shape[:2]
        if h != w or h & (h - 1):
            raise DataError(f"{where}: images must be square with a power-of-two size, got {w}x{h}")
        if self._shape is None:
            self._shape = image.shape
        elif image.shape != self._shape:
            raise DataError(f"{where}: image is {list(image.shape)} but the first was {list(self._shape)}")

    def _check_mask(self, mask: np.ndarray | None, size: int, where: str) -> None:
        has_mask = mask is not None
        if self._with_masks is None:
            self._with_masks = has_mask
        elif has_mask != self._with_masks:
            raise DataError(f"{where}: either every image has a mask or none has")
        if has_mask and (not isinstance(mask, np.ndarray) or mask.dtype != np.uint8 or mask.shape != (size, size)):
            got = f"{mask.dtype} {list(mask.shape)}" if isinstance(mask, np.ndarray) else type(mask).__name__
            raise DataError(f"{where}: a mask must be a uint8 array [{size}, {size}], got {got}")

    def _factor_row(self, factors: Any, where: str) -> list[Any] | None:
        if self.factor_names is None:
            if factors is not None:
                raise DataError(f"{where}: factors given, but the writer was made without factor_names")
            return None
        if isinstance(factors, Mapping):
            missing = [n for n in self.factor_names if n not in factors]
            if missing or len(factors) != len(self.factor_names):
                raise DataError(f"{where}: factors must name exactly {', '.join(self.factor_names)}")
            factors = [factors[n] for n in self.factor_names]
        if factors is None or len(factors) != len(self.factor_names):
            raise DataError(f"{where}: needs {len(self.factor_names)} factor values ({', '.join(self.factor_names)})")
        return [_json_number(v, where) for v in factors]

    def add(
        self,
        image: np.ndarray,
        mask: np.ndarray | None = None,
        label: int | None = None,
        factors: Sequence[Any] | Mapping[str, Any] | None = None,
    ) -> str:
        """Add one sample (see :class:`Sample`); returns its image's relative path."""
        if self._closed:
            raise OptionsError(f"{self.path}: the dataset writer is closed")
        index = len(self)
        where = f"{self.path} sample {index}"
        self._check_image(image, where)
        self._check_mask(mask, image.shape[0], where)
        if isinstance(label, np.generic):
            label = label.item()
        if label is not None and (isinstance(label, bool) or not isinstance(label, int) or label < -1):
            raise DataError(f"{where}: a label must be an int >= 0, or -1 / None for unlabelled, got {label!r}")
        row = self._factor_row(factors, where)
        image_rel = f"images/{index:08d}.png"
        self._write(image_rel, png_bytes(image))
        if mask is not None:
            mask_rel = f"masks/{index:08d}.png"
            self._write(mask_rel, png_bytes(mask))
            self._masks.append([image_rel, mask_rel])
        self._labels.append([image_rel, label])
        if row is not None:
            self._factors[image_rel] = row
        return image_rel

    def dataset_json(self) -> dict[str, Any]:
        """What ``dataset.json`` will hold for the samples added so far."""
        meta: dict[str, Any] = {"labels": self._labels}
        if self._with_masks:
            meta["masks"] = self._masks
        if self.factor_names is not None:
            meta["factors"] = {"names": self.factor_names, "values": self._factors}
        meta.update(self.metadata)
        return meta

    def close(self) -> Path:
        """Write ``dataset.json`` and move the dataset into place; returns its path."""
        if self._closed:
            return self.path
        try:
            if not len(self):
                raise DataError(f"{self.path}: no samples were added, so there is no dataset to write")
            self._write(METADATA_NAME, json.dumps(self.dataset_json()).encode("utf-8"))
        except BaseException as e:
            self.abort(e)
            raise
        self._closed = True
        self._stack.close()  # closes the zip, then renames the temporary onto path
        return self.path

    def abort(self, exc: BaseException | None = None) -> None:
        """Drop everything written so far: nothing appears at ``path``."""
        if self._closed:
            return
        self._closed = True
        error = exc or RuntimeError("dataset write aborted")
        # The atomic contexts see the error and delete their temporary instead of renaming it.
        self._stack.__exit__(type(error), error, error.__traceback__)

    def __enter__(self) -> DatasetWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc is None:
            self.close()
        else:
            self.abort(exc)


def write_dataset(
    path: str | os.PathLike,
    samples: Iterable[Sample | tuple],
    factor_names: Sequence[str] | None = None,
    metadata: Mapping[str, Any] | None = None,
    progress: Callable[[int], None] | None = None,
) -> Path:
    """Write every sample (``Sample`` or ``(image, mask, label, factors)`` tuples) to ``path``, atomically.

    ``progress`` (optional) is called with the number of samples written so far.
    """
    with DatasetWriter(path, factor_names, metadata) as writer:
        for sample in samples:
            writer.add(*sample)
            if progress is not None:
                progress(len(writer))
    return writer.path
