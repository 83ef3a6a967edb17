"""``ganatomy demo``: the main job on the built-in world, one stage per capability."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console


def _stage_world(outdir: Path, seeds: list[int], res: int, console: Console) -> None:
    from ganatomy.worlds import write_world_grids

    for p in write_world_grids(outdir / "world", seeds, res):
        console.print(f"wrote {p}")


# What the demo run is measured with at its end: distances on world-oracle features.
_DEMO_METRICS = ["fd2k_oracle", "kid2k_oracle", "pr2k_oracle"]


def _stage_train(outdir: Path, kimg: float, console: Console) -> Path:
    """A short StyleGAN2 run on world:32: the run directory shows every convention."""
    from ganatomy.train.options import TrainOptions
    from ganatomy.train.run import run_training

    opts = TrainOptions(
        data="world:32", kimg=kimg, tick_kimg=max(kimg / 4, 0.25), outdir=str(outdir / "train"), metrics=_DEMO_METRICS
    )
    return run_training(opts=opts, console=console)


def _stage_measure(run_dir: Path, console: Console) -> None:
    """The metrics the loop computed at the end of the run (see metrics.jsonl)."""
    from ganatomy.cli.evaluate import print_metric_table
    from ganatomy.runs.logs import read_jsonl
    from ganatomy.train.metrics import METRICS_FILE

    records = read_jsonl(run_dir / METRICS_FILE)
    print_metric_table(console, records, f"{run_dir.name}: G_ema vs world:32 (world-oracle features)")
    console.print(f"records in {run_dir / METRICS_FILE}")


def _stage_generate(outdir: Path, networks: dict[str, str], console: Console) -> None:
    from ganatomy.errors import GanatomyError
    from ganatomy.generate import generate_images, write_images
    from ganatomy.nets.load import load_generator

    seeds = list(range(64))
    for name, network in networks.items():
        try:
            G = load_generator(network)
        except GanatomyError as e:  # e.g. the zoo package is not installed: skip, say why
            console.print(f"[yellow]skipped {name}: {e}")
            continue
        grid = write_images(outdir / "generate" / name, seeds, generate_images(G, seeds))
        console.print(f"wrote {grid}")


SHIPPED_WORLD = "world32-stylegan2"  # every stage that analyses a generator uses the shipped world model


def _shipped_world_model(console: Console):
    """The shipped world generator, or None (with the reason printed) when it is not installed."""
    from ganatomy.errors import GanatomyError
    from ganatomy.zoo import load_pretrained

    try:
        return load_pretrained(SHIPPED_WORLD)
    except GanatomyError as e:
        console.print(f"[yellow]skipped: {e}")
        return None


def _stage_shipped_model(outdir: Path, G, console: Console) -> None:
    """The shipped world model against the world, and the oracle's reading of its images' parts."""
    import numpy as np
    import torch

    from ganatomy.cli.evaluate import print_metric_table
    from ganatomy.data.resolve import open_dataset
    from ganatomy.latent import seeded_images
    from ganatomy.metrics.evaluate import evaluate_generator
    from ganatomy.oracle import load_oracle
    from ganatomy.utils.images import grid_array, save_png, to_uint8
    from ganatomy.worlds.grids import colorize_masks, overlay_masks

    records = evaluate_generator(G, _DEMO_METRICS, open_dataset("world:32"), seed=0)
    print_metric_table(console, records, f"{SHIPPED_WORLD} vs world:32 (world-oracle features)")
    with torch.no_grad():
        images = seeded_images(G, range(32), noise_mode="random").clamp(-1, 1)
    masks = load_oracle("world32").predict(images, masks=True).masks
    pixels = to_uint8(images)
    out = outdir / "shipped-model"
    rows = np.concatenate([pixels, colorize_masks(masks), overlay_masks(pixels, masks)])
    rows = rows.repeat(4, axis=1).repeat(4, axis=2)  # 32 px cells are too small to look at
    path = out / "images-parts-overlay.png"
    save_png(path, grid_array(rows, ncols=16))
    console.print(f"wrote {path} (rows: generated images, the oracle's part masks of them, overlay)")


def _stage_directions(outdir: Path, G, console: Console, count: int = 6) -> None:
    """SeFa's closed-form directions of the shipped model, pictured, and what the oracle says each moves."""
    from rich.table import Table

    from ganatomy.directions import SeFaDirections
    from ganatomy.directions.alignment import factor_alignment
    from ganatomy.directions.show import write_direction_pictures

    directions = SeFaDirections(n_directions=count).fit(G, name=SHIPPED_WORLD).directions_
    shifts = [-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0]
    paths = write_direction_pictures(G, directions, outdir / "directions", seeds=range(6), shifts=shifts)
    alignment = factor_alignment(G, directions, n=32)
    table = Table(title=f"SeFa directions of {SHIPPED_WORLD}: what the world oracle reads them moving")
    for column in ("direction", "moves most", "share of the change", "picture"):
        table.add_column(column)
    for row, k in enumerate(alignment.indices):
        factor, share = alignment.top_factor(row)
        table.add_row(str(k), factor, f"{share:.2f}", paths[2 * row].name)
    console.print(table)


