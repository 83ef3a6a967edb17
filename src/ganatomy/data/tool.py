"""Make a training set from a user's images: the equivalent of NVIDIA's ``dataset_tool.py``.

:func:`make_dataset` reads a folder or zip of images (any format PIL reads, any size, grey, RGB,
RGBA or palette), crops and resizes each to ``res x res``, makes it grey or RGB, attaches labels
(from a ``filename,label`` CSV, or from the source's own ``dataset.json``) and writes the set
through :class:`ganatomy.data.writer.DatasetWriter` (atomic: nothing appears at ``dest`` unless
the whole set was written). A file that cannot be used is skipped, with the reason, and the
report says what was skipped and why.

Transforms (``transform=``):

* ``center-crop``: the largest centred square, resized to ``res`` (the default);
* ``center-crop-wide``: a centred 2:1 strip resized to ``res x res/2`` on a black square canvas
  (NVIDIA's choice for wide subjects such as cars);
* ``none``: images must already be square; they are only resized.

Images smaller than ``res`` on the side that is kept are skipped rather than upscaled. Alpha is
dropped, as the loader does (PIL's RGBA -> RGB).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import os
from collections import Counter
from collections.abc import Callable
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image, UnidentifiedImageError

from ganatomy.data.folder import _GREY_MODES, METADATA_NAME, _decode_image, _open_source, _parse_labels, _read_metadata
from ganatomy.data.writer import DatasetWriter
from ganatomy.errors import DataError, OptionsError

TRANSFORMS = ("center-crop", "center-crop-wide", "none")
CHANNELS = (1, 3)
MIN_RESOLUTION = 4


@dataclasses.dataclass(frozen=True)
class SkippedFile:
    """A source file that is not in the dataset: its relative path, a short reason and the detail (may be empty)."""

    path: str
    reason: str
    detail: str


@dataclasses.dataclass
class DatasetToolReport:
    """What :func:`make_dataset` did."""

    dest: Path
    written: int
    resolution: int
    channels: int
    labelled: int
    skipped: list[SkippedFile]
    # rows of the labels CSV that name no source image
    unmatched_labels: list[str]

    def summary(self) -> list[str]:
        """Human-readable lines: what was written, what was skipped and why."""
        colour = "RGB" if self.channels == 3 else "grey"
        lines = [
            f"wrote {self.written} images ({self.resolution}x{self.resolution} {colour}, "
            f"{self.labelled} labelled) to {self.dest}"
        ]
        if self.skipped:
            lines.append(f"skipped {len(self.skipped)} file(s):")
            for reason, count in Counter(s.reason for s in self.skipped).most_common():
                examples = [s for s in self.skipped if s.reason == reason][:3]
                shown = "; ".join(f"{s.path} ({s.detail})" if s.detail else s.path for s in examples)
                more = f"; and {count - len(examples)} more" if count > len(examples) else ""
                lines.append(f"  {count} {reason}: {shown}{more}")
        if self.unmatched_labels:
            shown = ", ".join(self.unmatched_labels[:3])
            lines.append(f"{len(self.unmatched_labels)} labels CSV row(s) name no source image, e.g. {shown}")
        return lines


def _is_hidden(rel: str) -> bool:
    # Hidden files and macOS zip debris ("__MACOSX/", "._x.png") are never images, as in the loader.
    return any(part.startswith(".") or part == "__MACOSX" for part in rel.split("/"))


def read_labels_csv(path: str | os.PathLike) -> tuple[dict[str, int | None], list[str] | None]:
    """Labels by file name from a ``filename,label`` CSV (an optional header row is skipped).

    Labels are ints >= 0, or class names (mapped to 0, 1, ... in sorted order; the names are
    returned); an empty label means unlabelled. Returns (labels by file name, class names or None).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: cannot read the labels CSV ({e})") from None
    rows = [row for row in csv.reader(io.StringIO(text)) if row and any(cell.strip() for cell in row)]
    if rows and [c.strip().lower() for c in rows[0][:2]] in (
        ["filename", "label"],
        ["file", "label"],
        ["path", "label"],
        ["image", "label"],
    ):
        rows = rows[1:]
    raw: dict[str, str] = {}
    for line, row in enumerate(rows, start=1):
        if len(row) != 2:
            raise DataError(f"{path}: row {line} must be filename,label, got {row!r}")
        name, label = row[0].strip(), row[1].strip()
        if not name:
            raise DataError(f"{path}: row {line} has no file name")
        if name in raw:
            raise DataError(f"{path}: {name} is listed twice")
        raw[name] = label
    if not raw:
        raise DataError(f"{path}: no rows; expected filename,label lines")
    given = [v for v in raw.values() if v]
    if all(v.isdigit() for v in given):
        return {k: int(v) if v else None for k, v in raw.items()}, None
    class_names = sorted(set(given))
    index = {name: i for i, name in enumerate(class_names)}
    return {k: index[v] if v else None for k, v in raw.items()}, class_names


