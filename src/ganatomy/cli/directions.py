"""``ganatomy directions``: find interpretable latent directions and look at them.

``fit`` runs Voynov & Babenko (or GANSpace, SeFa, InterFaceGAN) into a run directory
(options.json, stats, checkpoint, directions file; ``--resume DIR`` continues a run);
``show DIR`` draws one grid and one GIF per direction.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import shutil
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from ganatomy.cli.options import DEVICE_OPTION, resolve_device, set_threads

directions_app = typer.Typer(
    name="directions",
    help="Interpretable latent directions: fit them (Voynov & Babenko, GANSpace, SeFa, InterFaceGAN) and show them.",
    no_args_is_help=True,
    add_completion=False,
)


@directions_app.command("fit")
def fit(
    network: str | None = typer.Option(None, help="A zoo name (world32-stylegan2, digiface-dcgan64) or a snapshot."),
    method: str = typer.Option("voynov", help="voynov, ganspace, sefa or interfacegan."),
    outdir: Path = typer.Option(Path("runs"), help="Where the numbered run directory is made."),
    k: int | None = typer.Option(None, "--k", help="Number of directions (voynov default: the latent size; else 10)."),
    space: str = typer.Option("auto", help="z, w, w+ or auto (W where the generator has it)."),
    layers: str | None = typer.Option(
        None,
        help="W+ rows the directions move, e.g. 0-3, or a style-mixing range: coarse, middle or fine (the first, "
        "middle or last third of the rows; pose lives in the coarse rows, colour in the fine ones). Needs --space w+.",
    ),
    deformator: str = typer.Option("ortho", help="voynov: ortho, proj, linear, coordinate or random."),
    steps: int = typer.Option(2000, help="voynov: training steps."),
    batch: int = typer.Option(32, help="voynov: pairs per step."),
    lr: float = typer.Option(1e-4, help="voynov: Adam learning rate."),
    final_lr: float = typer.Option(
        1.0,
        help="voynov: the learning rate's factor at the last step, reached along a cosine (1: constant, as the paper).",
    ),
    gain: float = typer.Option(1.0, help="voynov: the deformator learns this many times faster than R."),
    shift_range: float = typer.Option(6.0, help="voynov: shifts in [-E, E] (latent std units)."),
    min_shift: float = typer.Option(0.5, help="voynov: smallest |shift|."),
    samples: int = typer.Option(10_000, help="ganspace/interfacegan: latents drawn."),
    feature: str | None = typer.Option(None, help="ganspace: PCA of this feature map instead of W."),
    attributes: str | None = typer.Option(None, help="interfacegan: comma-separated world factors (default: all)."),
    seed: int = typer.Option(0, help="Seed of initialisation and samples."),
    resume: Path | None = typer.Option(None, help="Continue this run directory with its own options.json."),
    dry_run: bool = typer.Option(False, help="Print the options and exit."),
    threads: int | None = typer.Option(None, help="torch threads."),
    progress: bool = typer.Option(True, help="Show a progress bar."),
    device: str = DEVICE_OPTION,
) -> None:
    """Fit directions on a generator into a run directory."""
    from ganatomy.directions.run import (
        DirectionsFitOptions,
        fit_run,
        parse_layers,
        read_run_options,
    )
    from ganatomy.errors import GanatomyError, OptionsError
    from ganatomy.fit.trainer import CHECKPOINT_FILE
    from ganatomy.runs.options import options_from_dict, options_json
    from ganatomy.runs.rundir import make_run_dir

    device = resolve_device(device)
    set_threads(threads)
    console = Console()
    if resume is not None:
        options = read_run_options(resume)
    else:
        if network is None:
            raise OptionsError("--network is required (or --resume RUN_DIR)")
        values = {
            "network": network,
            "method": method,
            "n_directions": k,
            "space": space,
            **_rows_or_group(parse_layers(layers)),
            "deformator": deformator,
            "steps": steps,
            "batch_size": batch,
            "lr": lr,
            "final_lr": final_lr,
            "deformator_gain": gain,
            "shift_range": shift_range,
            "min_shift": min_shift,
            "n_samples": samples,
            "feature": feature,
            "seed": seed,
            "attributes": None if attributes is None else [a.strip() for a in attributes.split(",") if a.strip()],
        }
        options = options_from_dict(DirectionsFitOptions, values)
    if dry_run:
        print(options_json(options), end="")
        return
    name = Path(options.network).stem if Path(options.network).suffix else options.network
    made_outdir = resume is None and not outdir.exists()
    run_dir = resume or make_run_dir(outdir, "directions", options.method, name)
    try:
        summary = fit_run(options, run_dir, resume=resume is not None, progress=progress, device=device)
    except GanatomyError:
        if resume is None and not (run_dir / CHECKPOINT_FILE).exists():  # refused before anything resumable
            shutil.rmtree(run_dir, ignore_errors=True)
            if made_outdir:
                with contextlib.suppress(OSError):
                    outdir.rmdir()  # only if empty
        raise
    console.print(json.dumps(summary, default=str))
    console.print(f"wrote {run_dir}")


@directions_app.command("show")
def show(
    run: Path = typer.Argument(..., help="A directions run directory (or a directions file with --network)."),
    network: str | None = typer.Option(None, help="The generator (default: the run's own)."),
    seeds: str = typer.Option("0-4", help="Rows of the grids: one seed each."),
    shifts: int = typer.Option(7, help="Columns of the grids: shifts evenly from -E to E."),
    shift_range: float | None = typer.Option(None, help="E (default: the run's training range, else 3)."),
    indices: str | None = typer.Option(None, help="Directions to draw, e.g. 0-9 (default: all, at most 32)."),
    out: Path | None = typer.Option(None, help="Folder of the pictures (default: RUN/show)."),
    device: str = DEVICE_OPTION,
) -> None:
    """One grid (rows: seeds, columns: shifts) and one animated GIF strip per direction."""
    import numpy as np

    from ganatomy.directions.io import load
    from ganatomy.directions.run import OPTIONS_FILE, read_run_options
    from ganatomy.directions.show import write_direction_pictures
    from ganatomy.errors import OptionsError
    from ganatomy.nets.load import load_generator
    from ganatomy.utils.atomic import check_output_dir
    from ganatomy.utils.seeds import parse_seeds

    device = resolve_device(device)
    if out is not None:
        check_output_dir(out, "--out")
    options = read_run_options(run) if (run / OPTIONS_FILE).is_file() else None
    network = network or (options.network if options else None)
    if network is None:
        raise OptionsError(f"{run}: no options.json to name the generator; pass --network")
    if shifts < 2:
        raise OptionsError(f"--shifts must be >= 2, got {shifts}")
    G = load_generator(network, device=device)
    directions = load(run, G)
    E = shift_range or float(directions.meta.get("shift_range", 3.0))
    if not E > 0:
        raise OptionsError(f"--shift-range must be > 0, got {E}")
    chosen = parse_seeds(indices) if indices else list(range(min(len(directions), 32)))
    bad = [i for i in chosen if not 0 <= i < len(directions)]
    if bad:
        raise OptionsError(f"--indices: {bad[0]} is out of range for {len(directions)} directions")
    written = write_direction_pictures(
        G,
        directions,
        out or (run if run.is_dir() else run.parent) / "show",
        parse_seeds(seeds),
        np.linspace(-E, E, shifts).tolist(),
        chosen,
        progress=True,
    )
    Console().print(f"wrote {len(written)} pictures to {written[0].parent}")


@directions_app.command("saliency")
def saliency(
    network: str = typer.Option(..., help="The generator (a zoo name or a snapshot)."),
    directions: Path | None = typer.Option(
        None, help="A directions run or file to take the background direction from (default: fit SeFa, K=20)."
    ),
    index: int | None = typer.Option(None, help="The background direction's index (default: chosen automatically)."),
    choose: str | None = typer.Option(
        None,
        help="How to choose it without --index: 'oracle' (the masks' IoU with the world oracle's foreground; "
        "the default when the network's name says world) or 'masks' (no labels, any generator: the direction "
        "whose change maps split most cleanly into masks within the cover limits).",
    ),
    pairs: int = typer.Option(3000, help="Generated (image, mask) pairs to draw (masks covering 5-50% are kept)."),
    shift: float = typer.Option(3.0, help="Shift along the direction, in latent std units."),
    steps: int = typer.Option(1500, help="U-Net training steps."),
    world_eval: bool | None = typer.Option(
        None,
        "--world-eval/--no-world-eval",
        help="Score the U-Net on held-out real world images (default: when the network's name says world).",
    ),
    upper: bool = typer.Option(True, help="With --world-eval, also train the U-Net on true masks (upper bound)."),
    outdir: Path = typer.Option(Path("runs/saliency"), help="Where pairs.png, segmenter.safetensors, scores go."),
    seed: int = typer.Option(0, help="Seed of the pairs and of the U-Net."),
    threads: int | None = typer.Option(None, help="torch threads."),
    device: str = DEVICE_OPTION,
) -> None:
    """Voynov & Babenko's saliency: masks from the background direction, a U-Net trained on them, its scores."""

    from ganatomy.directions import SeFaDirections
    from ganatomy.directions.io import load
    from ganatomy.directions.saliency import (
        SaliencySegmenter,
        choose_background_direction,
        saliency_pairs,
        world_saliency_scores,
        write_pairs_sheet,
    )
    from ganatomy.errors import OptionsError
    from ganatomy.nets.load import load_generator
    from ganatomy.utils.atomic import atomic_write_text, check_output_dir

    device = resolve_device(device)
    set_threads(threads)
    check_output_dir(outdir, "--outdir")
    if pairs < 2 or steps < 1:
        raise OptionsError(f"--pairs and --steps must be >= 2 and >= 1, got {pairs} and {steps}")
    if not 0 < shift < math.inf:
        raise OptionsError(f"--shift must be a finite number > 0, got {shift}")
    if index is not None and index < 0:
        raise OptionsError(f"--index must be >= 0, got {index}")
    console = Console()
    G = load_generator(network, device=device)
    found = load(directions, G) if directions is not None else SeFaDirections(n_directions=20).fit(G).directions_
    report: dict = {"network": network, "directions": str(directions) if directions else "sefa (K=20)"}
    if index is None:
        rule = choose or ("oracle" if "world" in network else "masks")
        choice = choose_background_direction(G, found, shift=shift, seed=seed, rule=rule)
        index = choice.index
        report["choice"] = dataclasses.asdict(choice)
        console.print(f"background {choice.describe()}")
    images, masks, kept = saliency_pairs(G, found, index, n=pairs, shift=shift, seed=seed)
    report.update(index=index, pairs=len(images), kept_share=kept)
    console.print(f"{len(images)} pairs kept of {pairs} ({kept:.0%}); training the U-Net")
    write_pairs_sheet(outdir / "pairs.png", images, masks)  # before the fit: something to look at meanwhile
    segmenter = SaliencySegmenter(steps=steps, seed=seed, device=device).fit(images, masks, progress=True)
    segmenter.save(outdir / "segmenter.safetensors")
    if world_eval if world_eval is not None else "world" in network:
        report["world"] = world_saliency_scores(segmenter, upper_steps=steps if upper else None)
        console.print(json.dumps(report["world"]))
    atomic_write_text(outdir / "saliency.json", json.dumps(report, indent=2, default=float) + "\n")
    console.print(f"wrote {outdir} (pairs.png, segmenter.safetensors, saliency.json)")


