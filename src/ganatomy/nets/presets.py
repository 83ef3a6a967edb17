"""Named network sizes: ``get_preset("cpu32").build_generator(c_dim=10)``.

CPU presets are sized for two CPU cores with bf16 autocast and channels_last (see
``research/data-and-cpu.md``), with a 2-layer 128-d mapping network and a mirrored residual D.
Parameters live at low resolution and FLOPs at high resolution, so the CPU presets are wide
where it is cheap and narrow where it is not: ``cpu32`` has 4:256, 8:128, 16:64, 32:32 feature
maps (channel_base 1024; 139 training img/s here against 78 for 4:128 .. 32:64 at half the
parameters); ``cpu64`` has 4:128, 8:128, 16:128, 32:64, 64:32. GPU presets are full size
(channel_base 16384, up to 512 maps, 8-layer 512-d mapping). ``dcgan32``/``dcgan64`` are the
classic DCGAN (z 100, 64 base filters); with ``c_dim > 0`` its G conditions through
class-conditional BatchNorm and its D through a projection head.

Counts (G / D, unconditional, 3 channels): cpu32 1.39M / 2.27M, cpu64 1.09M / 1.18M,
gpu32 21.5M / 21.5M, gpu64 23.8M / 23.4M, gpu256 24.8M / 24.0M, dcgan32 1.07M / 0.66M,
dcgan64 3.58M / 2.77M.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from ganatomy.errors import OptionsError
from ganatomy.nets.discriminator import DiscriminatorBase
from ganatomy.nets.protocol import GeneratorBase
from ganatomy.nets.registry import build_discriminator, build_generator


@dataclasses.dataclass(frozen=True)
class Preset:
    """Constructor kwargs of a generator/discriminator pair, without labels and image channels."""

    name: str
    arch: str  # the training options' network.arch: 'stylegan2' | 'dcgan'
    resolution: int
    g_kind: str
    g_kwargs: Mapping[str, Any]
    d_kind: str
    d_kwargs: Mapping[str, Any]
    description: str

    def generator_config(self, c_dim: int = 0, img_channels: int = 3, **overrides: Any) -> dict[str, Any]:
        # Deep copy: the kwargs hold a nested prior dict that must not be shared with the preset.
        cfg = {"img_resolution": self.resolution, "img_channels": img_channels, **self.g_kwargs, **overrides}
        cfg = copy.deepcopy(cfg)
        cfg["c_dim"] = c_dim  # both generator kinds are class-conditional when c_dim > 0
        return cfg

    def discriminator_config(self, c_dim: int = 0, img_channels: int = 3, **overrides: Any) -> dict[str, Any]:
        cfg = {"img_resolution": self.resolution, "img_channels": img_channels, "c_dim": c_dim}
        cfg.update(self.d_kwargs, **overrides)
        return copy.deepcopy(cfg)

    def build_generator(self, c_dim: int = 0, img_channels: int = 3, **overrides: Any) -> GeneratorBase:
        return build_generator(self.g_kind, self.generator_config(c_dim, img_channels, **overrides))

    def build_discriminator(self, c_dim: int = 0, img_channels: int = 3, **overrides: Any) -> DiscriminatorBase:
        return build_discriminator(self.d_kind, self.discriminator_config(c_dim, img_channels, **overrides))


def _frozen(**kw: Any) -> Mapping[str, Any]:
    return MappingProxyType(kw)


# up_mode "transposed": NVIDIA's stride-2 transposed conv + FIR filter, 107 against 190 MFLOP per
# cpu32 image for bilinear-then-conv (see nets/stylegan2.py).
_CPU_G = dict(
    z_dim=128,
    w_dim=128,
    channel_base=2048,
    channel_max=128,
    up_mode="transposed",
    prior={"kind": "mapping", "num_layers": 2, "lr_mul": 0.01},
)
_CPU_D = dict(channel_base=2048, channel_max=128, mbstd_group=4)
_CPU32_G = {**_CPU_G, "channel_base": 1024, "channel_max": 256}
_CPU32_D = {**_CPU_D, "channel_base": 1024, "channel_max": 256}
_GPU_G = dict(
    z_dim=512,
    w_dim=512,
    channel_base=16384,
    channel_max=512,
    up_mode="transposed",
    prior={"kind": "mapping", "num_layers": 8, "lr_mul": 0.01},
)
_GPU_D = dict(channel_base=16384, channel_max=512, mbstd_group=4)


def _sg2(name: str, res: int, g: dict, d: dict, description: str) -> Preset:
    return Preset(name, "stylegan2", res, "stylegan2", _frozen(**g), "resnet", _frozen(**d), description)


def _dcgan(name: str, res: int) -> Preset:
    return Preset(
        name,
        "dcgan",
        res,
        "dcgan",
        _frozen(z_dim=100, ngf=64),
        "dcgan",
        _frozen(ndf=64),
        f"classic DCGAN at {res}x{res} (z 100, ngf = ndf = 64)",
    )


PRESETS: Mapping[str, Preset] = MappingProxyType(
    {
        "cpu32": _sg2("cpu32", 32, _CPU32_G, _CPU32_D, "compact StyleGAN2 for 2 CPU cores, 32x32"),
        "cpu64": _sg2("cpu64", 64, _CPU_G, _CPU_D, "compact StyleGAN2 for 2 CPU cores, 64x64"),
        "gpu32": _sg2("gpu32", 32, _GPU_G, _GPU_D, "full-size StyleGAN2, 32x32 (GPU)"),
        "gpu64": _sg2("gpu64", 64, _GPU_G, _GPU_D, "full-size StyleGAN2, 64x64 (GPU)"),
        "gpu256": _sg2("gpu256", 256, _GPU_G, _GPU_D, "full-size StyleGAN2, 256x256 (GPU)"),
        "dcgan32": _dcgan("dcgan32", 32),
        "dcgan64": _dcgan("dcgan64", 64),
    }
)


def get_preset(name: str, arch: str | None = None) -> Preset:
    """The preset ``name``; with ``arch`` also check that it is a preset of that architecture."""
    if name not in PRESETS:
        raise OptionsError(f"unknown network preset {name!r}; known: {', '.join(PRESETS)}")
    preset = PRESETS[name]
    if arch is not None and preset.arch != arch:
        same = [p.name for p in PRESETS.values() if p.arch == arch]
        raise OptionsError(f"preset {name!r} is a {preset.arch} preset, not {arch}; {arch} presets: {', '.join(same)}")
    return preset
