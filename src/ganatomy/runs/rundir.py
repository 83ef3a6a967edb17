"""Self-describing run directories: ``runs/00003-train-world32-stylegan2/``.

Numbers are unique across concurrent runs, whatever their names: a process claims number N by
creating ``.NNNNN.claim`` (an exclusive mkdir), checks that no directory holds N yet, creates its
run directory and only then drops the claim. A second process can take the claim only after the
run directory exists, and then sees it. A claim left by a killed process just retires its number.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ganatomy.utils.atomic import output_error

_NUMBERED = re.compile(r"^(\d{5})-")
_CLAIMED = re.compile(r"^\.(\d{5})\.claim$")


def _next_run_id(outdir: Path) -> int:
    """One above the highest number in use (by a run directory or a claim)."""
    ids = [int(m.group(1)) for p in outdir.iterdir() if (m := _NUMBERED.match(p.name) or _CLAIMED.match(p.name))]
    return max(ids, default=-1) + 1


def _number_in_use(outdir: Path, run_id: int) -> bool:
    return any((m := _NUMBERED.match(p.name)) and int(m.group(1)) == run_id for p in outdir.iterdir())


def slug(text: str) -> str:
    """Make ``text`` safe as part of a directory name (``world:32`` -> ``world32``; ``-`` separates
    the parts, so inside one it becomes ``_``: ``my-faces`` -> ``my_faces``)."""
    return re.sub(r"[^A-Za-z0-9._]+", "", text.replace(os.sep, "_").replace("-", "_"))[:40] or "x"


def make_run_dir(outdir: str | os.PathLike, *parts: str) -> Path:
    """Create ``outdir/NNNNN-part1-part2-...`` with the next free number and return it."""
    outdir = Path(outdir)
    name = "-".join(slug(p) for p in parts if p)
    try:
        outdir.mkdir(parents=True, exist_ok=True)
        return _claim_run_dir(outdir, name)
    except OSError as e:  # no space, no permission, a file in the way
        raise output_error(outdir, e) from None


def _claim_run_dir(outdir: Path, name: str) -> Path:
    run_id = _next_run_id(outdir)
    while True:
        claim = outdir / f".{run_id:05d}.claim"
        try:
            claim.mkdir()
        except FileExistsError:  # another process holds this number (or died holding it)
            run_id += 1
            continue
        try:
            if not _number_in_use(outdir, run_id):
                run_dir = outdir / f"{run_id:05d}-{name}"
                run_dir.mkdir()
                return run_dir
        finally:
            claim.rmdir()
        run_id = max(run_id + 1, _next_run_id(outdir))
