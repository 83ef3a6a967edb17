"""The report page: find the run directories, render each one's sections, add the bench tables, write one file."""

from __future__ import annotations

import datetime
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from ganatomy.errors import OptionsError
from ganatomy.report import html as h
from ganatomy.report.sections import SECTIONS, ReportContext, Section
from ganatomy.utils.atomic import atomic_write_text

# Folders that never hold a run of their own.
_SKIPPED = {"tensorboard", "__pycache__"}
MAX_DEPTH = 4

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
section.run { border-top: 2px solid #ccc; margin-top: 2em; }
figure { display: inline-block; margin: 0.5em; vertical-align: top; }
figure img { image-rendering: pixelated; min-width: 192px; max-width: 100%; }
figcaption { font-size: 0.8em; color: #555; max-width: 480px; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.85em; }
td, th { border: 1px solid #ddd; padding: 2px 6px; text-align: left; }
caption { text-align: left; color: #555; }
code { background: #f3f3f3; }
"""


def find_runs(paths: Iterable[str | os.PathLike]) -> list[tuple[Path, list[Section]]]:
    """Every directory under ``paths`` (themselves included) that some section recognises, with its sections."""
    found: list[tuple[Path, list[Section]]] = []
    seen: set[Path] = set()

    def visit(directory: Path, depth: int) -> None:
        real = directory.resolve()
        if real in seen:
            return
        seen.add(real)
        kinds = [s for s in SECTIONS if s.matches(directory)]
        if kinds:
            found.append((directory, kinds))
        if depth < MAX_DEPTH:
            for child in sorted(p for p in directory.iterdir() if p.is_dir()):
                if child.name not in _SKIPPED and not child.name.startswith("."):
                    visit(child, depth + 1)

    for path in map(Path, paths):
        if not path.is_dir():
            raise OptionsError(f"report: {path} is not a directory")
        visit(path, 0)
    return found


def _anchor(index: int, run: Path) -> str:
    return f"run{index}-{run.name}".replace(" ", "-")


def build_report(
    run_dirs: Sequence[str | os.PathLike],
    results: str | os.PathLike | None = "docs/results.md",
    context: ReportContext | None = None,
    title: str = "ganatomy report",
) -> str:
    """The HTML of the report over ``run_dirs`` (a directory of runs is searched for them)."""
    runs = find_runs(run_dirs)
    if not runs:
        raise OptionsError(
            f"report: no run directory found in {', '.join(map(str, run_dirs))} "
            "(training, directions, saliency, invert, regress, genes, world or generate outputs)"
        )
    ctx = context or ReportContext()
    toc, body, bench_names = [], [], []
    for i, (run, sections) in enumerate(runs):
        anchor = _anchor(i, run)
        kinds = ", ".join(s.title for s in sections)
        toc.append(f'<li><a href="#{h.esc(anchor)}">{h.esc(run)}</a> ({h.esc(kinds)})</li>')
        parts = [f'<h2 id="{h.esc(anchor)}">{h.esc(run)}</h2>']
        for s in sections:
            parts.append(
                f'<div class="kind" data-kind="{h.esc(s.kind)}"><h3>{h.esc(s.title)}</h3>{s.render(run, ctx)}</div>'
            )
            bench_names += [b for b in s.bench if b not in bench_names]
        body.append(f'<section class="run">{"".join(parts)}</section>')
    body.append(_bench_part(results, bench_names))
    stamp = datetime.datetime.now().isoformat(timespec="seconds")
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{h.esc(title)}</title>'
        f"<style>{STYLE}</style></head><body><h1>{h.esc(title)}</h1><p>Written {stamp}.</p>"
        f'<ul class="toc">{"".join(toc)}</ul>{"".join(body)}</body></html>\n'
    )


def _bench_part(results: str | os.PathLike | None, names: list[str]) -> str:
    path = Path(results) if results is not None else None
    if path is None or not path.is_file() or not names:
        return ""
    sections = h.bench_sections(path.read_text(), names)
    blocks = "".join(
        f'<div class="bench" data-bench="{h.esc(n)}">{h.markdown(text)}</div>' for n, text in sections.items()
    )
    return (
        f'<section class="run" data-kind="bench"><h2>Benchmarks ({h.esc(path)})</h2>{blocks}</section>'
        if blocks
        else ""
    )


def write_report(
    run_dirs: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    results: str | os.PathLike | None = "docs/results.md",
    compute: bool = True,
) -> Path:
    """Write the report over ``run_dirs`` to ``out`` (atomically) and return its path."""
    out = Path(out)
    page = build_report(run_dirs, results, ReportContext(compute=compute))
    atomic_write_text(out, page)
    return out
