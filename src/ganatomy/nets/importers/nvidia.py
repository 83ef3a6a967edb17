"""NVIDIA network pickles (stylegan2-ada-pytorch, and stylegan3 with ``--cfg=stylegan2``) -> ``stylegan2-ref`` networks.

The pickle is read by ``safe_pickle`` (nothing in it runs). The networks are
``torch_utils.persistence`` records; their constructor kwargs and hyperparameters come from
the records' data (``_init_kwargs`` and plain attributes such as ``conv_clamp``, ``w_avg_beta``,
``use_fp16``), their widths from the stored weights, their tensors from the state, renamed by
``keys.NVIDIA_G_KEYS`` / ``NVIDIA_D_KEYS``. A snapshot dict holds ``G``, ``D`` and ``G_ema``
(released pickles may lack ``D`` or ``G``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ganatomy.errors import CheckpointError
from ganatomy.nets.importers.keys import NVIDIA_D_KEYS, NVIDIA_G_KEYS, build_and_load
from ganatomy.nets.importers.safe_pickle import PersistentObject, load_pickle_file
from ganatomy.nets.reference.discriminator import StyleGAN2RefDiscriminator
from ganatomy.nets.reference.generator import StyleGAN2RefGenerator, channel_config

NETWORK_KEYS = ("G_ema", "G", "D")
# stylegan3's alias-free networks are told apart by their synthesis input layer.
_STYLEGAN3_MARKERS = ("SynthesisInput",)


def _fail(source: str, message: str) -> CheckpointError:
    return CheckpointError(f"{source}: {message}")


def _read_snapshot(path: Path) -> dict[str, Any]:
    data = load_pickle_file(path)
    if isinstance(data, PersistentObject):  # a bare network pickled on its own
        data = {"G_ema" if data.class_name == "Generator" else data.class_name: data}
    if not isinstance(data, dict) or not any(isinstance(data.get(k), PersistentObject) for k in NETWORK_KEYS):
        found = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise _fail(str(path), f"not an NVIDIA network pickle (expected G_ema, G or D; found {found})")
    return data


def _network(data: dict[str, Any], which: str, source: str) -> PersistentObject:
    obj = data.get(which)
    if not isinstance(obj, PersistentObject):
        present = [k for k in NETWORK_KEYS if isinstance(data.get(k), PersistentObject)]
        raise _fail(source, f"has no {which} network (it holds {', '.join(present)})")
    return obj


def _refuse_stylegan3(G: PersistentObject, source: str) -> None:
    names = {obj.class_name for _, obj in G.walk()}
    if not any(marker in names for marker in _STYLEGAN3_MARKERS):
        return
    kwargs = G.init_kwargs
    radial = kwargs.get("use_radial_filters", False) or any(
        obj.attr("use_radial_filters", False) for _, obj in G.walk()
    )
    variant = "stylegan3-r (rotation equivariant)" if radial else "stylegan3-t (translation equivariant)"
    raise _fail(
        source,
        f"a StyleGAN3 alias-free generator ({variant}; its synthesis has a SynthesisInput layer) is "
        "not supported: only StyleGAN2 networks load (stylegan2-ada-pytorch, or stylegan3 trained "
        "with --cfg=stylegan2)",
    )


def _synthesis_kwargs(G: PersistentObject) -> dict[str, Any]:
    """stylegan2-ada-pytorch nests them under ``synthesis_kwargs``; stylegan3 passes them flat."""
    kwargs = G.init_kwargs
    nested = kwargs.get("synthesis_kwargs")
    return dict(nested) if isinstance(nested, dict) else kwargs


def _channels_config(channels: dict[int, int], img_resolution: int, kwargs: dict[str, Any]) -> dict[str, Any]:
    return channel_config(channels, img_resolution, kwargs.get("channel_base", 32768), kwargs.get("channel_max", 512))


def _filter_taps(kwargs: dict[str, Any]) -> list[float]:
    taps = kwargs.get("resample_filter", [1, 3, 3, 1])
    return torch.as_tensor(taps, dtype=torch.float32).tolist()


def _mapping_config(mapping: PersistentObject, state: dict[str, torch.Tensor], prefix: str) -> dict[str, Any]:
    fc0 = mapping.child("fc0")
    num_layers = int(mapping.attr("num_layers", 8))
    c_dim = int(mapping.attr("c_dim", 0))
    return dict(
        mapping_layers=num_layers,
        mapping_lr_multiplier=float(fc0.attr("bias_gain", 0.01)) if fc0 else 0.01,
        mapping_activation=str(fc0.attr("activation", "lrelu")) if fc0 else "lrelu",
        embed_features=int(state[f"{prefix}embed.weight"].shape[0]) if c_dim > 0 else None,
        layer_features=int(state[f"{prefix}fc0.weight"].shape[0]) if num_layers > 1 else None,
    )


def generator_config(G: PersistentObject, source: str) -> dict[str, Any]:
    """``StyleGAN2RefGenerator`` kwargs of an NVIDIA ``Generator`` record."""
    if G.class_name != "Generator":
        raise _fail(source, f"expected a Generator, found {G.class_name}")
    _refuse_stylegan3(G, source)
    synthesis, mapping = G.child("synthesis"), G.child("mapping")
    if synthesis is None or mapping is None:
        raise _fail(source, "the Generator has no synthesis or mapping network")
    state = G.state_dict()
    resolutions = [int(r) for r in synthesis.attr("block_resolutions", [])]
    blocks = [synthesis.child(f"b{r}") for r in resolutions]
    if not resolutions or any(b is None for b in blocks):
        raise _fail(source, "the synthesis network has no blocks")
    first_layer = blocks[0].child("conv1")
    architecture = blocks[0].attr("architecture", "skip")
    kernel = state["synthesis.b4.conv1.weight"].shape[-1]
    if kernel != 3:
        raise _fail(source, f"synthesis kernel size {kernel} is not supported (StyleGAN2 uses 3)")
    channels = {r: int(state[f"synthesis.b{r}.conv1.weight"].shape[0]) for r in resolutions}
    img_resolution = int(G.attr("img_resolution"))
    kwargs = _synthesis_kwargs(G)
    return dict(
        z_dim=int(G.attr("z_dim")),
        w_dim=int(G.attr("w_dim")),
        c_dim=int(G.attr("c_dim", 0)),
        img_resolution=img_resolution,
        img_channels=int(G.attr("img_channels", 3)),
        **_mapping_config(mapping, state, "mapping."),
        w_avg_beta=float(mapping.attr("w_avg_beta", 0.995)),
        **_channels_config(channels, img_resolution, kwargs),
        num_fp16_res=sum(bool(b.attr("use_fp16", False)) for b in blocks),
        conv_clamp=first_layer.attr("conv_clamp"),
        resample_filter=_filter_taps(kwargs),
        use_noise=bool(first_layer.attr("use_noise", True)),
        activation=str(first_layer.attr("activation", "lrelu")),
        architecture=str(architecture),
    )


def discriminator_config(D: PersistentObject, source: str) -> dict[str, Any]:
    """``StyleGAN2RefDiscriminator`` kwargs of an NVIDIA ``Discriminator`` record."""
    if D.class_name != "Discriminator":
        raise _fail(source, f"expected a Discriminator, found {D.class_name}")
    state = D.state_dict()
    resolutions = [int(r) for r in D.attr("block_resolutions", [])]
    blocks = [D.child(f"b{r}") for r in resolutions]
    epilogue = D.child("b4")
    if not resolutions or any(b is None for b in blocks) or epilogue is None:
        raise _fail(source, "the Discriminator has no blocks or no 4x4 epilogue")
    channels = {r: int(state[f"b{r}.conv0.weight"].shape[0]) for r in resolutions}
    channels[4] = int(state["b4.conv.weight"].shape[0])
    channels = dict(sorted(channels.items()))
    img_resolution = int(D.attr("img_resolution"))
    kwargs = D.init_kwargs
    block_kwargs = kwargs.get("block_kwargs") or {}
    mbstd = epilogue.child("mbstd")
    c_dim = int(D.attr("c_dim", 0))
    mapping = D.child("mapping")
    mapping_config = _mapping_config(mapping, state, "mapping.") if c_dim > 0 and mapping is not None else {}
    conv0 = blocks[0].child("conv0")
    return dict(
        c_dim=c_dim,
        img_resolution=img_resolution,
        img_channels=int(D.attr("img_channels", 3)),
        architecture=str(blocks[0].attr("architecture", "resnet")),
        **_channels_config(channels, img_resolution, kwargs),
        num_fp16_res=sum(bool(b.attr("use_fp16", False)) for b in blocks),
        conv_clamp=conv0.attr("conv_clamp") if conv0 else None,
        cmap_dim=int(epilogue.attr("cmap_dim")) if c_dim > 0 else None,
        activation=str(conv0.attr("activation", "lrelu")) if conv0 else "lrelu",
        resample_filter=_filter_taps(block_kwargs),
        mbstd_group_size=mbstd.attr("group_size") if mbstd else 4,
        mbstd_num_channels=int(mbstd.attr("num_channels", 1)) if mbstd else 0,
        **mapping_config,
    )


def import_generator(G: PersistentObject, source: str) -> StyleGAN2RefGenerator:
    return build_and_load(StyleGAN2RefGenerator, generator_config(G, source), G.state_dict(), NVIDIA_G_KEYS, source)


def import_discriminator(D: PersistentObject, source: str) -> StyleGAN2RefDiscriminator:
    return build_and_load(
        StyleGAN2RefDiscriminator, discriminator_config(D, source), D.state_dict(), NVIDIA_D_KEYS, source
    )


def source_repo(G: PersistentObject) -> str:
    """Which NVIDIA repository wrote the network (stylegan3's blocks know ``fused_modconv_default``)."""
    stylegan3 = "fused_modconv_default" in G.init_kwargs or any(
        "fused_modconv_default" in obj.state for _, obj in G.walk()
    )
    return "NVlabs/stylegan3 (--cfg=stylegan2)" if stylegan3 else "NVlabs/stylegan2-ada-pytorch"


def import_nvidia_pickle(
    path: str | Path, which: tuple[str, ...] = ("G_ema",), skip_missing: bool = False
) -> dict[str, Any]:
    """The requested networks (``G_ema``, ``G``, ``D``) of an NVIDIA pickle, in eval mode, plus ``meta``
    (``skip_missing``: leave out those the file lacks instead of failing)."""
    path = Path(path)
    source = str(path)
    data = _read_snapshot(path)
    out: dict[str, Any] = {}
    for name in which:
        if name not in NETWORK_KEYS:
            raise CheckpointError(f"unknown network {name!r}; choose from {', '.join(NETWORK_KEYS)}")
        if skip_missing and not isinstance(data.get(name), PersistentObject):
            continue
        obj = _network(data, name, source)
        out[name] = import_discriminator(obj, source) if name == "D" else import_generator(obj, source)
    generator = next((data[k] for k in ("G_ema", "G") if isinstance(data.get(k), PersistentObject)), None)
    out["meta"] = {
        "source_file": path.name,
        "source_format": "nvidia-pickle",
        "source_repo": source_repo(generator) if generator is not None else "NVIDIA",
        "G_init_kwargs": _json_safe(generator.init_kwargs) if generator is not None else None,
    }
    return out


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, torch.Tensor):
        return value.item()
    return value if value is None or isinstance(value, (bool, int, float, str)) else repr(value)
