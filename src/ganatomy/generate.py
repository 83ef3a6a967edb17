"""Images from seeds: one latent per seed (the same on every machine), optional truncation and class.

A conditional network draws the classes it is asked for by index or by name (``parse_classes``;
names are those recorded with the network, e.g. the world's hair styles), one grid row per class
(``generate_class_rows``, ``write_class_rows``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path

import torch

from ganatomy.errors import GanatomyError, OptionsError
from ganatomy.latent.sampling import seeded_images
from ganatomy.utils.images import save_image_grid, save_png, to_uint8
from ganatomy.utils.seeds import parse_seeds

MAX_IMAGES = 100_000  # one PNG each: more is a typo in a range, not a request
MAX_SEED = 2**63 - 1  # torch.Generator seeds; NVIDIA's tools use 32-bit ones
_RANGE = re.compile(r"^\s*(\d+)\s*-\s*(\d+)\s*$")


def parse_image_seeds(text: str, flag: str = "--seeds", limit: int = MAX_IMAGES) -> list[int]:
    """``parse_seeds`` for seeds that each become an image: at most ``limit`` of them, each in
    [0, 2^63); a range is measured before it is expanded (``0-9999999999`` is refused, not built)."""
    total = 0
    for part in str(text).split(","):
        span = _RANGE.match(part)
        total += int(span.group(2)) - int(span.group(1)) + 1 if span else 1
    if total > limit:
        raise OptionsError(f"{flag} {text}: {total} seeds, at most {limit} images at a time")
    seeds = parse_seeds(text)
    out_of_range = [s for s in seeds if not 0 <= s <= MAX_SEED]
    if out_of_range:
        raise OptionsError(f"{flag}: seed {out_of_range[0]} is outside 0..2^63-1")
    return seeds


def check_generate_args(trunc: float, batch: int) -> None:
    """One-line errors for a truncation that is not a finite number and a batch below 1."""
    if not math.isfinite(trunc):
        raise OptionsError(f"--trunc {trunc}: must be a finite number (1: none, 0.7: typical)")
    if batch < 1:
        raise OptionsError(f"--batch {batch}: must be at least 1")


@torch.no_grad()
def generate_images(
    G, seeds: Sequence[int], trunc: float = 1.0, class_idx: int | None = None, batch: int = 32
) -> torch.Tensor:
    """[len(seeds), C, H, W] images in [-1, 1]; image i is a function of seeds[i] alone.

    Drawn by the one seeded sampler (``ganatomy.latent.sampling``): z from the seed, mapped to W+
    where the network has it (truncation acts there), synthesised with constant noise, so a seed
    gives the same image every time, in every batch.
    """
    check_generate_args(trunc, batch)
    if trunc != 1.0 and "w" not in G.latent_spaces:
        raise OptionsError(f"--trunc needs a W space; {G.kind} has {G.latent_spaces}")
    if G.c_dim and class_idx is None:
        raise OptionsError(f"this network is conditional ({G.c_dim} classes): pass --class 0..{G.c_dim - 1}")
    if class_idx is not None and not 0 <= class_idx < G.c_dim:
        raise OptionsError(f"--class {class_idx}: the network has {G.c_dim} classes")
    images = seeded_images(G, seeds, c=class_idx, truncation_psi=trunc, batch_size=batch)
    return images.clamp(-1, 1)


def write_images(outdir: Path, seeds: Sequence[int], images: torch.Tensor) -> Path:
    """seedNNNN.png per image and grid.png of all (each written atomically); returns the grid path."""
    outdir.mkdir(parents=True, exist_ok=True)
    arrays = to_uint8(images)
    for s, a in zip(seeds, arrays):
        save_png(outdir / f"seed{s:04d}.png", a)
    save_image_grid(outdir / "grid.png", arrays)
    return outdir / "grid.png"


def network_class_names(network: str) -> list[str] | None:
    """The class names recorded with a network (a run's snapshot meta, a zoo entry's metadata), or None."""
    path = Path(network)
    if path.is_file():
        from ganatomy.runs.checkpoint import load_checkpoint

        try:
            meta = load_checkpoint(path).get("meta") or {}
        except GanatomyError:  # another format (an imported pickle): no names recorded
            return None
    else:
        from ganatomy.zoo import ZOO

        entry = ZOO.get(network)
        meta = entry.metadata() if entry is not None and entry.installed() else {}
    names = meta.get("class_names") if isinstance(meta, dict) else None
    return [str(n) for n in names] if isinstance(names, list) else None


def parse_classes(text: str, num_classes: int, names: Sequence[str] | None = None) -> list[int]:
    """Class indices from ``--class``: indices or names (case-insensitive), comma-separated, or ``all``."""
    if num_classes < 1:
        raise OptionsError(f"--class {text}: this network is unconditional (it has no classes)")
    known = {n.lower(): i for i, n in enumerate(names or [])}
    shown = ", ".join(f"{i} ({n})" for i, n in enumerate(names)) if names else f"0..{num_classes - 1}"
    if str(text).strip().lower() == "all":
        return list(range(num_classes))
    out = []
    for item in (part.strip() for part in str(text).split(",")):
        if item.lower() in known:
            out.append(known[item.lower()])
        elif item.isdigit() and int(item) < num_classes:
            out.append(int(item))
        else:
            raise OptionsError(f"--class {item}: not a class of this network; classes: {shown}, or all")
    return out


@torch.no_grad()
def generate_class_rows(
    G, seeds: Sequence[int], classes: Sequence[int], trunc: float = 1.0, batch: int = 32
) -> torch.Tensor:
    """[len(classes) * len(seeds), C, H, W]: for each class in turn, one image per seed."""
    if not classes:
        raise OptionsError("--class: no class given")
    return torch.cat([generate_images(G, seeds, trunc=trunc, class_idx=c, batch=batch) for c in classes])


def write_class_rows(
    outdir: Path, seeds: Sequence[int], classes: Sequence[int], images: torch.Tensor, names: Sequence[str] | None
) -> Path:
    """NAME-seedNNNN.png per image (NAME: the class name, or classK) and grid.png with one row per class."""
    outdir.mkdir(parents=True, exist_ok=True)
    arrays = to_uint8(images)
    labels = [names[c] if names else f"class{c}" for c in classes for _ in seeds]
    for i, a in enumerate(arrays):
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", labels[i])
        save_png(outdir / f"{safe}-seed{seeds[i % len(seeds)]:04d}.png", a)
    save_image_grid(outdir / "grid.png", arrays, ncols=len(seeds))
    return outdir / "grid.png"
