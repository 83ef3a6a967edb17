"""Export world images with their ground truth as a dataset folder or zip.

Layout (the image-folder loader, ``ganatomy.data.folder``, reads it back)::

    images/00000000.png     RGB
    masks/00000000.png      single channel, value = part label index
    dataset.json            {"labels": [[image, class], ...],
                             "masks": [[image, mask], ...],
                             "factors": {"names": [...], "values": {image: [value per name]}},
                             "part_labels": [...], "label_factor": "hair_style",
                             "factor_classes": {...}, "resolution": R, "seed": S, "count": N}

Image ``i`` of an export is image ``i`` of ``WorldDataset(res, seed=seed)``. The export is atomic: it
is written beside ``path`` under a temporary name and renamed into place only when complete, so a
failed export leaves nothing behind. A zip's bytes depend only on (count, res, seed).
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Callable, Iterator

from ganatomy.errors import OptionsError
from ganatomy.utils.atomic import atomic_directory, atomic_path
from ganatomy.utils.images import png_bytes
from ganatomy.worlds.factors import FACTORS, LABEL_FACTOR, PART_LABELS
from ganatomy.worlds.render import RESOLUTIONS, FaceWorld, image_seeds

# Images rendered per step of an export (bounded memory for any count).
_EXPORT_CHUNK = 256
# Fixed zip member timestamps keep the archive reproducible.
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


def _members(count: int, res: int, seed: int) -> Iterator[tuple[str, bytes]]:
    """(relative path, bytes) of every file of the export, dataset.json last."""
    world = FaceWorld(res)
    meta: dict = {
        "labels": [],
        "masks": [],
        "factors": {"names": [f.name for f in FACTORS], "values": {}},
        "part_labels": list(PART_LABELS),
        "label_factor": LABEL_FACTOR,
        "factor_classes": {f.name: list(f.classes) for f in FACTORS if f.is_categorical},
        "resolution": res,
        "seed": seed,
        "count": count,
    }
    for start in range(0, count, _EXPORT_CHUNK):
        indices = range(start, min(start + _EXPORT_CHUNK, count))
        batch = world.render_seeds(image_seeds(seed, indices))
        for j, i in enumerate(indices):
            image_rel, mask_rel = f"images/{i:08d}.png", f"masks/{i:08d}.png"
            yield image_rel, png_bytes(batch.images[j])
            yield mask_rel, png_bytes(batch.masks[j])
            meta["labels"].append([image_rel, int(batch.factors[LABEL_FACTOR][j])])
            meta["masks"].append([image_rel, mask_rel])
            # Python floats/ints: json writes floats with repr, so values round-trip exactly.
            meta["factors"]["values"][image_rel] = [batch.factors[f.name][j].item() for f in FACTORS]
    yield "dataset.json", json.dumps(meta).encode("utf-8")


def export_world(
    path: str | os.PathLike,
    count: int,
    res: int,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
) -> Path:
    """Write ``count`` world images with masks and factors to ``path`` (a folder, or a zip if it ends in .zip).

    ``progress`` (optional) is called with the number of images written so far. Returns ``path``.
    Raises OptionsError for a bad count, resolution or seed, or a ``path`` that already exists.
    """
    path = Path(path)
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise OptionsError(f"--count: {count!r} must be a positive number of images")
    if res not in RESOLUTIONS:
        raise OptionsError(f"--res: {res} is not supported; use one of {', '.join(map(str, RESOLUTIONS))}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise OptionsError(f"--seed: {seed!r} must be a non-negative integer")
    is_zip = path.suffix.lower() == ".zip"
    if path.exists() and (is_zip or not path.is_dir() or any(path.iterdir())):
        raise OptionsError(f"--export {path}: already exists; choose a new path")

    def members() -> Iterator[tuple[str, bytes]]:
        for n, (rel, data) in enumerate(_members(count, res, seed)):
            if progress is not None and rel.startswith("masks/"):
                progress(n // 2 + 1)
            yield rel, data

    if is_zip:
        with atomic_path(path) as tmp:
            with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:
                for rel, data in members():
                    # PNGs are compressed already; the JSON is small: store everything.
                    info = zipfile.ZipInfo(rel, date_time=_ZIP_DATE)
                    info.external_attr = 0o644 << 16  # rw-r--r-- when unpacked
                    zf.writestr(info, data)
    else:
        with atomic_directory(path) as tmp:
            (tmp / "images").mkdir()
            (tmp / "masks").mkdir()
            for rel, data in members():
                (tmp / rel).write_bytes(data)
    return path