def _stage_saliency(outdir: Path, G, console: Console) -> None:
    """Voynov & Babenko's saliency: the background direction's masks train a U-Net, scored on real world images."""
    from ganatomy.directions import SeFaDirections
    from ganatomy.directions.saliency import (
        SaliencySegmenter,
        choose_background_direction,
        saliency_pairs,
        world_saliency_scores,
        write_pairs_sheet,
    )

    directions = SeFaDirections(n_directions=10).fit(G, name=SHIPPED_WORLD).directions_
    index = choose_background_direction(G, directions, n=32, rule="oracle").index
    images, masks, kept = saliency_pairs(G, directions, index, n=400)
    segmenter = SaliencySegmenter(steps=200).fit(images, masks)
    scores = world_saliency_scores(segmenter, n=300)
    path = write_pairs_sheet(outdir / "saliency" / "pairs.png", images, masks)
    console.print(
        f"background direction: SeFa {index}; {len(images)} (image, mask) pairs; the U-Net trained on them finds the "
        f"foreground of 300 real world images at IoU {scores['saliency_iou']:.2f} "
        f"(F-beta {scores['saliency_fbeta']:.2f})"
    )
    console.print(f"wrote {path} (generated images and their masks from the background direction)")


SHIPPED_GENES = "world32-stylegenes"


def _stage_genes(outdir: Path, console: Console, attribute: str = "glasses", value: str = "on") -> None:
    """The shipped gene model: a sweep of the gene most informative about glasses, and a conditional sample."""
    import torch
    from rich.table import Table

    from ganatomy.errors import GanatomyError
    from ganatomy.genes import GeneStatistics, gene_prior, sweep
    from ganatomy.genes.show import write_grid
    from ganatomy.genes.statistics import default_judge
    from ganatomy.zoo import load_pretrained

    try:
        G = load_pretrained(SHIPPED_GENES)
    except GanatomyError as e:
        console.print(f"[yellow]skipped: {e}")
        return
    prior, out = gene_prior(G), outdir / "genes"
    stats = GeneStatistics(n_samples=2000, seed=0).fit(G, name=SHIPPED_GENES)
    gene = stats.informative_genes(attribute, top=1)[0]
    dnas = G.sample_latents(4, seed=0).cpu()
    swept = write_grid(G, torch.cat([sweep(prior, d, gene) for d in dnas]), out / "sweep.png", prior.variants)
    cls = stats.class_index(attribute, value)
    temperature = stats.temperature_for({attribute: value}, hit_rate=0.9)
    sampled = stats.sample(32, {attribute: value}, temperature=temperature, seed=0)
    sample_grid = write_grid(G, sampled, out / f"sample-{attribute}-{value}.png", ncols=16)
    with torch.no_grad():
        read = default_judge(G).predict(G(sampled.to(G.w_avg.device))).factors[attribute]
    table = Table(title=f"{SHIPPED_GENES}: conditional sampling of an unconditional model ({attribute}={value})")
    for column in ("", "share with the attribute (oracle)"):
        table.add_column(column)
    table.add_row("uniform DNAs (2000 judged)", f"{(stats.probs_[attribute].argmax(1) == cls).mean():.2f}")
    table.add_row(f"32 DNAs sampled for a 0.9 hit rate (temperature {temperature:.2g})", f"{(read == cls).mean():.2f}")
    console.print(table)
    console.print(
        f"wrote {swept} (all {prior.variants} variants of gene {gene}, the most informative about {attribute})"
    )
    console.print(f"wrote {sample_grid}")


