"""One way to get a generator: ``load_generator(name_or_path)``.

It reads any file that holds a generator record (kind + config + state dict, no pickles):

- a network snapshot of a run (``network-snapshot-KKKKKK.safetensors``: its ``G_ema``),
- a training checkpoint (``checkpoint.safetensors``: its ``G_ema``),
- a shipped-generator file (``ganatomy.zoo.shipped``: its ``G``, float16 weights read back as float32),

or takes a zoo name (``ganatomy.zoo.ZOO``), and returns the generator in eval mode with frozen
parameters: analyses optimise latents, never G (unfreeze with ``G.requires_grad_(True)`` to
fine-tune). Gradients with respect to latents still flow through ``synthesize`` and ``features``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from ganatomy.errors import CheckpointError, GanatomyError
from ganatomy.nets.protocol import GeneratorBase
from ganatomy.nets.registry import build_generator

# File format -> the key of its generator record.
GENERATOR_RECORDS = {"ganatomy-network": "G_ema", "ganatomy-train-state": "G_ema", "ganatomy-generator": "G"}


EXPECTED_NETWORK = (
    "expected a ganatomy snapshot or checkpoint (.safetensors), an NVIDIA network pickle (.pkl), "
    "a rosinality checkpoint (.pt) or a zoo name"
)
# Leading bytes of formats users hand over by mistake.
_IMAGE_MAGIC = {
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"BM": "a BMP image",
    b"RIFF": "a RIFF file (WebP image?)",
}


def describe_other_format(path: Path) -> str | None:
    """What a file that is not a ganatomy checkpoint is, from its first bytes (None: nothing recognised)."""
    try:
        with open(path, "rb") as f:
            head = f.read(512)
    except OSError:
        return None  # load_checkpoint reports the read error
    if head[8:9] == b"{":  # safetensors: an 8-byte header length, then the JSON header; load_checkpoint judges it
        return None
    if head.startswith(b"PK\x03\x04"):
        import zipfile

        try:
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
        except (zipfile.BadZipFile, OSError):
            return "a damaged zip archive"
        if any(n.endswith("dataset.json") for n in names):
            return "an image dataset (zip with dataset.json); pass it as --data"
        if any(n.endswith("data.pkl") for n in names):
            return "a PyTorch torch.save file; if it is a rosinality StyleGAN2 checkpoint, give it a .pt suffix"
        return "a zip archive"
    for magic, what in _IMAGE_MAGIC.items():
        if head.startswith(magic):
            return what
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "a Python pickle; if it is an NVIDIA StyleGAN2/3 network pickle, give it a .pkl suffix"
    if head.startswith(b"\x1f\x8b"):
        return "a gzip file"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if head and all(c.isprintable() or c in "\n\r\t" for c in text):
        return "a JSON file" if text.lstrip().startswith(("{", "[")) else "a text file"
    return None


def generator_from_record(record: dict[str, Any]) -> GeneratorBase:
    """The generator of a ``{"kind", "config", "state"}`` record (weights cast to the model's dtype)."""
    G = build_generator(record["kind"], record["config"])
    G.load_state_dict(record["state"])
    return G


def load_generator(name_or_path: str | os.PathLike, device: str | torch.device = "cpu") -> GeneratorBase:
    """A frozen, eval-mode generator from a snapshot, a training checkpoint, a shipped file or a zoo name.

    A path that does not exist and is no zoo name is a one-line ``CheckpointError`` that names
    it and lists the zoo.
    """
    from ganatomy.runs.checkpoint import load_checkpoint

    spec = str(name_or_path)
    path = Path(spec)
    if not path.exists():
        from ganatomy.zoo import ZOO, load_pretrained

        if spec in ZOO:
            G = load_pretrained(spec, device=device)
        else:
            raise CheckpointError(f"{spec}: no such network file, and not a zoo name (zoo: {', '.join(ZOO)})")
    else:
        if path.is_dir():
            raise CheckpointError(f"{spec}: is a folder; name a network snapshot or checkpoint file in it")
        from ganatomy.nets.importers import is_foreign_file, load_foreign_generator

        if is_foreign_file(path):  # a user's NVIDIA .pkl or rosinality .pt/.pth: its G_ema, no code run
            return load_foreign_generator(path, device=device)
        other = describe_other_format(path) if path.is_file() and path.stat().st_size else None
        if other is not None:
            raise CheckpointError(f"{spec}: this is {other}; {EXPECTED_NETWORK}")
        tree = load_checkpoint(path)
        key = GENERATOR_RECORDS.get(tree.get("format"))
        if key is None:
            raise CheckpointError(
                f"{spec}: not a network snapshot, training checkpoint or generator file (format {tree.get('format')!r})"
            )
        try:
            G = generator_from_record(tree[key])
        except (KeyError, RuntimeError, GanatomyError) as e:
            reason = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise CheckpointError(f"{spec}: its {key} record does not make a generator ({reason})") from None
    return G.to(device).eval().requires_grad_(False)
