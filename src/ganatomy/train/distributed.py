"""Gradient and parameter synchronisation across processes (no-ops in one process).

GAN phases use parameters unevenly (D's parameters get gradients in the G step but are not
stepped; lazy regularisers run on some steps only), which trips DDP's bookkeeping. As in
stylegan3, we therefore all-reduce the gradients ourselves, once per optimizer step, as one flat
tensor; Accelerate provides the process group and the launch (`accelerate launch`, torchrun).
"""

from __future__ import annotations

import hashlib

import torch
from accelerate import Accelerator
from accelerate.utils import broadcast


def sync_gradients(module: torch.nn.Module, accelerator: Accelerator) -> None:
    """Average the gradients of ``module`` over all processes (missing grads count as zero)."""
    if accelerator.num_processes == 1:
        return
    params = [p for p in module.parameters() if p.requires_grad]
    if not params:
        return
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    flat = torch.cat([p.grad.flatten() for p in params])
    flat = accelerator.reduce(flat, reduction="mean")
    offset = 0
    for p in params:
        n = p.numel()
        p.grad.copy_(flat[offset : offset + n].view_as(p))
        offset += n


@torch.no_grad()
def sync_buffers(module: torch.nn.Module, accelerator: Accelerator) -> None:
    """Average floating-point buffers (e.g. StyleGAN2's running w_avg) over all processes."""
    if accelerator.num_processes == 1:
        return
    for b in module.buffers():
        if b.is_floating_point():
            b.copy_(accelerator.reduce(b.detach().clone(), reduction="mean"))


@torch.no_grad()
def broadcast_module(module: torch.nn.Module, accelerator: Accelerator) -> None:
    """Copy rank 0's parameters and buffers to every process."""
    if accelerator.num_processes == 1:
        return
    for t in list(module.parameters()) + list(module.buffers()):
        t.copy_(broadcast(t.detach().clone(), from_process=0))


def module_digest(module: torch.nn.Module) -> str:
    """SHA-256 of a module's parameters and buffers, bit for bit."""
    h = hashlib.sha256()
    for name, t in list(module.named_parameters()) + list(module.named_buffers()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def gather_digests(module: torch.nn.Module, accelerator: Accelerator) -> list[str]:
    """Every process's ``module_digest``, in rank order (stylegan3's DDP consistency check)."""
    digest = module_digest(module)
    if accelerator.num_processes == 1:
        return [digest]
    from accelerate.utils import gather_object

    return list(gather_object([digest]))
