"""Oracle checkpoints: save, load, and the shipped ones (``load_oracle("world32")``).

An oracle checkpoint is a ganatomy checkpoint (safetensors + JSON, see ``ganatomy.runs.checkpoint``)
holding ``format`` ("ganatomy-oracle"), the network ``kind`` and ``config`` (its constructor
arguments), its ``state`` and ``meta`` (the command that made it, training settings, held-out
scores at the end of training). Floating-point weights are stored in float16 to keep the shipped
files small (their effect on the held-out scores is measured by ``ganatomy bench oracle``, which
evaluates exactly these files); they are loaded back as float32.

Shipped oracles live in ``ganatomy/assets/oracle-<name>.safetensors``: ``world32``, ``world64``
(the world oracle per resolution) and ``fmnist`` (the Fashion-MNIST classifier).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from ganatomy.errors import CheckpointError, OptionsError
from ganatomy.oracle.network import FashionNet, WorldOracleNet
from ganatomy.runs.checkpoint import load_checkpoint, save_checkpoint

FORMAT = "ganatomy-oracle"
ASSETS = Path(__file__).resolve().parents[1] / "assets"  # ganatomy/assets
SHIPPED = ("world32", "world64", "fmnist")
NETWORKS: dict[str, type[torch.nn.Module]] = {WorldOracleNet.kind: WorldOracleNet, FashionNet.kind: FashionNet}


def asset_path(name: str) -> Path:
    """Where the shipped oracle ``name`` (world32, world64, fmnist) lives."""
    if name not in SHIPPED:
        raise OptionsError(f"unknown oracle {name!r}; shipped: {', '.join(SHIPPED)} (or give a checkpoint path)")
    return ASSETS / f"oracle-{name}.safetensors"


def save_oracle(
    path: str | os.PathLike, net: torch.nn.Module, meta: dict[str, Any], dtype: torch.dtype = torch.float16
) -> Path:
    """Write ``net`` (a WorldOracleNet or FashionNet) with ``meta``; float weights stored as ``dtype``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {
        k: (v.detach().to("cpu", dtype) if v.is_floating_point() else v.detach().cpu()).contiguous()
        for k, v in net.state_dict().items()
    }
    save_checkpoint(path, {"format": FORMAT, "kind": net.kind, "config": net.config(), "state": state, "meta": meta})
    return path


def read_oracle(path: str | os.PathLike) -> tuple[torch.nn.Module, dict[str, Any]]:
    """(network in eval mode, float32 weights; its meta) from an oracle checkpoint."""
    path = Path(path)
    tree = load_checkpoint(path)
    if tree.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an oracle checkpoint (format {tree.get('format')!r})")
    kind = tree.get("kind")
    if kind not in NETWORKS:
        raise CheckpointError(f"{path}: unknown oracle kind {kind!r}")
    try:
        net = NETWORKS[kind](**tree["config"])
        state = {k: v.float() if v.is_floating_point() else v for k, v in tree["state"].items()}
        net.load_state_dict(state)
    except (TypeError, RuntimeError, OptionsError) as e:
        raise CheckpointError(f"{path}: oracle weights do not fit its config ({str(e).splitlines()[0]})") from None
    if isinstance(net, WorldOracleNet):
        net.spec.check_matches_world(str(path))
    return net.eval(), dict(tree.get("meta") or {})


def resolve_oracle_path(name_or_path: str | os.PathLike) -> Path:
    """A shipped oracle name or a checkpoint path -> the file; a missing one is a CheckpointError."""
    text = str(name_or_path)
    path = asset_path(text) if text in SHIPPED else Path(text).expanduser()
    if not path.is_file():
        if text in SHIPPED:
            raise CheckpointError(
                f"{path}: the shipped oracle {text!r} is missing from this install; "
                f"train one with `ganatomy oracle train` and pass its path"
            )
        raise CheckpointError(f"{path}: no such oracle checkpoint (shipped oracles: {', '.join(SHIPPED)})")
    return path
