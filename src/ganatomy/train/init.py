"""``--init FILE``: start training from someone's networks instead of fresh ones (fine-tuning).

As NVIDIA's ``--resume`` does with a network pickle: G, D and G_ema come from the file, the
optimizers and counters start fresh. The file is a user's NVIDIA pickle or rosinality checkpoint
(read by the safe importers into the faithful ``stylegan2-ref`` kinds), or a ganatomy network
snapshot (G_ema and D; G starts as a copy of G_ema). The networks must fit the dataset:
resolution, channels, and classes when training is conditional.
"""

from __future__ import annotations

import copy
from pathlib import Path

import torch

from ganatomy.data.base import ImageDataset
from ganatomy.errors import CheckpointError, OptionsError

# which --arch trains each generator kind the file can hold
_ARCH_OF_KIND = {"stylegan2": "stylegan2", "stylegan2-ref": "stylegan2", "dcgan": "dcgan"}


def _snapshot_networks(path: Path) -> tuple[torch.nn.Module, torch.nn.Module]:
    from ganatomy.nets.registry import build_generator
    from ganatomy.runs.checkpoint import load_checkpoint
    from ganatomy.train.state import discriminator_from_record

    tree = load_checkpoint(path)
    if tree.get("format") != "ganatomy-network" or "D" not in tree:
        raise CheckpointError(
            f"{path}: --init needs a network snapshot with a discriminator (network-snapshot-*.safetensors), "
            "an NVIDIA pickle or a rosinality checkpoint"
        )
    record = tree["G_ema"]
    G_ema = build_generator(record["kind"], record["config"])
    G_ema.load_state_dict(record["state"])
    return G_ema, discriminator_from_record(tree["D"])


def initial_networks(
    path: str | Path, dataset: ImageDataset, cond: bool, arch: str
) -> tuple[torch.nn.Module, torch.nn.Module, torch.nn.Module]:
    """(G, D, G_ema) from ``path``, in training mode, checked against the dataset and ``arch``."""
    from ganatomy.nets.importers import import_networks

    path = Path(path)
    if not path.is_file():
        raise OptionsError(f"--init {path}: no such file")
    if path.suffix == ".safetensors":
        G_ema, D = _snapshot_networks(path)
        G = copy.deepcopy(G_ema)
    else:
        nets = import_networks(path, ("G", "D", "G_ema"), skip_missing=True)
        if "D" not in nets:
            raise CheckpointError(f"{path}: has no discriminator; fine-tuning needs D as well as G")
        G_ema = nets.get("G_ema", nets.get("G"))
        G = nets.get("G", G_ema)
        D = nets["D"]
    wanted = _ARCH_OF_KIND.get(G.kind)
    if wanted != arch:
        raise OptionsError(f"--init {path}: holds a {G.kind} generator, which trains with --arch {wanted}, not {arch}")
    c_dim = dataset.num_classes if cond else 0
    mismatch = [
        f"{what} {have} against the data's {need}"
        for what, have, need in (
            ("resolution", G.img_resolution, dataset.resolution),
            ("channels", G.img_channels, dataset.channels),
            ("classes", G.c_dim, c_dim),
        )
        if have != need
    ]
    if mismatch:
        raise OptionsError(f"--init {path}: the networks do not fit {dataset.name}: {'; '.join(mismatch)}")
    G.train().requires_grad_(True)
    D.train().requires_grad_(True)
    return G, D, G_ema.eval().requires_grad_(False)
