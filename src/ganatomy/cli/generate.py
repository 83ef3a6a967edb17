"""``ganatomy generate``: images from a trained network or a zoo model, one PNG per seed plus a grid."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from ganatomy.cli.options import DEVICE_OPTION, resolve_device


def generate(
    network: str = typer.Option(
        ..., help="A network snapshot (.safetensors), a training checkpoint, or a zoo name (digiface-dcgan64)."
    ),
    seeds: str = typer.Option("0-63", help="Seeds, e.g. 0-63 or 1,5,7: one image each."),
    trunc: float = typer.Option(
        1.0, help="Truncation psi (1: none; 0.7 trades diversity for quality). Needs a W space."
    ),
    classes: str | None = typer.Option(
        None,
        "--class",
        help="For a conditional network: a class index or name (e.g. bun), a comma list, or all; "
        "one grid row per class.",
    ),
    outdir: Path = typer.Option(..., help="Where the PNGs and grid.png go."),
    batch: int = typer.Option(32, help="Images per forward pass."),
    device: str = DEVICE_OPTION,
) -> None:
    """Generate one PNG per seed (seedNNNN.png) and a grid of all of them (grid.png)."""
    from ganatomy.generate import (
        check_generate_args,
        generate_class_rows,
        generate_images,
        network_class_names,
        parse_classes,
        parse_image_seeds,
        write_class_rows,
        write_images,
    )
    from ganatomy.nets.load import load_generator
    from ganatomy.utils.atomic import check_output_dir

    # The cheap checks first: a typo fails before the network is loaded.
    seed_list = parse_image_seeds(seeds)
    check_generate_args(trunc, batch)
    check_output_dir(outdir, "--outdir")
    G = load_generator(network, device=resolve_device(device))
    names = network_class_names(network) if classes is not None else None
    names = names if names and len(names) == G.c_dim else None
    class_list = parse_classes(classes, G.c_dim, names) if classes is not None else [None]
    if len(class_list) == 1:  # one class (or none): seedNNNN.png, as for an unconditional network
        images = generate_images(G, seed_list, trunc=trunc, class_idx=class_list[0], batch=batch)
        write_images(outdir, seed_list, images)
    else:
        images = generate_class_rows(G, seed_list, class_list, trunc=trunc, batch=batch)
        write_class_rows(outdir, seed_list, class_list, images, names)
    Console().print(f"wrote {len(images)} images and grid.png to {outdir}")


def register(app: typer.Typer) -> None:
    app.command("generate")(generate)
