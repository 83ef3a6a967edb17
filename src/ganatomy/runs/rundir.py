"""Self-describing run directories: ``runs/00003-train-world32-stylegan2/``."""

from __future__ import annotations

import os
import re
from pathlib import Path


def _next_run_id(outdir: Path) -> int:
    ids = [int(m.group(1)) for p in outdir.iterdir() if (m := re.match(r"^(\d{5})-", p.name))] if outdir.is_dir() else []
    return max(ids, default=-1) + 1


def slug(text: str) -> str:
    """Make ``text`` safe as part of a directory name (``world:32`` -> ``world32``)."""
    return re.sub(r"[^A-Za-z0-9._]+", "", text.replace(os.sep, "_"))[:40] or "x"


def make_run_dir(outdir: str | os.PathLike, *parts: str) -> Path:
    """Create ``outdir/NNNNN-part1-part2-...`` with the next free number and return it."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    name = "-".join(slug(p) for p in parts if p)
    while True:
        run_dir = outdir / f"{_next_run_id(outdir):05d}-{name}"
        try:
            run_dir.mkdir()
            return run_dir
        except FileExistsError:  # another process took the number: try the next one
            continue
