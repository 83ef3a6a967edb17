"""The key tables of the importers: a foreign state-dict key -> the key of ganatomy's ``stylegan2-ref`` networks.

One row per key pattern: (regex on the foreign key, target, scale). The target is a function of
the match groups and the image resolution (None: a buffer the original stores but never reads,
dropped); scale multiplies the tensor. Shapes differ only by singleton dimensions
(rosinality's leading 1 on conv weights, [1, 3, 1, 1] biases, [1, 1, R, R] noises); they are
reshaped when the non-singleton sizes agree, refused otherwise.

rosinality's upsampling kernels carry the x4 gain of zero insertion; NVIDIA's filters are
normalised to sum 1 and get the gain at run time, hence the scale 1/4. Neither repo flips
anything: both apply a stored filter as a true convolution and feed the 3x3 weights of the
upsampling conv unflipped to a transposed convolution.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

from ganatomy.errors import CheckpointError, GanatomyError

Target = Callable[[dict[str, str], int], str | None]
KeyRule = tuple[str, Target, float]


def _same(g: dict[str, str], _res: int) -> str:
    return g["key"]


def _dropped(_g: dict[str, str], _res: int) -> None:
    return None


def _fixed(name: str) -> Target:
    return lambda _g, _res: name


def _res_of_pair(index: str) -> int:
    """rosinality's convs.{2k}, convs.{2k+1} and to_rgbs.{k} work at 2^(k+3)."""
    return 2 ** (int(index) // 2 + 3)


def _conv_layer(g: dict[str, str]) -> str:
    j = int(g["j"])
    return f"synthesis.b{_res_of_pair(g['j'])}.conv{j % 2}"


def _noise_layer(i: int) -> str:
    """rosinality's noises.noise_0 is b4.conv1's; noise_{2k+1} / noise_{2k+2} are conv0 / conv1 at 2^(k+3)."""
    if i == 0:
        return "synthesis.b4.conv1"
    return f"synthesis.b{2 ** ((i - 1) // 2 + 3)}.conv{(i - 1) % 2}"


def _d_block(g: dict[str, str], res: int) -> int:
    """rosinality's D convs.{j} (j >= 1) is the residual block at res / 2^(j-1)."""
    return res // 2 ** (int(g["j"]) - 1)


NVIDIA_G_KEYS: list[KeyRule] = [
    (r"synthesis\.b4\.resample_filter", _dropped, 1.0),  # the 4x4 block has no image to upsample
    (r"synthesis\.b\d+\.conv1\.resample_filter", _dropped, 1.0),  # conv1 does not resample
    (r"(?P<key>(mapping|synthesis)\..+)", _same, 1.0),
]

NVIDIA_D_KEYS: list[KeyRule] = [
    (r"b\d+\.resample_filter", _dropped, 1.0),  # read only by the 'skip' D
    (r"b\d+\.(fromrgb|conv0)\.resample_filter", _dropped, 1.0),  # layers that do not resample
    (r"b4\.conv\.resample_filter", _dropped, 1.0),
    (r"b4\.out\.(?P<p>weight|bias)", lambda g, _r: f"heads.adv.out.{g['p']}", 1.0),
    (r"mapping\.(?P<rest>.+)", lambda g, _r: f"heads.adv.mapping.{g['rest']}", 1.0),
    (r"(?P<key>b\d+\..+)", lambda g, _r: f"trunk.{g['key']}", 1.0),
]

ROSINALITY_G_KEYS: list[KeyRule] = [
    (r"style\.(?P<i>\d+)\.(?P<p>weight|bias)", lambda g, _r: f"mapping.fc{int(g['i']) - 1}.{g['p']}", 1.0),
    (r"input\.input", _fixed("synthesis.b4.const"), 1.0),
    (r"conv1\.conv\.weight", _fixed("synthesis.b4.conv1.weight"), 1.0),
    (r"conv1\.conv\.modulation\.(?P<p>weight|bias)", lambda g, _r: f"synthesis.b4.conv1.affine.{g['p']}", 1.0),
    (r"conv1\.activate\.bias", _fixed("synthesis.b4.conv1.bias"), 1.0),
    (r"conv1\.noise\.weight", _fixed("synthesis.b4.conv1.noise_strength"), 1.0),
    (r"to_rgb1\.conv\.weight", _fixed("synthesis.b4.torgb.weight"), 1.0),
    (r"to_rgb1\.conv\.modulation\.(?P<p>weight|bias)", lambda g, _r: f"synthesis.b4.torgb.affine.{g['p']}", 1.0),
    (r"to_rgb1\.bias", _fixed("synthesis.b4.torgb.bias"), 1.0),
    (r"convs\.(?P<j>\d+)\.conv\.weight", lambda g, _r: f"{_conv_layer(g)}.weight", 1.0),
    (
        r"convs\.(?P<j>\d+)\.conv\.modulation\.(?P<p>weight|bias)",
        lambda g, _r: f"{_conv_layer(g)}.affine.{g['p']}",
        1.0,
    ),
    (r"convs\.(?P<j>\d+)\.activate\.bias", lambda g, _r: f"{_conv_layer(g)}.bias", 1.0),
    (r"convs\.(?P<j>\d+)\.noise\.weight", lambda g, _r: f"{_conv_layer(g)}.noise_strength", 1.0),
    (r"convs\.(?P<j>\d+)\.conv\.blur\.kernel", lambda g, _r: f"{_conv_layer(g)}.resample_filter", 0.25),
    (r"noises\.noise_(?P<i>\d+)", lambda g, _r: f"{_noise_layer(int(g['i']))}.noise_const", 1.0),
    (r"to_rgbs\.(?P<k>\d+)\.conv\.weight", lambda g, _r: f"synthesis.b{2 ** (int(g['k']) + 3)}.torgb.weight", 1.0),
    (
        r"to_rgbs\.(?P<k>\d+)\.conv\.modulation\.(?P<p>weight|bias)",
        lambda g, _r: f"synthesis.b{2 ** (int(g['k']) + 3)}.torgb.affine.{g['p']}",
        1.0,
    ),
    (r"to_rgbs\.(?P<k>\d+)\.bias", lambda g, _r: f"synthesis.b{2 ** (int(g['k']) + 3)}.torgb.bias", 1.0),
    (
        r"to_rgbs\.(?P<k>\d+)\.upsample\.kernel",
        lambda g, _r: f"synthesis.b{2 ** (int(g['k']) + 3)}.resample_filter",
        0.25,
    ),
]

ROSINALITY_D_KEYS: list[KeyRule] = [
    (r"convs\.0\.0\.weight", lambda _g, r: f"trunk.b{r}.fromrgb.weight", 1.0),
    (r"convs\.0\.1\.bias", lambda _g, r: f"trunk.b{r}.fromrgb.bias", 1.0),
    (r"convs\.(?P<j>\d+)\.conv1\.0\.weight", lambda g, r: f"trunk.b{_d_block(g, r)}.conv0.weight", 1.0),
    (r"convs\.(?P<j>\d+)\.conv1\.1\.bias", lambda g, r: f"trunk.b{_d_block(g, r)}.conv0.bias", 1.0),
    (r"convs\.(?P<j>\d+)\.conv2\.0\.kernel", lambda g, r: f"trunk.b{_d_block(g, r)}.conv1.resample_filter", 1.0),
    (r"convs\.(?P<j>\d+)\.conv2\.1\.weight", lambda g, r: f"trunk.b{_d_block(g, r)}.conv1.weight", 1.0),
    (r"convs\.(?P<j>\d+)\.conv2\.2\.bias", lambda g, r: f"trunk.b{_d_block(g, r)}.conv1.bias", 1.0),
    (r"convs\.(?P<j>\d+)\.skip\.0\.kernel", lambda g, r: f"trunk.b{_d_block(g, r)}.skip.resample_filter", 1.0),
    (r"convs\.(?P<j>\d+)\.skip\.1\.weight", lambda g, r: f"trunk.b{_d_block(g, r)}.skip.weight", 1.0),
    (r"final_conv\.0\.weight", _fixed("trunk.b4.conv.weight"), 1.0),
    (r"final_conv\.1\.bias", _fixed("trunk.b4.conv.bias"), 1.0),
    (r"final_linear\.0\.(?P<p>weight|bias)", lambda g, _r: f"trunk.b4.fc.{g['p']}", 1.0),
    (r"final_linear\.1\.(?P<p>weight|bias)", lambda g, _r: f"heads.adv.out.{g['p']}", 1.0),
]


def _non_singleton(shape: Sequence[int]) -> list[int]:
    return [d for d in shape if d != 1]


def map_state_dict(
    foreign: Mapping[str, torch.Tensor],
    rules: Sequence[KeyRule],
    expected: Mapping[str, torch.Tensor],
    img_resolution: int,
    source: str,
    provided: Mapping[str, torch.Tensor] | None = None,
) -> dict[str, torch.Tensor]:
    """``foreign`` renamed, rescaled and reshaped by ``rules`` into the keys and shapes of ``expected``
    (a freshly built model's state dict); ``provided`` fills keys the file lacks (e.g. w_avg).

    Every foreign key must match a rule and every expected key must be filled, else a one-line
    ``CheckpointError`` names the first offender.
    """
    compiled = [(re.compile(pattern), target, scale) for pattern, target, scale in rules]
    out: dict[str, torch.Tensor] = dict(provided or {})
    for key, tensor in foreign.items():
        match = next((m for m in ((rx.fullmatch(key), t, s) for rx, t, s in compiled) if m[0]), None)
        if match is None:
            raise CheckpointError(f"{source}: unexpected key {key!r}; the file is not a network of the expected kind")
        m, target_of, scale = match
        target = target_of(m.groupdict(), img_resolution)
        if target is None:
            continue
        if target not in expected:
            raise CheckpointError(
                f"{source}: key {key!r} maps to {target!r}, which the rebuilt network lacks "
                "(its resolution or layout differs from the file's)"
            )
        want = expected[target]
        if _non_singleton(tensor.shape) != _non_singleton(want.shape):
            raise CheckpointError(
                f"{source}: {key!r} has shape {list(tensor.shape)}, but {target!r} needs {list(want.shape)}"
            )
        value = tensor.detach().to(torch.float32).reshape(want.shape)
        out[target] = value * scale if scale != 1 else value.clone()
    missing = [k for k in expected if k not in out]
    if missing:
        raise CheckpointError(
            f"{source}: the file has no tensor for {missing[0]!r} "
            f"({len(missing)} missing); it is not a complete network of the expected kind"
        )
    return out


def build_and_load(
    cls: type[torch.nn.Module],
    config: Mapping[str, Any],
    foreign: Mapping[str, torch.Tensor],
    rules: Sequence[KeyRule],
    source: str,
    provided: Mapping[str, torch.Tensor] | None = None,
) -> Any:
    """``cls(**config)`` in eval mode, holding ``foreign`` mapped by ``rules``; one-line errors name ``source``."""
    try:
        model = cls(**config)
    except GanatomyError as e:
        raise CheckpointError(f"{source}: {e}") from None
    model.load_state_dict(map_state_dict(foreign, rules, model.state_dict(), model.img_resolution, source, provided))
    return model.eval()