def _match_labels(paths: list[str], labels: dict[str, int | None]) -> tuple[dict[str, int | None], list[str]]:
    """CSV names matched to source paths: by relative path, else by unique base name."""
    by_base: dict[str, list[str]] = {}
    for rel in paths:
        by_base.setdefault(PurePosixPath(rel).name, []).append(rel)
    matched: dict[str, int | None] = {}
    unmatched: list[str] = []
    for name, label in labels.items():
        key = PurePosixPath(name.replace("\\", "/")).as_posix()
        if key in by_base.get(PurePosixPath(key).name, []):
            matched[key] = label
        elif len(by_base.get(key, [])) == 1:
            matched[by_base[key][0]] = label
        else:
            unmatched.append(name)
    return matched, unmatched


def _header_is_grey(src, rel: str) -> bool | None:
    """Whether an image file is grey from its header alone (None: it cannot be read or opened)."""
    try:
        with Image.open(io.BytesIO(src.read(rel))) as im:
            return im.mode in _GREY_MODES
    except (DataError, UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return None


def _crop_and_resize(image: np.ndarray, res: int, transform: str) -> np.ndarray | tuple[str, str]:
    """The ``res x res`` image, or (reason, detail) when this image cannot be made into one."""
    h, w = image.shape[:2]
    if transform == "none":
        if h != w:
            return "not square", f"{w}x{h}; use --transform center-crop"
        crop, out_h = image, res
    elif transform == "center-crop":
        side = min(h, w)
        top, left = (h - side) // 2, (w - side) // 2
        crop, out_h = image[top : top + side, left : left + side], res
    else:  # center-crop-wide: a 2:1 strip, its full width if the image is tall enough
        strip_w = min(w, 2 * h)
        strip_h = strip_w // 2
        top, left = (h - strip_h) // 2, (w - strip_w) // 2
        crop, out_h = image[top : top + strip_h, left : left + strip_w], res // 2
    ch, cw = crop.shape[:2]
    if cw < res or ch < out_h:
        return "too small", f"{w}x{h}; {transform} needs {res} px or more"
    resized = np.asarray(Image.fromarray(crop).resize((res, out_h), Image.Resampling.LANCZOS))
    if out_h == res:
        return resized
    canvas = np.zeros((res, res) + resized.shape[2:], dtype=np.uint8)
    canvas[(res - out_h) // 2 : (res - out_h) // 2 + out_h] = resized
    return canvas


def check_tool_options(res: int, transform: str, channels: int | None) -> None:
    """One-line OptionsErrors for the options, before anything is read."""
    if res < MIN_RESOLUTION or res & (res - 1):
        raise OptionsError(f"--res: {res} is not a power of two >= {MIN_RESOLUTION} (e.g. 32, 64, 128, 256)")
    if transform not in TRANSFORMS:
        raise OptionsError(f"--transform: {transform!r} is unknown; use {', '.join(TRANSFORMS)}")
    if channels is not None and channels not in CHANNELS:
        raise OptionsError(f"--channels: {channels} is not 1 (grey) or 3 (RGB)")


def make_dataset(
    source: str | os.PathLike,
    dest: str | os.PathLike,
    res: int,
    transform: str = "center-crop",
    labels_csv: str | os.PathLike | None = None,
    channels: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> DatasetToolReport:
    """Convert the images under ``source`` into a ``res x res`` dataset at ``dest`` (see the module doc).

    Args:
        source: a folder or zip of images (a ``dataset.json`` in it supplies labels, unless ``labels_csv``).
        dest: the folder or ``.zip`` to write; must not exist.
        channels: 1 (grey) or 3 (RGB); None: grey when every image is grey, else RGB.
        progress: called with (files done, total files) as the files are processed.

        >>> report = make_dataset("photos/", "photos64.zip", res=64)      # doctest: +SKIP
        >>> print("\\n".join(report.summary()))                            # doctest: +SKIP
    """
    check_tool_options(res, transform, channels)
    src = _open_source(Path(source))
    try:
        return _convert(src, Path(dest), res, transform, labels_csv, channels, progress)
    finally:
        src.close()


def _source_labels(src, paths: list[str], labels_csv) -> tuple[dict[str, int | None], list[str] | None, list[str]]:
    """Labels by source path, class names (or None) and the CSV names that match no file."""
    if labels_csv is not None:
        csv_labels, class_names = read_labels_csv(labels_csv)
        labels, unmatched = _match_labels(paths, csv_labels)
        return labels, class_names, unmatched
    meta = _read_metadata(src)  # without a CSV, the source's own labels carry over
    listed = _parse_labels(meta, src.describe(METADATA_NAME)) if meta else None
    return (dict(zip(*listed)) if listed else {}), None, []


def _convert(
    src,
    dest: Path,
    res: int,
    transform: str,
    labels_csv,
    channels: int | None,
    progress: Callable[[int, int], None] | None,
) -> DatasetToolReport:
    csv_path = Path(labels_csv).resolve() if labels_csv is not None else None
    paths = [
        rel
        for rel in src.list_files()
        if not _is_hidden(rel)
        and rel != METADATA_NAME
        and not (csv_path is not None and Path(src.describe(rel)).resolve() == csv_path)
    ]
    if not paths:
        raise DataError(f"{src.describe('')}: no files to convert")
    labels, class_names, unmatched = _source_labels(src, paths, labels_csv)
    metadata = {"class_names": class_names} if class_names else {}
    metadata["source"] = {"path": src.describe(""), "transform": transform, "resolution": res}
    writer = DatasetWriter(dest, metadata=metadata)  # first: an existing dest fails before any work
    skipped: list[SkippedFile] = []
    written_from: list[list[str]] = []
    try:
        if channels is None:
            # Every header is read before the first image is written (files are read twice, not kept in memory).
            greys = [_header_is_grey(src, rel) for rel in paths]
            channels = 1 if all(g is not False for g in greys) and any(greys) else 3
        mode = "grey" if channels == 1 else "rgb"
        for done, rel in enumerate(paths, start=1):
            try:
                image = _decode_image(src.read(rel), src.describe(rel), mode)
            except DataError as e:
                detail = str(e).split(": ", 1)[-1]
                if "not an image" in detail:
                    skipped.append(SkippedFile(rel, "not an image PIL reads", ""))
                else:
                    skipped.append(SkippedFile(rel, "unreadable or corrupt", detail))
            else:
                result = _crop_and_resize(image, res, transform)
                if isinstance(result, tuple):
                    skipped.append(SkippedFile(rel, *result))
                else:
                    written_from.append([writer.add(result, label=labels.get(rel)), rel])
            if progress is not None:
                progress(done, len(paths))
        if not written_from:
            reasons = ", ".join(f"{n} {r}" for r, n in Counter(s.reason for s in skipped).items())
            raise DataError(f"{src.describe('')}: no usable images ({reasons})")
        writer.metadata["source_files"] = written_from  # where each image came from
        writer.close()
    except BaseException as e:
        writer.abort(e)
        raise
    labelled = sum(1 for _, rel in written_from if labels.get(rel) is not None and labels[rel] >= 0)
    return DatasetToolReport(dest, len(written_from), res, channels, labelled, skipped, unmatched)
