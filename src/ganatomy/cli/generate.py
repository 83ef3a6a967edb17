"""``ganatomy generate``: images from a trained network or a zoo model, one PNG per seed plus a grid."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console


def generate(
    network: str = typer.Option(..., help="A network snapshot (.safetensors), a training checkpoint, or a zoo name (digiface-dcgan64)."),
    seeds: str = typer.Option("0-63", help="Seeds, e.g. 0-63 or 1,5,7: one image each."),
    trunc: float = typer.Option(1.0, help="Truncation psi (1: none; 0.7 trades diversity for quality). Needs a W space."),
    class_idx: Optional[int] = typer.Option(None, "--class", help="Class index for a conditional network."),
    outdir: Path = typer.Option(..., help="Where the PNGs and grid.png go."),
    batch: int = typer.Option(32, help="Images per forward pass."),
) -> None:
    """Generate one PNG per seed (seedNNNN.png) and a grid of all of them (grid.png)."""
    import torch

    from ganatomy.errors import OptionsError
    from ganatomy.train.state import load_generator
    from ganatomy.utils.images import save_image_grid, save_png, to_uint8
    from ganatomy.utils.seeds import parse_seeds

    seed_list = parse_seeds(seeds)
    G = load_generator(network)
    if trunc != 1.0 and "w" not in G.latent_spaces:
        raise OptionsError(f"--trunc needs a W space; {G.kind} has {G.latent_spaces}")
    if G.c_dim and class_idx is None:
        raise OptionsError(f"this network is conditional ({G.c_dim} classes): pass --class 0..{G.c_dim - 1}")
    if class_idx is not None and not 0 <= class_idx < G.c_dim:
        raise OptionsError(f"--class {class_idx}: the network has {G.c_dim} classes")
    outdir.mkdir(parents=True, exist_ok=True)
    images = []
    with torch.no_grad():
        for start in range(0, len(seed_list), batch):
            chunk = seed_list[start : start + batch]
            z = torch.cat([G.sample_latents(1, seed=s) for s in chunk])
            c = torch.full((len(chunk),), class_idx, dtype=torch.long) if G.c_dim else None
            kwargs = {"truncation_psi": trunc} if trunc != 1.0 else {}
            latents = G.to_space(z, "w+", c=c, **kwargs) if "w+" in G.latent_spaces else z
            space = "w+" if "w+" in G.latent_spaces else "z"
            images.append(G.synthesize(latents, space, c=c).clamp(-1, 1))
    images_t = torch.cat(images)
    arrays = to_uint8(images_t)
    for s, a in zip(seed_list, arrays):
        save_png(outdir / f"seed{s:04d}.png", a)
    save_image_grid(outdir / "grid.png", arrays)
    Console().print(f"wrote {len(seed_list)} images and grid.png to {outdir}")


def register(app: typer.Typer) -> None:
    app.command("generate")(generate)
