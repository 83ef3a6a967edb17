"""Generators shipped inside ganatomy (``ganatomy/assets/<name>.safetensors``), and their export.

A shipped generator is a ganatomy checkpoint (safetensors + JSON, ``ganatomy.runs.checkpoint``)
holding ``format`` ("ganatomy-generator"), the generator as ``kind`` + ``config`` + ``state``
(floating-point weights in float16 to keep the package small; loaded back as float32) and
``meta``: the command(s) that trained it, with relative paths, its kimg, its metrics and the
training options. ``export_generator`` writes one from a network snapshot of a training run.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from pathlib import Path
from typing import Any

import torch

from ganatomy.errors import CheckpointError, OptionsError
from ganatomy.nets.registry import build_generator
from ganatomy.runs.checkpoint import load_checkpoint, save_checkpoint

FORMAT = "ganatomy-generator"
ASSETS = Path(__file__).resolve().parents[1] / "assets"


def save_generator(
    path: str | os.PathLike, G: torch.nn.Module, meta: dict[str, Any], dtype: torch.dtype = torch.float16
) -> Path:
    """Write generator ``G`` (kind + config + weights stored as ``dtype``) with ``meta``, atomically."""
    state = {
        k: (v.detach().to("cpu", dtype) if v.is_floating_point() else v.detach().cpu()).contiguous()
        for k, v in G.state_dict().items()
    }
    record = {"kind": G.kind, "config": G.config(), "state": state}
    save_checkpoint(path, {"format": FORMAT, "G": record, "meta": meta})
    return Path(path)


def read_generator(path: str | os.PathLike) -> tuple[torch.nn.Module, dict[str, Any]]:
    """(generator with float32 weights, its meta) from a file written by ``save_generator``."""
    path = Path(path)
    tree = load_checkpoint(path)
    if tree.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a shipped-generator file (format {tree.get('format')!r})")
    record = tree["G"]
    try:
        G = build_generator(record["kind"], record["config"])
        G.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in record["state"].items()})
    except (RuntimeError, OptionsError, KeyError) as e:
        raise CheckpointError(f"{path}: weights do not fit their config ({str(e).splitlines()[0]})") from None
    return G, dict(tree.get("meta") or {})


def read_meta(path: str | os.PathLike) -> dict[str, Any]:
    return dict(load_checkpoint(path).get("meta") or {})


def run_commands(run_dir: Path) -> list[str]:
    """The commands that made a run (its start and every resume), as a user would type them.

    ``command.txt`` keeps one line per invocation; the program path becomes ``ganatomy`` and
    absolute paths inside the working tree become relative, so the record runs anywhere.
    """
    path = run_dir / "command.txt"
    if not path.is_file():
        return []
    cwd = str(Path.cwd()) + os.sep
    commands = []
    for line in path.read_text().splitlines():
        words = shlex.split(line)
        if not words:
            continue
        if words[0].endswith("ganatomy") or words[0].endswith("__main__.py"):
            words[0] = "ganatomy"
        commands.append(shlex.join(w.replace(cwd, "") for w in words))
    return commands


def metrics_at(run_dir: Path, kimg: float) -> dict[str, float]:
    """The flat metric results the run logged at ``kimg`` (metrics.jsonl), {} if none."""
    from ganatomy.runs.logs import read_jsonl

    path = run_dir / "metrics.jsonl"
    results: dict[str, float] = {}
    for record in read_jsonl(path) if path.is_file() else []:
        if abs(float(record.get("kimg", -1)) - kimg) < 1e-6:
            results.update(record.get("results", {}))
    return results


def snapshot_kimg(snapshot: Path) -> float:
    match = re.search(r"network-snapshot-(\d+)(?:\.(\d+))?\.safetensors$", snapshot.name)
    if not match:
        raise OptionsError(f"{snapshot}: not a network snapshot of a run (network-snapshot-KKKKKK.safetensors)")
    return int(match.group(1)) + int(match.group(2) or 0) / 1000


def export_generator(
    snapshot: str | os.PathLike, out: str | os.PathLike, description: str = "", measure: list[str] | None = None
) -> Path:
    """Ship the G_ema of a run's ``snapshot`` as ``out``, recording how it was made.

    The meta holds the run's commands (relative paths), the snapshot's kimg, the metrics the run
    logged at that kimg (``training_metrics``) and the run's options, so the file says what it is
    without its run (a fewer-labels run adds its labels record: variant, labelled subset, the
    accuracy of its inferred labels). With ``measure`` (metric names) the shipped float16 file itself is measured
    against the run's data under today's protocol, and those numbers become ``metrics``.
    """
    from ganatomy.labels.variants import LABELS_RECORD
    from ganatomy.nets.load import load_generator

    snapshot = Path(snapshot)
    run_dir = snapshot.parent
    kimg = snapshot_kimg(snapshot)
    options_path = run_dir / "options.json"
    options = json.loads(options_path.read_text()) if options_path.is_file() else {}
    logged = metrics_at(run_dir, kimg)
    labels_path = run_dir / LABELS_RECORD  # a fewer-labels run: its variant, labelled subset, label accuracy
    meta = {
        "description": description,
        "commands": run_commands(run_dir),
        "kimg": kimg,
        "metrics": logged,
        "training_metrics": logged,
        "options": options,
        "snapshot": snapshot.name,
    }
    if labels_path.is_file():
        meta["labels"] = json.loads(labels_path.read_text())
    class_names = (load_checkpoint(snapshot).get("meta") or {}).get("class_names")
    if class_names:  # a conditional model: `ganatomy generate --class NAME` reads them
        meta["class_names"] = class_names
    path = save_generator(out, load_generator(snapshot), meta)
    if measure:
        meta["metrics"] = measure_shipped(path, measure, options.get("data"))
        path = save_generator(out, read_generator(path)[0], meta)  # float16 weights: the same file content
    return path


def measure_shipped(path: Path, names: list[str], data: str | None) -> dict[str, float]:
    """``names`` of the generator in ``path`` against ``data``, flat results (fd10k_oracle, ...)."""
    from ganatomy.data.resolve import open_dataset
    from ganatomy.metrics.evaluate import evaluate_generator

    if not data:
        raise OptionsError(f"{path}: the run's options name no data to measure against")
    G = read_generator(path)[0].eval().requires_grad_(False)
    records = evaluate_generator(G, names, open_dataset(data), seed=0)
    return {k: v for r in records for k, v in r["results"].items()}