def demo(
    outdir: Path = typer.Option(Path("runs/demo"), help="Where every stage writes its outputs."),
    seeds: str = typer.Option("0-63", help="World seeds to render, e.g. 0-63."),
    res: int = typer.Option(64, help="World resolution: 32 or 64."),
    train_kimg: float = typer.Option(2.0, help="Length of the demo training run, in kimg."),
) -> None:
    """Run the end-to-end demo on the built-in world: render it with ground truth, train a GAN
    briefly, measure it with the world oracle, generate from it and from the zoo, then take the
    shipped world32-stylegan2 apart (its metrics, the oracle's reading of its parts, its directions, a
    saliency segmenter, a two-label LARGE regressor, KLiSH parts), show the gene-bank model, and write
    one HTML report over it all."""
    from ganatomy.cli.regress import demo_stage as regress_demo
    from ganatomy.cli.segment import demo_stage as segment_demo
    from ganatomy.report import write_report
    from ganatomy.utils.seeds import parse_seeds

    console = Console()
    outdir.mkdir(parents=True, exist_ok=True)
    console.rule("[bold]stage 1: the world and its ground truth")
    _stage_world(outdir, parse_seeds(seeds), res, console)
    console.rule("[bold]stage 2: train a compact StyleGAN2 on world:32")
    run_dir = _stage_train(outdir, train_kimg, console)
    console.rule("[bold]stage 3: measure it against the world's ground truth")
    _stage_measure(run_dir, console)
    snapshot = sorted(run_dir.glob("network-snapshot-*.safetensors"))[-1]
    console.rule("[bold]stage 4: generate")
    networks = {"demo-run": str(snapshot), SHIPPED_WORLD: SHIPPED_WORLD, "digiface-dcgan64": "digiface-dcgan64"}
    _stage_generate(outdir, networks, console)
    G = _shipped_world_model(console)
    if G is not None:
        console.rule(f"[bold]stage 5: the shipped {SHIPPED_WORLD} against the world's ground truth")
        _stage_shipped_model(outdir, G, console)
        console.rule(f"[bold]stage 6: interpretable directions of {SHIPPED_WORLD}")
        _stage_directions(outdir, G, console)
        console.rule(f"[bold]stage 7: saliency from the background direction of {SHIPPED_WORLD}")
        _stage_saliency(outdir, G, console)
        console.rule(f"[bold]stage 8: LARGE, a world factor of real images from two labels ({SHIPPED_WORLD})")
        regress_demo(outdir / "regress", G, console)
        console.rule(f"[bold]stage 9: KLiSH, semantic parts from the features of {SHIPPED_WORLD}")
        segment_demo(outdir / "segment", G, console)
    console.rule(f"[bold]stage 10: StyleGenes, the gene-bank model {SHIPPED_GENES}")
    _stage_genes(outdir, console)
    console.rule("[bold]the report")
    report = write_report([outdir], outdir / "report.html")
    console.print(f"wrote {report}: every stage above on one page (open it in a browser)")


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
