"""HTML pieces of the report: escaped text, embedded images, tables, matplotlib figures, bench markdown.

Everything returns a string of HTML; images are embedded as base64 data URLs so the page is one file.
"""

from __future__ import annotations

import base64
import html
import io
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

_IMAGE_TYPES = {".png": "image/png", ".gif": "image/gif", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def data_url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def image(data: bytes, caption: str, mime: str = "image/png") -> str:
    """A captioned, embedded image (pixel art: scaled without smoothing)."""
    return (
        f'<figure><img src="{data_url(data, mime)}" alt="{esc(caption)}">'
        f"<figcaption>{esc(caption)}</figcaption></figure>"
    )


def image_file(path: Path, caption: str | None = None) -> str:
    mime = _IMAGE_TYPES.get(path.suffix.lower(), "application/octet-stream")
    return image(path.read_bytes(), caption or path.name, mime)


def new_figure(width: float, height: float) -> Any:
    """A matplotlib figure outside pyplot (no global figure manager, no backend switch)."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def figure(fig: Any, caption: str) -> str:
    """A matplotlib figure as an embedded PNG."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    return image(buf.getvalue(), caption)


def fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | dict):
        return json.dumps(value)
    return "" if value is None else str(value)


def table(rows: Sequence[Mapping[str, Any]], caption: str | None = None) -> str:
    """A table of dicts; the columns are the union of their keys, in first-seen order."""
    if not rows:
        return ""
    columns = list(dict.fromkeys(k for row in rows for k in row))
    head = "".join(f"<th>{esc(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{esc(fmt(r.get(c)))}</td>" for c in columns) + "</tr>" for r in rows)
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts to ``{"a.b.c": value}`` (lists stay values)."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def key_values(tree: Mapping[str, Any], caption: str) -> str:
    """A two-column table of a (flattened) JSON tree, folded under ``caption``."""
    rows = [{"key": k, "value": v} for k, v in flatten(tree).items()]
    return f"<details><summary>{esc(caption)}</summary>{table(rows)}</details>"


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The complete records of a JSON-lines log (a torn last line, from a killed writer, is skipped)."""
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            continue
    return records


def _inline(text: str) -> str:
    text = esc(text)
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
    return re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", text)


def markdown(text: str) -> str:
    """The markdown of docs/results.md sections: headings, pipe tables, bullets and paragraphs."""
    out: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].rstrip()
        if line.startswith("#"):
            level = min(len(line) - len(line.lstrip("#")) + 2, 6)  # below the report's own headings
            out.append(f"<h{level}>{_inline(line.lstrip('#').strip())}</h{level}>")
        elif line.startswith("|"):
            block = []
            while i < len(lines) and lines[i].startswith("|"):
                block.append([c.strip() for c in lines[i].strip().strip("|").split("|")])
                i += 1
            out.append(_markdown_table(block))
            continue
        elif line.startswith("- "):
            items = []
            while i < len(lines) and lines[i].startswith("- "):
                items.append(f"<li>{_inline(lines[i][2:].rstrip())}</li>")
                i += 1
            out.append("<ul>" + "".join(items) + "</ul>")
            continue
        elif line and not line.startswith("<!--"):
            out.append(f"<p>{_inline(line)}</p>")
        i += 1
    return "\n".join(out)


def _markdown_table(block: list[list[str]]) -> str:
    header, *body = block
    body = [row for row in body if not all(set(c) <= set("-: ") for c in row)]  # the |---| rule
    head = "".join(f"<th>{_inline(c)}</th>" for c in header)
    rows = "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in row) + "</tr>" for row in body)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def bench_sections(results: str, names: Iterable[str]) -> dict[str, str]:
    """The ``<!-- bench:NAME -->`` sections of a results file that exist, by name."""
    found = {}
    for name in names:
        match = re.search(rf"<!-- bench:{re.escape(name)} -->\n(.*?)<!-- /bench:{re.escape(name)} -->", results, re.S)
        if match:
            found[name] = match.group(1)
    return found
