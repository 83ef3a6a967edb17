"""rosinality/stylegan2-pytorch checkpoints (``.pt``) -> ``stylegan2-ref`` networks.

Two layouts: ``train.py``'s ``{g, d, g_ema, g_optim, d_optim, args, ada_aug_p}`` and
``convert_weight.py``'s ``{g_ema, latent_avg}`` (plus ``g`` / ``d`` with ``--gen`` / ``--disc``).
They are read with ``torch.load(weights_only=True)``: tensors and plain data only; the
``argparse.Namespace`` in ``args`` is allowed as the one extra global (it only holds values).

The files store no hyperparameters: size, style dim, mapping depth and widths are read from the
tensor shapes, the FIR kernels from their buffers. ``lr_mlp`` (0.01 by default in rosinality's
model) is not recoverable and can be passed. rosinality keeps no ``w_avg``: ``latent_avg`` is used
where the file has it, else the mean w of 4096 seeded samples (rosinality's own
``mean_latent(4096)`` default, with a fixed seed instead of the global RNG).
"""

from __future__ import annotations

import argparse
import pickle
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from ganatomy.errors import CheckpointError
from ganatomy.nets.importers.keys import ROSINALITY_D_KEYS, ROSINALITY_G_KEYS, build_and_load
from ganatomy.nets.importers.safe_pickle import UnsafePickleError
from ganatomy.nets.reference.discriminator import StyleGAN2RefDiscriminator
from ganatomy.nets.reference.generator import StyleGAN2RefGenerator, channel_config

# ganatomy's network names -> the keys of rosinality's checkpoint dict.
NETWORK_KEYS = {"G_ema": "g_ema", "G": "g", "D": "d"}
MEAN_LATENT_SAMPLES = 4096
MEAN_LATENT_SEED = 0


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The checkpoint dict, loaded with weights_only semantics; one-line errors for refused or broken files."""
    path = Path(path)
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        text = str(e)
        if "Weights only load failed" in text or "Unsupported" in text:
            found = re.search(r"GLOBAL ([\w.]+)", text)
            what = f"asks for {found[1]}" if found else "holds objects other than tensors and plain data"
            raise UnsafePickleError(
                f"{path}: refused to load: the checkpoint {what}, which could run code "
                "(read with weights_only semantics; nothing was run)"
            ) from None
        raise CheckpointError(f"{path}: truncated or corrupt checkpoint ({_first_line(e)})") from None
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such file") from None
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile) as e:
        raise CheckpointError(
            f"{path}: truncated or corrupt checkpoint ({type(e).__name__}: {_first_line(e)})"
        ) from None
    if not isinstance(ckpt, dict) or not any(k in ckpt for k in NETWORK_KEYS.values()):
        found = sorted(map(str, ckpt)) if isinstance(ckpt, dict) else type(ckpt).__name__
        raise CheckpointError(f"{path}: not a rosinality checkpoint (expected g_ema, g or d; found {found})")
    return ckpt


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _count(state: Mapping[str, Any], pattern: str) -> int:
    return sum(1 for k in state if re.fullmatch(pattern, k))


def _filter_taps(kernel: torch.Tensor) -> list:
    """Constructor taps that give a filter buffer of this kernel's shape (its values come from the file)."""
    if tuple(kernel.shape) == (4, 4):
        return [1.0, 3.0, 3.0, 1.0]
    return torch.ones(kernel.shape).tolist()


def _args_value(args: Any, name: str) -> Any:
    return getattr(args, name, None) if isinstance(args, argparse.Namespace) else None


def generator_config(
    state: Mapping[str, torch.Tensor], source: str, args: Any = None, lr_mlp: float = 0.01
) -> dict[str, Any]:
    """``StyleGAN2RefGenerator`` kwargs of a rosinality ``Generator`` state dict."""
    if "style.1.weight" not in state or "conv1.conv.weight" not in state:
        raise CheckpointError(f"{source}: not a rosinality StyleGAN2 generator (no style.1.weight / conv1.conv.weight)")
    n_mlp = _count(state, r"style\.\d+\.weight")
    style_dim = int(state["style.1.weight"].shape[0])
    num_upsampling_blocks = _count(state, r"to_rgbs\.\d+\.conv\.weight")
    size = 2 ** (num_upsampling_blocks + 2)
    if _args_value(args, "size") not in (None, size):
        raise CheckpointError(f"{source}: args.size is {args.size}, but the generator's layers make {size} px")
    channels = {4: int(state["conv1.conv.weight"].shape[1])}
    for k in range(num_upsampling_blocks):
        channels[2 ** (k + 3)] = int(state[f"convs.{2 * k}.conv.weight"].shape[1])
    kernel = state.get("convs.0.conv.blur.kernel", torch.zeros(4, 4))
    return dict(
        z_dim=style_dim,
        w_dim=style_dim,
        c_dim=0,
        img_resolution=size,
        img_channels=int(state["to_rgb1.conv.weight"].shape[1]),
        mapping_layers=n_mlp,
        mapping_lr_multiplier=float(lr_mlp),
        **channel_config(channels, size),
        resample_filter=_filter_taps(kernel),
    )


