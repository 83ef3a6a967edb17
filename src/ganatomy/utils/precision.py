"""Whether bf16 autocast pays on a device.

bf16 autocast is 1.5-2.5x faster than float32 where the hardware computes in bf16 (CPUs with
avx512_bf16 or AMX, e.g. AMD Zen 4 and Intel Sapphire Rapids, when the hypervisor exposes the
flags; CUDA GPUs from Ampere on) and about 4x *slower* where it does not: oneDNN then emulates it
(an Intel Xeon whose hypervisor hides avx512_bf16: 55 GFLOP/s in bf16 against 219 in float32 for
a 3x3 convolution on 2 cores). ``"auto"``, the default of every bf16 switch in ganatomy, therefore
takes bf16 only where it is native.
"""

from __future__ import annotations

import torch

from ganatomy.errors import OptionsError

AUTO = "auto"


def native_bf16(device: str | torch.device = "cpu") -> bool:
    """True where ``device`` computes bf16 in hardware (so autocast to bf16 is faster than float32)."""
    device = torch.device(device)
    if device.type == "cuda":
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    if device.type == "cpu":
        get_capabilities = getattr(torch.cpu, "get_capabilities", None)
        capabilities = get_capabilities() if get_capabilities is not None else {}
        return bool(capabilities.get("avx512_bf16") or capabilities.get("amx_bf16"))
    return False


def use_bf16(setting: bool | str | None, device: str | torch.device = "cpu") -> bool:
    """A bf16 switch's value: True / False as given, ``"auto"`` (or None) as :func:`native_bf16`."""
    if setting is None or setting == AUTO:
        return native_bf16(device)
    if isinstance(setting, bool):
        return setting
    raise OptionsError(f"bf16 must be true, false or 'auto', got {setting!r}")


def resolve_precision(precision: str, device: str | torch.device = "cpu") -> str:
    """``"auto"`` -> ``"bf16"`` where bf16 is native on ``device``, else ``"fp32"``; others unchanged."""
    if precision == AUTO:
        return "bf16" if native_bf16(device) else "fp32"
    return precision
