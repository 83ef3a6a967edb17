"""Image folders and zips with an optional ``dataset.json`` (the stylegan2-ada / stylegan3 convention).

Layout::

    my_set/                      (or my_set.zip with the same members)
        dataset.json             optional
        0000.png  sub/0001.png   any .png .jpg .jpeg .bmp .webp, any depth

``dataset.json`` is ``{"labels": [[relative_path, label], ...]}`` or ``{"labels": null}``. When it lists
files, those files are the images, in that order (so an exported world set can keep ``masks/`` beside
``images/``); otherwise every image file found is used, in sorted order of relative path. A label is an
int; ``null`` or ``-1`` means unlabelled. The world exporter adds optional ground truth::

    "masks":   [[image_relpath, mask_relpath], ...]     uint8 single-channel PNGs, one per image
    "factors": {"names": [...], "values": {image_relpath: [value per name], ...}}
    "part_labels": ..., "label_factor": ...              kept as attributes
    "judge": "oracle"                                    the judge of its metrics (ganatomy.metrics.judges)

Everything is decoded once, at construction, into one uint8 tensor [N, C, H, W]: the sets this is
for are small, and decoding per batch would dominate a CPU training step.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from ganatomy.data.base import ImageDataset
from ganatomy.errors import DataError, OptionsError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
METADATA_NAME = "dataset.json"
# Sets at least this large get a progress bar while they are decoded.
PROGRESS_MIN_IMAGES = 2000
# Size errors point to the command that fixes them.
_TOOL_HINT = "make a square power-of-two set with: ganatomy dataset --source DIR --dest OUT.zip --res 64"

# PIL modes that carry no colour; "P" (palette) is decided from its palette, see _decode_image.
_GREY_MODES = {"1", "L", "LA", "La", "I", "F", "I;16", "I;16L", "I;16B", "I;16N"}
_MASK_MODES = {"L", "P"}

Mode = Literal["rgb", "grey", "auto"]


def _one_line(exc: BaseException) -> str:
    """An exception's message squeezed onto one line (PIL messages sometimes span several)."""
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


# --------------------------------------------------------------------------------------------------
# Where the bytes come from: a folder or a zip, behind one small interface.


class _FolderSource:
    def __init__(self, root: Path):
        self.root = root

    def list_files(self) -> list[str]:
        return sorted(p.relative_to(self.root).as_posix() for p in self.root.rglob("*") if p.is_file())

    def exists(self, rel: str) -> bool:
        return (self.root / rel).is_file()

    def read(self, rel: str) -> bytes:
        try:
            return (self.root / rel).read_bytes()
        except OSError as e:
            raise DataError(f"{self.describe(rel)}: cannot read ({_one_line(e)})") from None

    def describe(self, rel: str) -> str:
        return str(self.root / rel)

    def close(self) -> None:
        pass


class _ZipSource:
    def __init__(self, path: Path):
        self.path = path
        try:
            self.zf = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError, ValueError) as e:
            raise DataError(f"{path}: not a readable zip file ({_one_line(e)})") from None
        names = [n for n in self.zf.namelist() if not n.endswith("/")]
        # A zip made from a folder ("my_set/0000.png", ...) is read as if the folder were the root.
        self.prefix = ""
        tops = {n.split("/", 1)[0] for n in names}
        if len(tops) == 1 and all("/" in n for n in names):
            self.prefix = tops.pop() + "/"
        self.names = {n[len(self.prefix) :] for n in names}

    def list_files(self) -> list[str]:
        return sorted(self.names)

    def exists(self, rel: str) -> bool:
        return rel in self.names

    def read(self, rel: str) -> bytes:
        try:
            return self.zf.read(self.prefix + rel)
        # NotImplementedError: an unknown compression method, RuntimeError: an encrypted member
        # (what a corrupt method field or flag bit reads as).
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, KeyError, NotImplementedError, RuntimeError) as e:
            raise DataError(f"{self.describe(rel)}: cannot read from the zip ({_one_line(e)})") from None

    def describe(self, rel: str) -> str:
        return f"{self.path}/{self.prefix}{rel}"

    def close(self) -> None:
        self.zf.close()


def _open_source(path: Path) -> _FolderSource | _ZipSource:
    if path.is_dir():
        return _FolderSource(path)
    if path.is_file():
        return _ZipSource(path)
    raise DataError(f"{path}: no such folder or zip file")


