"""Users' own StyleGAN2 checkpoints -> ganatomy's faithful ``stylegan2-ref`` networks, with no code run.

- NVIDIA network pickles (``.pkl``: stylegan2-ada-pytorch, stylegan3 ``--cfg=stylegan2``), read by
  a restricted unpickler (``safe_pickle``); StyleGAN3 alias-free networks are refused by name.
- rosinality/stylegan2-pytorch checkpoints (``.pt`` / ``.pth``), read with weights_only semantics.

``load_foreign_generator(path)`` gives the G_ema (frozen, eval mode, like ``load_generator``);
``import_networks(path, which)`` gives any of G_ema, G and D, trainable, for fine-tuning or a
conversion to a ganatomy snapshot. The key tables are in ``keys.py``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from ganatomy.errors import CheckpointError, GanatomyError
from ganatomy.nets.importers.nvidia import import_nvidia_pickle
from ganatomy.nets.importers.rosinality import import_rosinality_checkpoint
from ganatomy.nets.importers.safe_pickle import UnsafePickleError

NVIDIA_SUFFIXES = (".pkl",)
ROSINALITY_SUFFIXES = (".pt", ".pth")
FOREIGN_SUFFIXES = NVIDIA_SUFFIXES + ROSINALITY_SUFFIXES
NETWORKS = ("G_ema", "G", "D")


def is_foreign_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` names a file type an importer reads (by suffix)."""
    return Path(path).suffix.lower() in FOREIGN_SUFFIXES


def import_networks(
    path: str | os.PathLike, which: tuple[str, ...] | list[str] = ("G_ema",), skip_missing: bool = False
) -> dict[str, Any]:
    """``{name: network for name in which} | {"meta": {...}}`` from an NVIDIA pickle or a rosinality checkpoint.

    A requested network the file lacks is an error, or left out with ``skip_missing``.

    Networks come back in eval mode with trainable parameters (``G_ema`` and ``G`` are
    ``StyleGAN2RefGenerator``, ``D`` a ``StyleGAN2RefDiscriminator``); ``meta`` says where they came
    from (file, repository, layout).
    """
    path = Path(path)
    which = tuple(which)
    unknown = [n for n in which if n not in NETWORKS]
    if unknown:
        raise CheckpointError(f"unknown network {unknown[0]!r}; choose from {', '.join(NETWORKS)}")
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    suffix = path.suffix.lower()
    importer = {
        **dict.fromkeys(NVIDIA_SUFFIXES, import_nvidia_pickle),
        **dict.fromkeys(ROSINALITY_SUFFIXES, import_rosinality_checkpoint),
    }.get(suffix)
    if importer is not None:
        try:
            return importer(path, which, skip_missing)
        except GanatomyError:
            raise
        except (KeyError, AttributeError, TypeError, ValueError, IndexError, RuntimeError) as e:
            # Data the importers do not expect (a crafted or foreign file) still gets one line.
            raise CheckpointError(
                f"{path}: not a StyleGAN2 network this importer understands "
                f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})"
            ) from None
    raise CheckpointError(
        f"{path}: unknown file type {suffix or '(none)'}; foreign checkpoints are NVIDIA "
        f"pickles ({', '.join(NVIDIA_SUFFIXES)}) or rosinality checkpoints "
        f"({', '.join(ROSINALITY_SUFFIXES)})"
    )


def load_foreign_generator(path: str | os.PathLike, which: str = "G_ema", device: str | torch.device = "cpu"):
    """The ``which`` generator ('G_ema' or 'G') of a foreign file, frozen and in eval mode."""
    if which not in ("G_ema", "G"):
        raise CheckpointError(f"load_foreign_generator: which must be 'G_ema' or 'G', got {which!r}")
    return import_networks(path, (which,))[which].to(device).eval().requires_grad_(False)


def load_foreign_discriminator(path: str | os.PathLike, device: str | torch.device = "cpu"):
    """The discriminator of a foreign file, frozen and in eval mode."""
    return import_networks(path, ("D",))["D"].to(device).eval().requires_grad_(False)


__all__ = [
    "FOREIGN_SUFFIXES",
    "UnsafePickleError",
    "import_networks",
    "is_foreign_file",
    "load_foreign_discriminator",
    "load_foreign_generator",
]
