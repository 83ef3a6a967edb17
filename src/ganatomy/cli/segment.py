"""``ganatomy segment``: KLiSH semantic parts without labels.

``fit`` clusters a generator's features into a run directory (estimator.safetensors, summary.json);
``show DIR`` draws masks at several K and a GIF of the merge; ``synth`` writes (image, mask) pairs;
``train`` fits a U-Net on such pairs; ``predict`` segments a folder of real images with it;
``m2i train`` fits the SPADE mask-to-image generator on the pairs, ``m2i generate`` draws images
for a folder of masks.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console

from ganatomy.cli.options import DEVICE_OPTION, resolve_device, set_threads

segment_app = typer.Typer(
    name="segment",
    help="Semantic parts without labels (KLiSH): fit, show, synthetic pairs, a segmenter for real images.",
    no_args_is_help=True,
    add_completion=False,
)
m2i_app = typer.Typer(
    name="m2i",
    help="Mask-to-image synthesis (SPADE) trained on KLiSH's (image, mask) pairs.",
    no_args_is_help=True,
    add_completion=False,
)
segment_app.add_typer(m2i_app, name="m2i")
ESTIMATOR_FILE = "estimator.safetensors"
SEGMENTER_FILE = "segmenter.safetensors"


def _load_run(run: Path, network: str | None, device: str):
    from ganatomy.errors import OptionsError
    from ganatomy.nets.load import load_generator
    from ganatomy.segment import KLiSH

    path = run / ESTIMATOR_FILE if run.is_dir() else run
    est = KLiSH.load(path)
    name = network or (est.generator_ or {}).get("name")
    if name is None:
        raise OptionsError(f"{run}: the estimator does not name its generator; pass --network")
    G = load_generator(name, device=device)
    est.check_same_generator(G)
    return est, G


@segment_app.command("fit")
def fit(
    network: str = typer.Option(..., help="A zoo name (world32-stylegan2, digiface-dcgan64) or a snapshot."),
    outdir: Path = typer.Option(Path("runs"), help="Where the numbered run directory is made."),
    k0: int = typer.Option(100, "--k0", help="Initial k-means clusters."),
    samples: int = typer.Option(256, help="Images whose pixels are clustered."),
    trunc: float = typer.Option(0.7, help="Truncation psi in W (ignored without W)."),
    seed: int = typer.Option(0, help="Seed of images, pixel sample and k-means."),
    device: str = DEVICE_OPTION,
    threads: int | None = typer.Option(None, help="torch threads."),
) -> None:
    """Fit KLiSH on a generator: the full merge tree from K0 clusters down to one."""
    from ganatomy.nets.load import load_generator
    from ganatomy.runs.rundir import make_run_dir
    from ganatomy.segment import KLiSH

    device = resolve_device(device)
    set_threads(threads)
    G = load_generator(network, device=device)
    est = KLiSH(n_init_clusters=k0, n_samples=samples, truncation_psi=trunc, seed=seed, device=device, progress=True)
    est.fit(G, name=network)
    est.set_params(progress=False)
    name = Path(network).stem if Path(network).suffix else network
    run_dir = make_run_dir(outdir, "segment", "klish", name)
    est.save(run_dir / ESTIMATOR_FILE)
    summary = {
        "n_clusters_auto": est.n_clusters_auto_,
        "layers": est.layers_,
        "merge_seconds": est.merge_seconds_,
        "fit_seconds": est.fit_seconds_,
        "scores": {str(k): round(v, 4) for k, v in est.merge_tree_.scores().items()},
    }
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    Console().print(f"automatic K = {est.n_clusters_auto_}; merge {est.merge_seconds_:.1f} s; wrote {run_dir}")


def _levels(text: str, est) -> list[int]:
    from ganatomy.utils.seeds import parse_seeds

    levels = parse_seeds(text)
    for k in levels:
        est.merge_tree_.check_level(k)
    return levels


@segment_app.command("show")
def show(
    run: Path = typer.Argument(..., help="A segment run directory (or its estimator file)."),
    levels: str = typer.Option("", help="K values of the contact sheet, e.g. 6,12,20 (default: those and auto)."),
    images: int = typer.Option(6, help="Images per picture."),
    network: str | None = typer.Option(None, help="The generator (default: the run's own)."),
    out: Path | None = typer.Option(None, help="Folder of the pictures (default: RUN/show)."),
    device: str = DEVICE_OPTION,
) -> None:
    """Contact sheet of colour-coded masks at several K and a GIF of the merge from K0 down."""
    from ganatomy.errors import OptionsError
    from ganatomy.segment.show import write_segment_pictures
    from ganatomy.utils.atomic import check_output_dir

    device = resolve_device(device)
    if images < 1:
        raise OptionsError(f"--images must be >= 1, got {images}")
    if out is not None:
        check_output_dir(out, "--out")
    est, G = _load_run(run, network, device)
    chosen = (
        _levels(levels, est)
        if levels
        else sorted({k for k in (6, 12, 20, est.n_clusters_auto_) if k <= est.merge_tree_.n_leaves})
    )
    written = write_segment_pictures(est, G, out or (run if run.is_dir() else run.parent) / "show", chosen, images)
    Console().print(f"wrote {', '.join(str(p) for p in written)}")


@segment_app.command("synth")
def synth(
    run: Path = typer.Argument(..., help="A segment run directory."),
    out: Path = typer.Option(..., help="New dataset folder or .zip."),
    n: int = typer.Option(1000, help="Pairs to write."),
    k: int | None = typer.Option(None, "--k", help="Clusters (default: the automatic K)."),
    seed: int = typer.Option(1, help="Seed of the images."),
    device: str = DEVICE_OPTION,
) -> None:
    """Write (image, mask) pairs in the dataset format (PNG images, PNG masks, dataset.json)."""
    from rich.progress import Progress

    from ganatomy.errors import OptionsError
    from ganatomy.segment.synth import write_pairs

    device = resolve_device(device)
    if n < 1:
        raise OptionsError(f"--n must be >= 1, got {n}")
    est, G = _load_run(run, None, device)
    with Progress(transient=True) as bar:
        task = bar.add_task("pairs", total=n)
        write_pairs(est, G, out, n, k, seed, progress=lambda done: bar.update(task, completed=done))
    Console().print(f"wrote {n} pairs to {out}")


@segment_app.command("train")
def train(
    data: Path = typer.Option(..., help="A dataset with masks (from segment synth)."),
    out: Path = typer.Option(..., help="Segmenter file to write (.safetensors)."),
    steps: int = typer.Option(2000, help="Training steps."),
    batch: int = typer.Option(32, help="Batch size."),
    lr: float = typer.Option(1e-3, help="Adam learning rate."),
    seed: int = typer.Option(0, help="Seed."),
    threads: int | None = typer.Option(None, help="torch threads."),
    device: str = DEVICE_OPTION,
) -> None:
    """Train the U-Net segmenter on (image, mask) pairs."""
    from ganatomy.segment.segmenter import train_segmenter

    device = resolve_device(device)

    def checkpoint(net, names: list[str]) -> dict:
        state = {"format": "ganatomy-segmenter", "config": net.config(), "state": net.state_dict()}
        return state | {"part_labels": names}

    _train_on_pairs(
        data,
        out,
        steps,
        threads,
        "segmenter",
        lambda images, masks, k, progress: train_segmenter(
            images, masks, k, steps, batch, lr, seed, progress=progress, device=device
        ),
        checkpoint,
    )


@segment_app.command("predict")
def predict(
    segmenter: Path = typer.Argument(..., help="A segmenter file (from segment train)."),
    images: Path = typer.Option(..., help="A folder or zip of images."),
    out: Path = typer.Option(..., help="Folder for the masks (PNG, value = cluster)."),
    device: str = DEVICE_OPTION,
) -> None:
    """Segment real images with a trained segmenter."""
    import numpy as np

    from ganatomy.data.folder import ImageFolderDataset
    from ganatomy.errors import CheckpointError, DataError
    from ganatomy.nets.unet import UNet
    from ganatomy.runs.checkpoint import load_checkpoint
    from ganatomy.segment.segmenter import segment_images
    from ganatomy.utils.atomic import check_output_dir
    from ganatomy.utils.images import save_png

    device = resolve_device(device)
    check_output_dir(out, "--out")
    tree = load_checkpoint(segmenter)
    if tree.get("format") != "ganatomy-segmenter":
        raise CheckpointError(f"{segmenter}: not a segmenter file (format {tree.get('format')!r})")
    net = UNet(**tree["config"])
    net.load_state_dict(tree["state"])
    net.to(device)
    ds = ImageFolderDataset(images, mode="rgb" if net.in_channels == 3 else "grey")
    trained_at = int(tree.get("resolution", ds.resolution))  # older files do not say
    if ds.resolution != trained_at:  # a fully convolutional net would run, at a scale it never saw
        raise DataError(
            f"{images}: images are {ds.resolution}x{ds.resolution}, the segmenter was trained at "
            f"{trained_at}x{trained_at}; resize them first"
        )
    masks = segment_images(net, ds.get_images(np.arange(len(ds))))
    out.mkdir(parents=True, exist_ok=True)
    for rel, mask in zip(ds.relpaths, masks):
        save_png(out / (Path(rel).stem + ".png"), mask)
    Console().print(f"wrote {len(masks)} masks to {out}")


def _pair_arrays(data: Path):
    """(uint8 images [N, C, H, W], masks [N, H, W], number of classes, class names) of a dataset with masks."""
    import numpy as np

    from ganatomy.data.folder import ImageFolderDataset
    from ganatomy.errors import DataError

    ds = ImageFolderDataset(data)
    idx = np.arange(len(ds))
    masks = ds.get_masks(idx)
    if masks is None:
        raise DataError(f"{data}: has no masks to train on")
    n_classes = len(ds.part_labels) if ds.part_labels else int(masks.max()) + 1
    return ds.get_images(idx), masks.numpy(), n_classes, list(ds.part_labels or [])


def _train_on_pairs(data: Path, out: Path, steps: int, threads, what: str, train, checkpoint) -> None:
    """Train ``train(images, masks, n_classes, progress)`` on the pairs of ``data``, save ``checkpoint(net, names)``."""
    from rich.progress import Progress

    from ganatomy.runs.checkpoint import save_checkpoint

    set_threads(threads)
    images, masks, n_classes, names = _pair_arrays(data)
    with Progress(transient=True) as bar:
        task = bar.add_task(what, total=steps)
        net = train(images, masks, n_classes, lambda done, *_: bar.update(task, completed=done))
    save_checkpoint(out, checkpoint(net, names) | {"resolution": int(images.shape[-1])})  # what it expects
    Console().print(f"wrote {out}")


@m2i_app.command("train")
def m2i_train(
    data: Path = typer.Option(..., help="A dataset with masks (from segment synth)."),
    out: Path = typer.Option(..., help="Generator file to write (.safetensors)."),
    steps: int = typer.Option(2000, help="Training steps."),
    batch: int = typer.Option(32, help="Batch size."),
    lr: float = typer.Option(2e-4, help="Adam learning rate of the generator (the discriminator's is twice)."),
    seed: int = typer.Option(0, help="Seed."),
    threads: int | None = typer.Option(None, help="torch threads."),
    device: str = DEVICE_OPTION,
) -> None:
    """Train the SPADE generator on (image, mask) pairs."""
    from ganatomy.segment.m2i import m2i_checkpoint, train_m2i

    device = resolve_device(device)
    _train_on_pairs(
        data,
        out,
        steps,
        threads,
        "m2i",
        lambda images, masks, k, progress: train_m2i(
            images, masks, k, steps, batch, lr, seed=seed, progress=progress, device=device
        ),
        m2i_checkpoint,
    )


@m2i_app.command("generate")
def m2i_generate(
    generator: Path = typer.Argument(..., help="A mask-to-image file (from segment m2i train)."),
    masks: Path = typer.Option(..., help="A folder of PNG masks (value = class)."),
    out: Path = typer.Option(..., help="Folder for the images (PNG)."),
    seed: int = typer.Option(0, help="Seed of the noise."),
    device: str = DEVICE_OPTION,
) -> None:
    """Draw one image per mask."""
    import numpy as np
    from PIL import Image

    from ganatomy.errors import CheckpointError, DataError
    from ganatomy.runs.checkpoint import load_checkpoint
    from ganatomy.segment.m2i import generate, m2i_from_checkpoint
    from ganatomy.utils.atomic import check_output_dir
    from ganatomy.utils.images import save_png, to_uint8

    device = resolve_device(device)
    check_output_dir(out, "--out")
    tree = load_checkpoint(generator)
    try:
        net = m2i_from_checkpoint(tree).to(device)
    except CheckpointError as e:
        raise CheckpointError(f"{generator}: {e}") from None
    if not masks.is_dir():
        raise DataError(f"{masks}: no such folder")
    files = sorted(masks.glob("*.png"))
    if not files:
        raise DataError(f"{masks}: no PNG masks")
    arrays = []
    for f in files:
        try:
            with Image.open(f) as im:
                arrays.append(np.asarray(im))
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
            raise DataError(f"{f}: cannot read the mask ({' '.join(str(e).split())})") from None
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        raise DataError(f"{masks}: masks differ in size ({', '.join(sorted(map(str, shapes)))})")
    arrays = np.stack(arrays)
    images = to_uint8(generate(net, arrays, seed=seed))
    out.mkdir(parents=True, exist_ok=True)
    for f, image in zip(files, images):
        save_png(out / f.name, image[:, :, 0] if image.shape[2] == 1 else image)
    Console().print(f"wrote {len(files)} images to {out}")


def demo_stage(outdir: Path, G, console: Console) -> Path:
    """Masks of G at the chosen K next to the world oracle's part masks (a few seconds of CPU)."""
    import numpy as np
    import torch

    from ganatomy.oracle import load_oracle
    from ganatomy.segment import KLiSH
    from ganatomy.segment.show import colour_masks, enlarge
    from ganatomy.utils.images import grid_array, save_png, to_uint8
    from ganatomy.worlds import colorize_masks

    est = KLiSH(n_init_clusters=30, n_samples=24).fit(G)
    k = est.n_clusters_auto_ if est.n_clusters_auto_ > 2 else min(12, est.merge_tree_.n_leaves)
    latents = est.sample_latents(G, 6, seed=7)
    images, masks = est.predict(latents, k, return_image=True)
    with torch.no_grad():
        oracle = load_oracle(f"world{G.img_resolution}").predict(images.clamp(-1, 1), masks=True).masks
    rgb = to_uint8(images.clamp(-1, 1))
    sheet = np.stack([rgb, colour_masks(est, masks, k), colorize_masks(oracle)], axis=1).reshape(-1, *rgb.shape[1:])
    path = Path(outdir) / "segment-masks.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    save_png(path, grid_array(enlarge(sheet), ncols=3, pad=2))
    console.print(f"segment: KLiSH masks at K = {k} (auto {est.n_clusters_auto_}) beside the oracle's: {path}")
    return path


def register(app: typer.Typer) -> None:
    app.add_typer(segment_app, name="segment")