# --------------------------------------------------------------------------------------------------
# dataset.json


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _check_relpath(rel: Any, where: str, what: str) -> str:
    """A relative path inside the set, in posix form."""
    if not isinstance(rel, str) or not rel:
        raise DataError(f"{where}: {what} must be a relative path string, got {rel!r}")
    p = PurePosixPath(rel)
    if p.is_absolute() or ".." in p.parts:
        raise DataError(f"{where}: {what} {rel!r} must be a relative path inside the dataset")
    return p.as_posix()


def _read_metadata(source: _FolderSource | _ZipSource) -> dict | None:
    if not source.exists(METADATA_NAME):
        return None
    where = source.describe(METADATA_NAME)
    raw = source.read(METADATA_NAME)
    try:
        meta = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise DataError(f"{where}: not UTF-8 text ({_one_line(e)})") from None
    except json.JSONDecodeError as e:
        raise DataError(f"{where}: invalid JSON at line {e.lineno} column {e.colno} ({e.msg})") from None
    if not isinstance(meta, dict):
        raise DataError(f'{where}: must hold a JSON object like {{"labels": [[path, label], ...]}}')
    return meta


def _parse_judge(meta: dict, where: str) -> str | None:
    """The judge the set declares for its metrics (None: the generic one)."""
    judge = meta.get("judge")
    if judge is not None and not isinstance(judge, str):
        raise DataError(f'{where}: "judge" must name a judge such as "oracle", got {judge!r}')
    return judge


def _parse_labels(meta: dict, where: str) -> tuple[list[str], list[int]] | None:
    """The listed images and their labels (-1 for unlabelled), or None when no list is given."""
    entries = meta.get("labels")
    if entries is None:
        return None
    if not isinstance(entries, list):
        raise DataError(f'{where}: "labels" must be a list of [path, label] pairs or null')
    if not entries:
        raise DataError(f'{where}: "labels" is an empty list; list the images or use null')
    paths: list[str] = []
    labels: list[int] = []
    seen: set[str] = set()
    for i, entry in enumerate(entries):
        if not isinstance(entry, list) or len(entry) != 2:
            raise DataError(f"{where}: labels[{i}] must be a [path, label] pair, got {entry!r}")
        rel = _check_relpath(entry[0], where, f"labels[{i}] path")
        label = entry[1]
        if label is None:
            label = -1
        if not _is_int(label) or label < -1:
            raise DataError(
                f"{where}: labels[{i}] ({rel}) has label {entry[1]!r}; a label must be an int >= 0, or -1/null"
            )
        if rel in seen:
            raise DataError(f'{where}: {rel} is listed twice in "labels"')
        seen.add(rel)
        paths.append(rel)
        labels.append(label)
    return paths, labels


def _parse_masks(meta: dict, where: str, paths: list[str]) -> list[str] | None:
    """Mask relpaths in image order, or None."""
    entries = meta.get("masks")
    if entries is None:
        return None
    if not isinstance(entries, list):
        raise DataError(f'{where}: "masks" must be a list of [image_path, mask_path] pairs')
    index = {p: i for i, p in enumerate(paths)}
    masks: list[str | None] = [None] * len(paths)
    for i, entry in enumerate(entries):
        if not isinstance(entry, list) or len(entry) != 2:
            raise DataError(f"{where}: masks[{i}] must be an [image_path, mask_path] pair, got {entry!r}")
        img = _check_relpath(entry[0], where, f"masks[{i}] image path")
        mask = _check_relpath(entry[1], where, f"masks[{i}] mask path")
        if img not in index:
            raise DataError(f"{where}: masks[{i}] names {img}, which is not one of the dataset's images")
        masks[index[img]] = mask
    missing = [p for p, m in zip(paths, masks) if m is None]
    if missing:
        raise DataError(f'{where}: "masks" has no mask for {len(missing)} image(s), e.g. {missing[0]}')
    return masks  # type: ignore[return-value]


def _parse_factors(meta: dict, where: str, paths: list[str]) -> dict[str, np.ndarray] | None:
    """Ground-truth factors by name, arrays [N] in image order, or None."""
    spec = meta.get("factors")
    if spec is None:
        return None
    if (
        not isinstance(spec, dict)
        or not isinstance(spec.get("names"), list)
        or not isinstance(spec.get("values"), dict)
    ):
        raise DataError(f'{where}: "factors" must be {{"names": [...], "values": {{image_path: [...]}}}}')
    names = spec["names"]
    if not all(isinstance(n, str) for n in names) or len(set(names)) != len(names):
        raise DataError(f'{where}: factors "names" must be distinct strings, got {names!r}')
    values = {_check_relpath(k, where, "a factors key"): v for k, v in spec["values"].items()}
    known = set(paths)
    for rel in values:
        if rel not in known:
            raise DataError(f"{where}: factors list {rel}, which is not one of the dataset's images")
    rows = []
    for rel in paths:
        row = values.get(rel)
        if row is None:
            raise DataError(f"{where}: factors have no values for {rel}")
        if not isinstance(row, list) or len(row) != len(names):
            raise DataError(f"{where}: factors of {rel} must be a list of {len(names)} numbers, got {row!r}")
        if not all(v is None or _is_number(v) for v in row):
            raise DataError(f"{where}: factors of {rel} must be numbers (or null), got {row!r}")
        rows.append(row)
    out: dict[str, np.ndarray] = {}
    for j, name in enumerate(names):
        column = [r[j] for r in rows]
        # Categorical factors arrive as ints: keep them ints, so they can index a class table.
        if all(_is_int(v) for v in column):
            out[name] = np.asarray(column, dtype=np.int64)
        else:
            out[name] = np.asarray([np.nan if v is None else v for v in column], dtype=np.float64)
    return out


