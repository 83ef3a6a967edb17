"""Reading a run's JSONL logs, and cutting them back to its resume checkpoint.

stats.jsonl and metrics.jsonl are appended at a tick's end, before the tick's checkpoint is
written; a run killed in between has log records for a tick that its resume will run again,
and a kill during an append can leave a partial last line. On resume both logs are cut back
to the records the checkpoint covers, so that every tick appears exactly once.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ganatomy.utils.atomic import atomic_write_text


def _parse(line: str) -> dict[str, Any] | None:
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        return None
    return record if isinstance(record, dict) else None


def read_jsonl(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The complete records of a JSONL log, in order (a partial last line is not a record)."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [record for line in lines if (record := _parse(line)) is not None]


def truncate_jsonl(path: str | os.PathLike, keep: Callable[[dict[str, Any]], bool]) -> int:
    """Rewrite ``path`` (atomically) with only the complete records for which ``keep`` is true.

    Returns the number of lines dropped; a missing file is left missing.
    """
    path = Path(path)
    if not path.exists():
        return 0
    lines = path.read_text(encoding="utf-8").splitlines()
    kept = [line for line in lines if (record := _parse(line)) is not None and keep(record)]
    if len(kept) != len(lines):
        atomic_write_text(path, "".join(line + "\n" for line in kept))
    return len(lines) - len(kept)
