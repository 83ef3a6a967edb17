"""A foreign checkpoint -> a ganatomy network snapshot (safetensors + JSON), after which no pickle is needed.

The snapshot is the one ``ganatomy train`` writes (``format: ganatomy-network``): ``G_ema`` and,
when the file has one, ``D``, each as kind + config + state dict; ``meta`` records where the
networks came from. ``load_generator(snapshot)`` then gives the same generator as the foreign file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from ganatomy.errors import CheckpointError
from ganatomy.nets.importers import import_networks


def convert_to_snapshot(
    path: str | os.PathLike, out: str | os.PathLike, generator: str = "G_ema", check_seed: int | None = 0
) -> dict[str, Any]:
    """Write ``out`` from ``path``; the snapshot's G_ema is the file's ``generator`` ('G_ema' or 'G').

    With ``check_seed`` the snapshot is read back and its images (W+ from that seed, const noise)
    compared with the imported generator's; the summary reports the largest difference.
    """
    from ganatomy.nets.load import load_generator
    from ganatomy.runs.checkpoint import save_checkpoint
    from ganatomy.train.state import network_record, save_network_snapshot

    path, out = Path(path), Path(out)
    if generator not in ("G_ema", "G"):
        raise CheckpointError(f"convert: the generator must be 'G_ema' or 'G', got {generator!r}")
    if out.suffix != ".safetensors":
        raise CheckpointError(f"{out}: a ganatomy snapshot is a .safetensors file")
    nets = import_networks(path, (generator, "D"), skip_missing=True)
    if generator not in nets:
        raise CheckpointError(f"{path}: has no {generator} network to convert")
    G, D = nets[generator], nets.get("D")
    meta = {"converted_from": {**nets["meta"], "generator": generator}}
    out.parent.mkdir(parents=True, exist_ok=True)
    if D is not None:
        save_network_snapshot(out, G, D, meta)
    else:  # the same snapshot without a D (rosinality's convert layout has none)
        save_checkpoint(out, {"format": "ganatomy-network", "G_ema": network_record(G), "meta": meta})
    summary: dict[str, Any] = {
        "out": str(out),
        "bytes": out.stat().st_size,
        "kind": G.kind,
        "img_resolution": G.img_resolution,
        "num_ws": G.num_ws,
        "c_dim": G.c_dim,
        "has_D": D is not None,
        "source": nets["meta"]["source_repo"],
    }
    if check_seed is not None:
        reloaded = load_generator(out)
        G.eval()
        with torch.no_grad():
            z = G.sample_latents(4, seed=check_seed)
            ws = G.to_space(z, "w+", c=G.sample_c(4, seed=check_seed))
            summary["max_abs_diff"] = float((reloaded.synthesize(ws, "w+") - G.synthesize(ws, "w+")).abs().max())
    return summary
