"""``ganatomy invert``: real images to latents of a generator.

``invert train --network NET --outdir DIR`` trains the encoder (or prepares the optimisation, ``--method
optimize``, for a generator without W); ``invert --encoder DIR --images FOLDER`` writes the latents,
a side-by-side sheet of inputs and reconstructions, and the reconstruction quality.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console

from ganatomy.cli.options import DEVICE_OPTION, resolve_device, set_threads

invert_app = typer.Typer(
    name="invert",
    help="GAN inversion: train an encoder (or set up optimisation), then invert image folders.",
    add_completion=False,
    invoke_without_command=True,
)


@invert_app.callback()
def invert(
    ctx: typer.Context,
    encoder: Path | None = typer.Option(None, help="An inversion directory made by 'ganatomy invert train'."),
    images: Path | None = typer.Option(None, help="An image folder or zip of the generator's size."),
    out: Path | None = typer.Option(None, help="Where the results go (default: ENCODER/inverted-<folder>)."),
    refine_steps: int | None = typer.Option(None, help="Per-image optimisation steps (default: the directory's)."),
    network: str | None = typer.Option(None, help="The generator (default: the one it was trained on)."),
    limit: int = typer.Option(64, help="Pairs on the side-by-side sheet."),
    threads: int | None = typer.Option(None, help="torch threads."),
    device: str = DEVICE_OPTION,
) -> None:
    """Invert an image folder: latents.npy, reconstruction.png (input | reconstruction) and quality.json."""
    from ganatomy.errors import OptionsError

    if ctx.invoked_subcommand is not None:
        # These options belong to the inversion itself: before a subcommand they would be ignored.
        given = [name for name in ctx.params if ctx.get_parameter_source(name).name != "DEFAULT"]
        if given:
            flags = ", ".join("--" + name.replace("_", "-") for name in given)
            raise OptionsError(f"{flags}: put the options of '{ctx.invoked_subcommand}' after it")
        return

    device = resolve_device(device)
    if encoder is None or images is None:
        raise OptionsError("give --encoder DIR and --images FOLDER (or run 'ganatomy invert train')")
    if refine_steps is not None and refine_steps < 0:
        raise OptionsError(f"--refine-steps must be >= 0, got {refine_steps}")
    if limit < 1:
        raise OptionsError(f"--limit must be >= 1, got {limit}")
    set_threads(threads)
    summary = invert_folder(encoder, images, out, refine_steps, network, limit, device)
    Console().print(json.dumps(summary))


def invert_folder(
    encoder: Path,
    images: Path,
    out: Path | None,
    refine_steps: int | None,
    network: str | None,
    limit: int,
    device: str = "cpu",
) -> dict:
    import numpy as np

    from ganatomy.data.folder import ImageFolderDataset
    from ganatomy.invert.images import generator_images
    from ganatomy.invert.quality import reconstruction_quality
    from ganatomy.invert.run import open_inverter
    from ganatomy.invert.sheet import side_by_side_sheet
    from ganatomy.utils.atomic import atomic_path, atomic_write_text, check_output_dir

    inverter, G, name = open_inverter(encoder, network, device)
    if refine_steps is not None:
        inverter.set_params(refine_steps=refine_steps)
    data = ImageFolderDataset(images, mode="rgb" if G.img_channels == 3 else "grey")
    out = check_output_dir(out or encoder / f"inverted-{data.name}", "--out")
    x = generator_images(data.images, G, str(images))
    latents, recon = inverter.reconstruct(x, G)
    with atomic_path(out / "latents.npy") as tmp, open(tmp, "wb") as f:
        np.save(f, latents.numpy())  # a file object: np.save would add ".npy" to the temporary's name
    side_by_side_sheet(out / "reconstruction.png", x[:limit], recon[:limit])
    world = getattr(inverter, "perceptual", "none") == "oracle" or getattr(inverter, "backbone", "") == "oracle"
    oracle = None
    if world:
        from ganatomy.directions.oracle_access import world_oracle

        oracle = world_oracle(G.img_resolution)
    quality = reconstruction_quality(x, recon, oracle).to_dict()
    summary = {"network": name, "images": len(x), "space": inverter.space_, **quality, "out": str(out)}
    atomic_write_text(out / "quality.json", json.dumps(summary, indent=2) + "\n")
    atomic_write_text(out / "files.txt", "\n".join(data.relpaths) + "\n")
    return summary


@invert_app.command("train")
def train(
    network: str = typer.Option(..., help="A zoo name (world32-stylegan2, digiface-dcgan64) or a snapshot."),
    outdir: Path = typer.Option(..., help="The inversion directory to write (invert.json, inverter.safetensors)."),
    method: str = typer.Option("encoder", help="encoder, or optimize (per-image optimisation only, e.g. in Z)."),
    space: str = typer.Option("auto", help="w, w+, z or auto (W where the generator has it, else Z)."),
    steps: int = typer.Option(2000, help="encoder: training steps."),
    batch: int = typer.Option(64, help="encoder: pairs per step."),
    lr: float = typer.Option(3e-3, help="encoder: peak learning rate."),
    pairs: int = typer.Option(8192, help="encoder: generated (image, latent) pairs to train on."),
    image_weight: float = typer.Option(0.0, help="encoder: weight of the image reconstruction loss (slow on CPU)."),
    perceptual: str = typer.Option("oracle", help="oracle (world-oracle features) or none: the perceptual term."),
    backbone: str = typer.Option("auto", help="encoder: conv, oracle, or auto (oracle when --perceptual oracle)."),
    refine_steps: int | None = typer.Option(None, help="Per-image optimisation steps (encoder 0, optimize 200)."),
    seed: int = typer.Option(0, help="Seed of the pairs, initialisation and restarts."),
    resume: bool = typer.Option(False, help="Continue the encoder training in OUTDIR from its checkpoint."),
    threads: int | None = typer.Option(None, help="torch threads."),
    progress: bool = typer.Option(True, help="Show a progress bar."),
    device: str = DEVICE_OPTION,
) -> None:
    """Train an inversion encoder on the generator's own pairs (or set up optimisation) into OUTDIR."""
    from ganatomy.errors import OptionsError
    from ganatomy.invert import EncoderInverter, OptimizationInverter
    from ganatomy.invert.run import save_inverter
    from ganatomy.nets.load import load_generator
    from ganatomy.utils.atomic import check_output_dir

    device = resolve_device(device)
    set_threads(threads)
    check_output_dir(outdir, "--outdir")
    G = load_generator(network, device=device)
    if method == "encoder":
        chosen = ("oracle" if perceptual == "oracle" else "conv") if backbone == "auto" else backbone
        inverter = EncoderInverter(
            space=space if space != "auto" else "w" if "w" in G.latent_spaces else "z",
            steps=steps,
            batch_size=batch,
            lr=lr,
            n_pairs=pairs,
            image_weight=image_weight,
            perceptual=perceptual,
            backbone=chosen,
            refine_steps=0 if refine_steps is None else refine_steps,
            seed=seed,
        ).fit(G, name=network, run_dir=outdir, resume=resume, checkpoint_every=max(1, steps // 10), progress=progress)
    elif method == "optimize":
        inverter = OptimizationInverter(
            space=space, refine_steps=200 if refine_steps is None else refine_steps, perceptual=perceptual, seed=seed
        ).fit(G, name=network)
    else:
        raise OptionsError(f"--method must be encoder or optimize, got {method!r}")
    save_inverter(outdir, inverter, network)
    Console().print(f"wrote {outdir}")


def register(app: typer.Typer) -> None:
    app.add_typer(invert_app, name="invert")