def discriminator_config(state: Mapping[str, torch.Tensor], source: str, args: Any = None) -> dict[str, Any]:
    """``StyleGAN2RefDiscriminator`` kwargs of a rosinality ``Discriminator`` state dict."""
    if "convs.0.0.weight" not in state or "final_conv.0.weight" not in state:
        raise CheckpointError(f"{source}: not a rosinality StyleGAN2 discriminator (no convs.0.0.weight)")
    num_blocks = _count(state, r"convs\.\d+\.conv1\.0\.weight")
    size = 2 ** (num_blocks + 2)
    if _args_value(args, "size") not in (None, size):
        raise CheckpointError(f"{source}: args.size is {args.size}, but the discriminator's layers make {size} px")
    channels = {
        size // 2 ** (j - 1): int(state[f"convs.{j}.conv1.0.weight"].shape[0]) for j in range(1, num_blocks + 1)
    }
    channels[4] = int(state["final_conv.0.weight"].shape[0])
    kernel = state.get("convs.1.conv2.0.kernel", torch.zeros(4, 4))
    return dict(
        c_dim=0,
        img_resolution=size,
        img_channels=int(state["convs.0.0.weight"].shape[1]),
        **channel_config(channels, size),
        resample_filter=_filter_taps(kernel),
        mbstd_group_size=4,
        mbstd_num_channels=1,  # fixed in rosinality's model
    )


def _mean_w(model: StyleGAN2RefGenerator) -> torch.Tensor:
    mean, _ = model.latent_stats("w", n=MEAN_LATENT_SAMPLES, seed=MEAN_LATENT_SEED)
    return mean


def import_generator(
    state: Mapping[str, torch.Tensor],
    source: str,
    args: Any = None,
    latent_avg: torch.Tensor | None = None,
    lr_mlp: float = 0.01,
) -> StyleGAN2RefGenerator:
    config = generator_config(state, source, args, lr_mlp)
    w_dim = config["w_dim"]
    provided = {"mapping.w_avg": torch.zeros(w_dim) if latent_avg is None else latent_avg.reshape(-1).float()}
    if provided["mapping.w_avg"].shape != (w_dim,):
        raise CheckpointError(f"{source}: latent_avg has shape {list(latent_avg.shape)}, expected [{w_dim}]")
    model = build_and_load(StyleGAN2RefGenerator, config, state, ROSINALITY_G_KEYS, source, provided)
    if latent_avg is None:
        model.mapping.w_avg.copy_(_mean_w(model))
    return model


def import_discriminator(state: Mapping[str, torch.Tensor], source: str, args: Any = None) -> StyleGAN2RefDiscriminator:
    return build_and_load(
        StyleGAN2RefDiscriminator, discriminator_config(state, source, args), state, ROSINALITY_D_KEYS, source
    )


def import_rosinality_checkpoint(
    path: str | Path, which: tuple[str, ...] = ("G_ema",), skip_missing: bool = False, lr_mlp: float = 0.01
) -> dict[str, Any]:
    """The requested networks (``G_ema``, ``G``, ``D``) of a rosinality checkpoint, in eval mode, plus ``meta``
    (``skip_missing``: leave out those the file lacks instead of failing)."""
    path = Path(path)
    source = str(path)
    ckpt = read_checkpoint(path)
    args = ckpt.get("args")
    arch = _args_value(args, "arch")
    if arch not in (None, "stylegan2"):
        raise CheckpointError(
            f"{source}: args.arch is {arch!r}; only rosinality's 'stylegan2' architecture is supported"
        )
    latent_avg = ckpt.get("latent_avg") if isinstance(ckpt.get("latent_avg"), torch.Tensor) else None
    out: dict[str, Any] = {}
    for name in which:
        key = NETWORK_KEYS.get(name)
        if key is None:
            raise CheckpointError(f"unknown network {name!r}; choose from {', '.join(NETWORK_KEYS)}")
        state = ckpt.get(key)
        if skip_missing and not isinstance(state, Mapping):
            continue
        if not isinstance(state, Mapping):
            present = [n for n, k in NETWORK_KEYS.items() if isinstance(ckpt.get(k), Mapping)]
            raise CheckpointError(f"{source}: has no {name} network ({key!r}; it holds {', '.join(present)})")
        if name == "D":
            out[name] = import_discriminator(state, source, args)
        else:
            # latent_avg is g_ema's mean w (convert_weight.py computes it from g_ema).
            out[name] = import_generator(state, source, args, latent_avg if name == "G_ema" else None, lr_mlp)
    out["meta"] = {
        "source_file": path.name,
        "source_format": "rosinality-" + ("train" if "args" in ckpt or "g_optim" in ckpt else "convert"),
        "source_repo": "rosinality/stylegan2-pytorch",
        "w_avg": "latent_avg"
        if latent_avg is not None
        else f"mean w of {MEAN_LATENT_SAMPLES} samples, seed {MEAN_LATENT_SEED}",
        "args": {k: v for k, v in vars(args).items() if v is None or isinstance(v, (bool, int, float, str))}
        if isinstance(args, argparse.Namespace)
        else None,
    }
    return out