# --------------------------------------------------------------------------------------------------
# Decoding


def _decode_image(data: bytes, where: str, mode: Mode) -> np.ndarray:
    """Decode one image to [H, W] (grey) or [H, W, 3] (colour) uint8.

    With ``mode="auto"`` a grey file stays grey (the caller widens it later if any file is colour);
    ``"grey"`` converts colour with PIL's ITU-R 601-2 luma, ``"rgb"`` always gives three channels.
    """
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()  # PIL decodes lazily: force it so a truncated file fails here, not later
            if im.mode.startswith("I;16"):
                grey = (np.asarray(im).astype(np.uint16) >> 8).astype(np.uint8)  # 16-bit -> top 8 bits
                return np.repeat(grey[..., None], 3, axis=2) if mode == "rgb" else grey
            if im.mode in _GREY_MODES:
                grey = np.asarray(im.convert("L"))
                return np.repeat(grey[..., None], 3, axis=2) if mode == "rgb" else grey
            if mode == "grey":
                return np.asarray(im.convert("L"))
            rgb = np.asarray(im.convert("RGB"))
            if (
                mode == "auto"
                and im.mode in ("P", "PA")
                and (rgb[..., 0] == rgb[..., 1]).all()
                and (rgb[..., 1] == rgb[..., 2]).all()
            ):
                return rgb[..., 0].copy()  # a palette of greys is a grey image
            return rgb
    except UnidentifiedImageError:
        raise DataError(f"{where}: not an image in a format PIL can read") from None
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as e:
        raise DataError(f"{where}: cannot decode image ({_one_line(e)})") from None


def _decode_mask(data: bytes, where: str, resolution: int) -> np.ndarray:
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            if im.mode not in _MASK_MODES:
                raise DataError(f"{where}: a mask must be a single-channel 8-bit image, got PIL mode {im.mode}")
            arr = np.asarray(im)
    except UnidentifiedImageError:
        raise DataError(f"{where}: not an image in a format PIL can read") from None
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as e:
        raise DataError(f"{where}: cannot decode mask ({_one_line(e)})") from None
    if arr.shape != (resolution, resolution):
        raise DataError(f"{where}: mask is {arr.shape[1]}x{arr.shape[0]} but the images are {resolution}x{resolution}")
    return arr.astype(np.uint8, copy=False)


