"""``ganatomy evaluate``: metrics of a trained network (or a zoo model) against real data."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console


def _snapshot_data(network: str) -> Optional[str]:
    """The training data named in a snapshot's options, when the file has them."""
    from ganatomy.errors import CheckpointError
    from ganatomy.runs.checkpoint import load_checkpoint

    if not Path(network).is_file():
        return None
    try:
        meta = load_checkpoint(network).get("meta") or {}
    except CheckpointError:
        return None  # load_generator reports the file's problem
    options = meta.get("options") if isinstance(meta, dict) else None
    data = options.get("data") if isinstance(options, dict) else None
    return data if isinstance(data, str) else None


def evaluate(
    network: str = typer.Option(..., help="A network snapshot (.safetensors), a training checkpoint, or a zoo name."),
    metrics: Optional[str] = typer.Option(
        None, help="Comma-separated metric names, e.g. fd10k_oracle,kid10k_oracle,pr10k_oracle,cc10k_oracle,"
        "dis10k_oracle (default: fd/kid/pr 10k on the judge the data declares)."
    ),
    data: Optional[str] = typer.Option(None, help="Real data: world:32, world:64, fashion-mnist, or a path (default: the snapshot's training data)."),
    outdir: Path = typer.Option(..., help="Where metrics.jsonl is appended."),
    seed: int = typer.Option(0, help="Seeds the real subset, the generated batches and the metric's own sampling."),
    batch: int = typer.Option(64, help="Images per generator / extractor call."),
    cache_dir: Optional[Path] = typer.Option(None, help="Real-feature cache (default: $GANATOMY_CACHE or ~/.cache/ganatomy)."),
    cache: bool = typer.Option(True, help="Use the real-feature cache."),
    bf16: bool = typer.Option(False, help="bf16 autocast in the extractors (faster on CPUs with avx512_bf16, slightly different numbers)."),
) -> None:
    """Compute metrics of a generator and append one record per metric to OUTDIR/metrics.jsonl.

    Metric names state the protocol: <kind><N>k_<extractor>. Kinds: fd, kid, pr (and fid with
    inception) on real vs generated images; cc (class consistency of a conditional generator) and
    dis (MIG/DCI/SAP of z against the oracle's reading of the images) on the generator alone.
    Extractors are registered judges: oracle (world), fmnist (Fashion-MNIST), effnet (any data; not
    comparable with FID); a dataset names its own (a folder in its dataset.json), else effnet.
    """
    from ganatomy.data.resolve import open_dataset
    from ganatomy.errors import OptionsError
    from ganatomy.metrics.compute import append_metric_records
    from ganatomy.metrics.evaluate import default_metric_names, evaluate_generator
    from ganatomy.nets.load import load_generator

    console = Console()
    G = load_generator(network)
    data = data or _snapshot_data(network)
    if data is None:
        raise OptionsError(f"{network}: the real data is not recorded with this network; pass --data")
    real = open_dataset(data)
    names = metrics or ",".join(default_metric_names(real))
    records = evaluate_generator(
        G, names, real, cache_dir=str(cache_dir) if cache_dir else None, seed=seed, batch_size=batch, bf16=bf16,
        use_cache=cache, fake_info={"network": str(network), "generator_kind": G.kind},
    )
    for r in records:
        r["network"] = str(network)
        r["data"] = data
    path = outdir / "metrics.jsonl"
    append_metric_records(path, records)
    print_metric_table(console, records, f"{network} vs {data}")
    console.print(f"appended {len(records)} records to {path}")


def print_metric_table(console: Console, records: list[dict], title: str) -> None:
    from rich.table import Table

    table = Table(title=title)
    for c in ("metric", "label", "value", "other values", "seconds"):
        table.add_column(c)
    for r in records:
        others = ", ".join(f"{k[len(r['metric']) + 1:]}={v:.4g}" for k, v in r["results"].items() if k != r["metric"])
        table.add_row(r["metric"], r["label"], f"{r['value']:.4g}", others, f"{r['time_s']:.1f}")
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("evaluate")(evaluate)
