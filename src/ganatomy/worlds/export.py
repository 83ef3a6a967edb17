"""Export world images with their ground truth as a dataset folder or zip.

Layout (the image-folder loader, ``ganatomy.data.folder``, reads it back)::

    images/00000000.png     RGB
    masks/00000000.png      single channel, value = part label index
    dataset.json            {"labels": [[image, class], ...],
                             "masks": [[image, mask], ...],
                             "factors": {"names": [...], "values": {image: [value per name]}},
                             "part_labels": [...], "label_factor": "hair_style",
                             "factor_classes": {...}, "judge": "oracle", "resolution": R, "seed": S,
                             "count": N}

Image ``i`` of an export is image ``i`` of ``WorldDataset(res, seed=seed)``. The files are written by
the generic dataset writer (``ganatomy.data.writer``), so the export is atomic: it is written beside
``path`` under a temporary name and renamed into place only when complete, so a failed export leaves
nothing behind. A zip's bytes depend only on (count, res, seed).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

from ganatomy.data.writer import Sample, write_dataset
from ganatomy.errors import OptionsError
from ganatomy.worlds.factors import FACTORS, LABEL_FACTOR, PART_LABELS
from ganatomy.worlds.render import RESOLUTIONS, FaceWorld, image_seeds

# Images rendered per step of an export (bounded memory for any count).
_EXPORT_CHUNK = 256


def _samples(count: int, res: int, seed: int) -> Iterator[Sample]:
    """Image ``i`` of ``WorldDataset(res, seed=seed)`` with its mask, label and factors, for i < count."""
    world = FaceWorld(res)
    for start in range(0, count, _EXPORT_CHUNK):
        indices = range(start, min(start + _EXPORT_CHUNK, count))
        batch = world.render_seeds(image_seeds(seed, indices))
        for j in range(len(indices)):
            # Python floats/ints: json writes floats with repr, so values round-trip exactly.
            factors = [batch.factors[f.name][j].item() for f in FACTORS]
            yield Sample(batch.images[j], batch.masks[j], int(batch.factors[LABEL_FACTOR][j]), factors)


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
    metadata = {
        "part_labels": list(PART_LABELS),
        "label_factor": LABEL_FACTOR,
        "factor_classes": {f.name: list(f.classes) for f in FACTORS if f.is_categorical},
        "judge": "oracle",  # metrics on this set are read by the world oracle
        "resolution": res,
        "seed": seed,
        "count": count,
    }
    factor_names = [f.name for f in FACTORS]
    return write_dataset(path, _samples(count, res, seed), factor_names, metadata, progress=progress)
