"""What a training run writes: the resume checkpoint and the network snapshots.

- ``checkpoint.safetensors``: everything a resume needs (G, D, G_ema, both optimizers, counters,
  the objective's state such as the path-length mean), rewritten atomically at the end of every tick.
- ``network-snapshot-KKKKKK.safetensors`` (KKKKKK = kimg): G_ema and D with their constructor
  configs, the export that ``ganatomy generate`` and every analysis load
  (with ``ganatomy.load_generator``, ``ganatomy.nets.load``).

No RNG state needs saving: each tick re-derives its random streams from (seed, rank, tick),
so a resume at a tick boundary draws exactly what the uninterrupted run drew, on any number of
processes.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from ganatomy.errors import CheckpointError
from ganatomy.nets.load import generator_from_record  # noqa: F401  (kept importable from here)
from ganatomy.nets.registry import build_discriminator
from ganatomy.runs.checkpoint import load_checkpoint, save_checkpoint

if TYPE_CHECKING:
    from ganatomy.train.phases import Networks

RESUME_FILE = "checkpoint.safetensors"


def kimg_label(nimg: int) -> str:
    """``000012`` for 12 kimg; ``000000.128`` for 128 images (runs with sub-kimg ticks)."""
    return f"{nimg // 1000:06d}" + (f".{nimg % 1000:03d}" if nimg % 1000 else "")


def snapshot_name(nimg: int) -> str:
    return f"network-snapshot-{kimg_label(nimg)}.safetensors"


def tick_seed(seed: int, rank: int, tick: int) -> int:
    """A 63-bit seed for one process and one tick, stable across machines and Python versions."""
    digest = hashlib.sha256(f"ganatomy-train/{seed}/{rank}/{tick}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def network_record(module: torch.nn.Module) -> dict[str, Any]:
    """A module as JSON-able kind + config plus its state dict (no pickled code)."""
    return {"kind": module.kind, "config": module.config(), "state": module.state_dict()}


def discriminator_from_record(record: dict[str, Any]) -> torch.nn.Module:
    D = build_discriminator(record["kind"], record["config"])
    D.load_state_dict(record["state"])
    return D


def non_finite_tensors(tree: Any, path: str = "") -> list[str]:
    """The dotted names of the floating-point tensors in ``tree`` that hold a NaN or an infinity."""
    if isinstance(tree, torch.Tensor):
        return [path] if tree.is_floating_point() and not bool(torch.isfinite(tree).all()) else []
    if isinstance(tree, dict):
        items = tree.items()
    elif isinstance(tree, (list, tuple)):
        items = enumerate(tree)
    else:
        return []
    return [name for k, v in items for name in non_finite_tensors(v, f"{path}.{k}" if path else str(k))]


def describe_non_finite(names: list[str]) -> str:
    """``54 tensors of opt_G (opt_G.state.3.exp_avg_sq, ...)``."""
    parts = sorted({n.split(".")[0] for n in names})
    return f"{len(names)} tensor(s) of {', '.join(parts)} ({', '.join(names[:2])}{', ...' if len(names) > 2 else ''})"


def save_resume_checkpoint(
    run_dir: Path,
    nets: Networks,
    G_ema,
    counters: dict[str, Any],
    options: dict[str, Any],
    objective_state: dict[str, Any],
) -> Path:
    path = run_dir / RESUME_FILE
    save_checkpoint(
        path,
        {
            "format": "ganatomy-train-state",
            "G": network_record(nets.G),
            "D": network_record(nets.D),
            "G_ema": network_record(G_ema),
            "opt_G": nets.opt_G.state_dict(),
            "opt_D": nets.opt_D.state_dict(),
            "counters": counters,
            "objective": objective_state,
            "options": options,
        },
    )
    return path


def load_resume_checkpoint(path: Path) -> dict[str, Any]:
    tree = load_checkpoint(path)
    if tree.get("format") != "ganatomy-train-state":
        raise CheckpointError(f"{path}: not a training checkpoint (format {tree.get('format')!r})")
    bad = non_finite_tensors({k: tree.get(k) for k in ("G", "D", "G_ema", "opt_G", "opt_D")})
    if bad:  # written by a version that did not check: resuming would diverge at the first step
        raise CheckpointError(
            f"{path}: holds NaN or infinite values in {describe_non_finite(bad)}; the run had "
            "diverged before this checkpoint, so it cannot be resumed"
        )
    if "objective" not in tree:  # written before training objectives: the path-length mean sat in the counters
        tree["objective"] = {"pl_mean": tree["counters"].pop("pl_mean", 0.0)}
    return tree


def save_network_snapshot(path: Path, G_ema, D, meta: dict[str, Any]) -> Path:
    save_checkpoint(
        path, {"format": "ganatomy-network", "G_ema": network_record(G_ema), "D": network_record(D), "meta": meta}
    )
    return path