def _progress(total: int, show: bool | None):
    """A transient rich progress bar (shown for large sets unless told otherwise)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    enabled = total >= PROGRESS_MIN_IMAGES if show is None else show
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        transient=True,
        disable=not enabled,
    )


# --------------------------------------------------------------------------------------------------


class ImageFolderDataset(ImageDataset):
    """Images from a folder or a zip, with labels and ground truth from an optional ``dataset.json``.

    Args:
        path: the folder or ``.zip`` file.
        mode: ``"rgb"`` (3 channels), ``"grey"`` (1 channel) or ``"auto"`` (grey when every image is
            grey, else RGB).
        name: short name for run directories; defaults to the folder or zip name.
        progress: show a progress bar while decoding; None shows one for sets of
            ``PROGRESS_MIN_IMAGES`` images or more.

    Attributes (beyond ``ImageDataset``'s):
        path: the folder or zip.
        relpaths: relative path of each image, in dataset order.
        images: uint8 tensor [N, C, H, W] with every image.
        part_labels, label_factor, factor_classes, judge: copied from ``dataset.json`` when present,
            else None. When ``factor_classes[label_factor]`` lists the classes, ``num_classes`` is at least
            its length (a small export may not contain every class).
        metadata: the parsed ``dataset.json`` (an empty dict when there is none).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        mode: Mode = "auto",
        name: str | None = None,
        progress: bool | None = None,
    ):
        if mode not in ("rgb", "grey", "auto"):
            raise OptionsError(f"image mode {mode!r} is unknown; use rgb, grey or auto")
        self.path = Path(path)
        self.name = name or (self.path.stem if self.path.is_file() else self.path.name) or "images"
        source = _open_source(self.path)
        try:
            self._load(source, mode, progress)
        finally:
            source.close()

    def _load(self, source, mode: Mode, progress: bool | None) -> None:
        meta = _read_metadata(source)
        meta_where = source.describe(METADATA_NAME)
        listed = _parse_labels(meta, meta_where) if meta is not None else None
        if listed is not None:
            paths, labels = listed
            for rel in paths:
                if not source.exists(rel):
                    raise DataError(f"{meta_where}: lists {rel}, but {source.describe(rel)} does not exist")
        else:
            paths = [
                rel
                for rel in source.list_files()
                if rel.lower().endswith(IMAGE_EXTENSIONS)
                # Skip hidden files and macOS zip debris ("__MACOSX/", "._x.png"): never images.
                and not any(part.startswith(".") or part == "__MACOSX" for part in rel.split("/"))
            ]
            if not paths:
                raise DataError(f"{self.path}: no images found (looked for {', '.join(IMAGE_EXTENSIONS)})")
            labels = [-1] * len(paths)
        meta = meta or {}
        mask_paths = _parse_masks(meta, meta_where, paths)
        self._factors = _parse_factors(meta, meta_where, paths)

        arrays: list[np.ndarray] = []
        first: tuple[str, int, int] | None = None
        with _progress(len(paths), progress) as bar:
            task = bar.add_task(f"reading {self.name}", total=len(paths))
            for rel in paths:
                where = source.describe(rel)
                arr = _decode_image(source.read(rel), where, mode)
                h, w = arr.shape[:2]
                if first is None:
                    if h != w:
                        raise DataError(f"{where}: image is {w}x{h}; images must be square ({_TOOL_HINT})")
                    if w < 1 or w & (w - 1):
                        raise DataError(f"{where}: image size {w}x{h} is not a power of two ({_TOOL_HINT})")
                    first = (where, w, h)
                elif (w, h) != first[1:]:
                    raise DataError(
                        f"{where} is {w}x{h} but {first[0]} is {first[1]}x{first[2]}; all images must have one size "
                        f"({_TOOL_HINT})"
                    )
                arrays.append(arr)
                bar.advance(task)

        assert first is not None
        self.resolution = first[1]
        self.channels = 1 if all(a.ndim == 2 for a in arrays) else 3
        n, c, r = len(arrays), self.channels, self.resolution
        images = np.empty((n, c, r, r), dtype=np.uint8)
        for i, arr in enumerate(arrays):
            # grey files in a colour set are widened the way PIL's L->RGB does: one value, three times
            images[i] = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
        self.images = torch.from_numpy(images)

        self.relpaths = list(paths)
        self.labels = np.asarray(labels, dtype=np.int64)
        self.num_classes = int(self.labels.max()) + 1 if (self.labels >= 0).any() else 0
        self.part_labels = meta.get("part_labels")
        self.label_factor = meta.get("label_factor")
        self.factor_classes = meta.get("factor_classes")
        self.judge = _parse_judge(meta, meta_where)
        # A small export may miss the last classes; the exporter's class list says how many there are.
        if isinstance(self.factor_classes, dict) and isinstance(self.factor_classes.get(self.label_factor), list):
            self.num_classes = max(self.num_classes, len(self.factor_classes[self.label_factor]))

        self._masks = None
        if mask_paths is not None:
            self._masks = torch.from_numpy(
                np.stack([_decode_mask(source.read(m), source.describe(m), r) for m in mask_paths])
            )
        self.metadata = meta

    def __len__(self) -> int:
        return self.images.shape[0]

    def get_images(self, indices: np.ndarray) -> torch.Tensor:
        return self.images[torch.as_tensor(np.asarray(indices, dtype=np.int64))]

    def get_masks(self, indices: np.ndarray) -> torch.Tensor | None:
        if self._masks is None:
            return None
        return self._masks[torch.as_tensor(np.asarray(indices, dtype=np.int64))]

    def get_factors(self, indices: np.ndarray) -> dict[str, np.ndarray] | None:
        if self._factors is None:
            return None
        indices = np.asarray(indices, dtype=np.int64)
        return {k: v[indices] for k, v in self._factors.items()}

    @property
    def factor_names(self) -> list[str]:
        """Names of the ground-truth factors, in ``dataset.json`` order (empty when none)."""
        return list(self._factors) if self._factors is not None else []