@directions_app.command("saliency-predict")
def saliency_predict(
    model: Path = typer.Option(..., help="A saliency run directory (or its segmenter.safetensors)."),
    images: Path = typer.Option(..., help="A folder or zip of images at the segmenter's resolution."),
    outdir: Path = typer.Option(Path("runs/saliency-predict"), help="Where the masks and the overlay grid go."),
    threads: int | None = typer.Option(None, help="torch threads."),
    device: str = DEVICE_OPTION,
) -> None:
    """Foreground masks of your own images: one PNG mask per image and a grid of image, mask, overlay."""
    import numpy as np

    from ganatomy.data.folder import ImageFolderDataset
    from ganatomy.directions.saliency import SaliencySegmenter
    from ganatomy.utils.atomic import check_output_dir
    from ganatomy.utils.images import grid_array, save_png, to_uint8

    device = resolve_device(device)
    set_threads(threads)
    check_output_dir(outdir, "--outdir")
    segmenter = SaliencySegmenter.load(model / "segmenter.safetensors" if model.is_dir() else model)
    segmenter.model_.to(device)
    data = ImageFolderDataset(images, mode="rgb" if segmenter.model_.in_channels == 3 else "grey")
    pixels = data.get_images(np.arange(len(data)))
    masks = segmenter.predict(pixels)
    masks_dir = outdir / "masks"
    masks_dir.mkdir(parents=True, exist_ok=True)
    for rel, mask in zip(data.relpaths, masks):
        save_png(masks_dir / (Path(rel).stem + ".png"), mask.astype(np.uint8) * 255)
    shown = to_uint8(pixels[:16].float() / 127.5 - 1)
    white = (masks[:16, :, :, None].repeat(3, axis=3) * 255).astype(np.uint8)
    overlay = np.where(masks[:16, :, :, None], shown, shown // 4)
    save_png(outdir / "masks.png", grid_array(np.concatenate([shown, white, overlay]), ncols=len(shown)))
    Console().print(f"wrote {len(masks)} masks to {masks_dir} and a grid to {outdir / 'masks.png'}")


def register(app: typer.Typer) -> None:
    app.add_typer(directions_app, name="directions")


def _rows_or_group(parsed: list[int] | str | None) -> dict[str, Any]:
    """The options' ``layers`` (W+ rows) or ``layer_group`` (a range's name) from ``parse_layers``."""
    return {"layer_group": parsed} if isinstance(parsed, str) else {"layers": parsed}
