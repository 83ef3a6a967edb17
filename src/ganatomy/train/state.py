"""What a training run writes: the resume checkpoint and the network snapshots.

- ``checkpoint.safetensors``: everything a resume needs (G, D, G_ema, both optimizers, counters,
  path-length mean), rewritten atomically at the end of every tick.
- ``network-snapshot-KKKKKK.safetensors`` (KKKKKK = kimg): G_ema and D with their constructor
  configs, the export that ``ganatomy generate`` and every analysis load.

No RNG state needs saving: each tick re-derives its random streams from (seed, rank, tick),
so a resume at a tick boundary draws exactly what the uninterrupted run drew, on any number of
processes.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import torch

from ganatomy.errors import CheckpointError
from ganatomy.nets.registry import build_discriminator, build_generator
from ganatomy.runs.checkpoint import load_checkpoint, save_checkpoint

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


def generator_from_record(record: dict[str, Any]) -> torch.nn.Module:
    G = build_generator(record["kind"], record["config"])
    G.load_state_dict(record["state"])
    return G


def discriminator_from_record(record: dict[str, Any]) -> torch.nn.Module:
    D = build_discriminator(record["kind"], record["config"])
    D.load_state_dict(record["state"])
    return D


def save_resume_checkpoint(
    run_dir: Path, G, D, G_ema, opt_G, opt_D, counters: dict[str, Any], options: dict[str, Any]
) -> Path:
    path = run_dir / RESUME_FILE
    save_checkpoint(path, {
        "format": "ganatomy-train-state",
        "G": network_record(G),
        "D": network_record(D),
        "G_ema": network_record(G_ema),
        "opt_G": opt_G.state_dict(),
        "opt_D": opt_D.state_dict(),
        "counters": counters,
        "options": options,
    })
    return path


def load_resume_checkpoint(path: Path) -> dict[str, Any]:
    tree = load_checkpoint(path)
    if tree.get("format") != "ganatomy-train-state":
        raise CheckpointError(f"{path}: not a training checkpoint (format {tree.get('format')!r})")
    return tree


def save_network_snapshot(path: Path, G_ema, D, meta: dict[str, Any]) -> Path:
    save_checkpoint(path, {"format": "ganatomy-network", "G_ema": network_record(G_ema), "D": network_record(D), "meta": meta})
    return path


def load_generator(spec: str | Path, device: str | torch.device = "cpu") -> torch.nn.Module:
    """A generator (eval mode) from a snapshot, a training checkpoint or a zoo name."""
    spec_str = str(spec)
    if not Path(spec_str).exists():
        from ganatomy.zoo import ZOO, load_pretrained

        if spec_str in ZOO:
            return load_pretrained(spec_str).to(device).eval()
        raise CheckpointError(f"{spec_str}: no such network file, and not a zoo name ({', '.join(ZOO)})")
    tree = load_checkpoint(spec_str)
    if tree.get("format") not in ("ganatomy-network", "ganatomy-train-state"):
        raise CheckpointError(f"{spec_str}: not a network snapshot or training checkpoint")
    return generator_from_record(tree["G_ema"]).to(device).eval()
