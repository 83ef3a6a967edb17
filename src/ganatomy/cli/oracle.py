"""``ganatomy oracle``: train the world oracle or the Fashion-MNIST classifier, or score one on held-out data."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from ganatomy.cli.options import resolved_command, set_threads

oracle_app = typer.Typer(
    name="oracle",
    help="The oracles that judge generated images: train them (train, train-fmnist) or score them (eval).",
    no_args_is_help=True,
    add_completion=False,
)


@oracle_app.command("train")
def train(
    ctx: typer.Context,
    res: int = typer.Option(32, help="World resolution: 32 or 64."),
    steps: int = typer.Option(6000, help="Training steps; each renders --batch new world images."),
    batch: int = typer.Option(64, help="Images per step."),
    lr: float = typer.Option(3e-3, help="Peak AdamW learning rate (linear warm-up, cosine decay)."),
    seed: int = typer.Option(0, help="Seed of the initialisation and the augmentation."),
    widths: str | None = typer.Option(None, help="Encoder widths per level down to 4x4, e.g. 16,32,64,128."),
    eval_images: int = typer.Option(2000, help="Held-out world images scored at the end."),
    out: Path | None = typer.Option(None, help="Checkpoint to write (default: oracle-world<RES>.safetensors)."),
    threads: int | None = typer.Option(None, help="torch threads (1 is fastest on a shared 2-core machine)."),
    progress: bool = typer.Option(True, help="Show a progress bar (else log lines)."),
) -> None:
    """Train the world oracle on freshly rendered world images and score it on held-out ones."""
    from ganatomy.oracle.train import (
        WorldOracleTraining,
        parse_widths,
        train_world_oracle,
    )
    from ganatomy.utils.atomic import check_output_dir

    set_threads(threads)
    console = Console()
    cfg = WorldOracleTraining(
        res=res, steps=steps, batch=batch, lr=lr, seed=seed, widths=parse_widths(widths), eval_images=eval_images
    )
    out = out or Path(f"oracle-world{res}.safetensors")
    check_output_dir(out, "--out", parents_only=True)
    _, meta = train_world_oracle(
        cfg, out=out, command=resolved_command(ctx), progress=progress, log=None if progress else console.print
    )
    _print_world_scores(console, f"world oracle {res}x{res} ({out})", meta["heldout"])
    console.print(f"wrote {out}")


@oracle_app.command("train-fmnist")
def train_fmnist(
    ctx: typer.Context,
    epochs: float = typer.Option(4.0, help="Passes over the 60k training images."),
    batch: int = typer.Option(128, help="Images per step."),
    lr: float = typer.Option(3e-3, help="Peak AdamW learning rate."),
    seed: int = typer.Option(0, help="Seed of the initialisation, the order and the augmentation."),
    data: Path | None = typer.Option(None, help="Folder of the Fashion-MNIST IDX files (default: Debian's)."),
    out: Path = typer.Option(Path("oracle-fmnist.safetensors"), help="Checkpoint to write."),
    threads: int | None = typer.Option(None, help="torch threads (1 is fastest on a shared 2-core machine)."),
    progress: bool = typer.Option(True, help="Show a progress bar (else log lines)."),
) -> None:
    """Train the Fashion-MNIST classifier (judge and feature extractor) and report its test accuracy."""
    from ganatomy.oracle.train import FashionTraining, train_fashion_classifier
    from ganatomy.utils.atomic import check_output_dir

    set_threads(threads)
    console = Console()
    cfg = FashionTraining(epochs=epochs, batch=batch, lr=lr, seed=seed, root=str(data) if data else None)
    check_output_dir(out, "--out", parents_only=True)
    _, meta = train_fashion_classifier(
        cfg, out=out, command=resolved_command(ctx), progress=progress, log=None if progress else console.print
    )
    console.print(
        f"Fashion-MNIST test accuracy: {meta['heldout']['accuracy']:.4f} ({meta['heldout']['num_images']} images)"
    )
    console.print(f"wrote {out}")


@oracle_app.command("eval")
def evaluate(
    oracles: list[str] | None = typer.Argument(
        None, help="Shipped names (world32, world64, fmnist) or checkpoint paths; default: all shipped."
    ),
    images: int = typer.Option(2000, help="Held-out world images per world oracle."),
    threads: int | None = typer.Option(None, help="torch threads."),
) -> None:
    """Score oracles on held-out data: R² per factor, accuracy per class factor, mask mIoU; test accuracy for fmnist."""
    from ganatomy.oracle import (
        evaluate_fashion_classifier,
        evaluate_world_oracle,
        load_oracle,
    )
    from ganatomy.oracle.predictor import WorldOracle
    from ganatomy.oracle.store import SHIPPED

    set_threads(threads)
    console = Console()
    for name in oracles or list(SHIPPED):
        oracle = load_oracle(name)
        command = oracle.meta.get("command", "?")
        if isinstance(oracle, WorldOracle):
            scores = evaluate_world_oracle(oracle, images).as_dict()
            _print_world_scores(console, f"{name}: made by `{command}`", scores)
        else:
            scores = evaluate_fashion_classifier(oracle)
            console.print(
                f"{name}: Fashion-MNIST test accuracy {scores['accuracy']:.4f} "
                f"({scores['num_images']} images); made by `{command}`"
            )


def _print_world_scores(console: Console, title: str, scores: dict) -> None:
    from rich.table import Table

    table = Table(title=title)
    for c in ("quantity", "score", "measure"):
        table.add_column(c)
    for k, v in scores["r2"].items():
        table.add_row(k, f"{v:.4f}", "R²")
    for k, v in scores["accuracy"].items():
        table.add_row(k, f"{v:.4f}", "accuracy")
    for k, v in scores["part_iou"].items():
        table.add_row(f"mask: {k}", f"{v:.4f}", "IoU")
    table.add_row("mask", f"{scores['mask_miou']:.4f}", "mIoU")
    console.print(table)
    console.print(f"{scores['num_images']} held-out images at {scores['resolution']}x{scores['resolution']}")


def register(app: typer.Typer) -> None:
    app.add_typer(oracle_app, name="oracle")
