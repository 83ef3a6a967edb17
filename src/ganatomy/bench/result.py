"""What a benchmark returns, how it is printed and how it is recorded."""

from __future__ import annotations

import dataclasses
import datetime
import json
import operator
import os
import platform
import re
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from ganatomy.utils.atomic import atomic_write_text

_OPS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt}


@dataclasses.dataclass(frozen=True)
class Target:
    """A stated goal for one summary key, e.g. ``Target("img_per_s", ">=", 2000)``."""

    key: str
    op: str
    value: float

    def met(self, summary: dict[str, Any]) -> bool | None:
        v = summary.get(self.key)
        return None if v is None else bool(_OPS[self.op](v, self.value))

    def __str__(self) -> str:
        return f"{self.key} {self.op} {self.value:g}"


@dataclasses.dataclass
class BenchResult:
    """A benchmark's outcome.

    ``rows`` is the printed table (one dict per row, same keys); ``summary`` holds the
    headline numbers that ``--json`` prints; ``targets`` are checked and shown, not enforced.
    """

    name: str
    title: str
    rows: list[dict[str, Any]]
    summary: dict[str, Any]
    targets: list[Target] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)
    quick: bool = False
    artifacts: list[str] = dataclasses.field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps({k: _plain(v) for k, v in self.summary.items()})

    def table(self) -> Table:
        table = Table(title=self.title + (" (--quick)" if self.quick else ""))
        columns = list(self.rows[0]) if self.rows else []
        for c in columns:
            table.add_column(c)
        for row in self.rows:
            table.add_row(*(_fmt(row.get(c)) for c in columns))
        return table

    def print(self, console: Console) -> None:
        console.print(self.table())
        for t in self.targets:
            ok = t.met(self.summary)
            mark = {True: "[green]met[/]", False: "[red]NOT met[/]", None: "[yellow]not measured[/]"}[ok]
            console.print(f"target {t}: {mark} ({_fmt(self.summary.get(t.key))})")
        for n in self.notes:
            console.print(f"note: {n}")

    def markdown(self, command: str) -> str:
        columns = list(self.rows[0]) if self.rows else []
        lines = [
            f"## {self.title}",
            "",
            f"Command: `{command}`  ",
            f"Machine: {machine_description()}  ",
            f"Date: {datetime.date.today().isoformat()}",
            "",
        ]
        if columns:
            lines.append("| " + " | ".join(columns) + " |")
            lines.append("|" + "---|" * len(columns))
            lines += ["| " + " | ".join(_fmt(r.get(c)) for c in columns) + " |" for r in self.rows]
            lines.append("")
        for t in self.targets:
            ok = t.met(self.summary)
            lines.append(
                f"- target `{t}`: {'met' if ok else 'not met' if ok is False else 'not measured'} "
                f"({_fmt(self.summary.get(t.key))})"
            )
        lines += [f"- {n}" for n in self.notes]
        lines += [f"- artifact: `{a}`" for a in self.artifacts]
        return "\n".join(lines).rstrip() + "\n"


def _plain(v: Any) -> Any:
    if hasattr(v, "item"):
        return v.item()
    return v


def _fmt(v: Any) -> str:
    v = _plain(v)
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1e5 else f"{v:.0f}"
    return "" if v is None else str(v)


def machine_description() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import torch

    threads = torch.get_num_threads()
    gpu = f", GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ""
    python = platform.python_version()
    return f"{cpu}, {os.cpu_count()} cores ({threads} torch threads){gpu}, torch {torch.__version__}, Python {python}"


def record_result(result: BenchResult, command: str, path: str | os.PathLike) -> None:
    """Replace (or append) this benchmark's section in the results file, atomically."""
    path = Path(path)
    begin, end = f"<!-- bench:{result.name} -->", f"<!-- /bench:{result.name} -->"
    section = f"{begin}\n{result.markdown(command)}{end}\n"
    text = (
        path.read_text()
        if path.exists()
        else (
            "# Benchmark results\n\nEach section is written by `ganatomy bench NAME` (full size, not `--quick`) "
            "with the command and the machine it ran on.\n\n"
        )
    )
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end) + r"\n?", re.S)
    text = pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + section
    atomic_write_text(path, text)
