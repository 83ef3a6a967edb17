"""``ganatomy evaluate``: metrics of a trained network (or a zoo model) against real data."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console

from ganatomy.cli.options import DEVICE_OPTION, resolve_device
from ganatomy.errors import GanatomyError


def _snapshot_data(network: str) -> str | None:
    """The training data named in a snapshot's (or a shipped zoo model's) options, when it has them."""
    from ganatomy.errors import CheckpointError
    from ganatomy.runs.checkpoint import load_checkpoint
    from ganatomy.zoo import ZOO

    try:
        if not Path(network).is_file():
            entry = ZOO.get(network)
            meta = entry.metadata() if entry is not None and entry.installed() else {}
        else:
            meta = load_checkpoint(network).get("meta") or {}
    except CheckpointError:
        return None  # load_generator reports the file's problem
    options = meta.get("options") if isinstance(meta, dict) else None
    data = options.get("data") if isinstance(options, dict) else None
    return data if isinstance(data, str) else None


def _progress_bar(enabled: bool):
    """A rich progress bar on stderr, and the (stage, done, total) callback that feeds it, one task per stage."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
        disable=not enabled,
    )
    tasks: dict[str, int] = {}

    def update(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = bar.add_task(stage, total=total)
        bar.update(tasks[stage], completed=done, total=total)

    return bar, update


def _chosen_names(metrics: str | None, num: int | None, real) -> list[str] | None:
    """The metric names the flags ask for (None: the caller's default)."""
    from ganatomy.metrics.evaluate import default_metric_names, parse_metric_names, with_num

    if num is None:
        return None if metrics is None else [p.name for p in parse_metric_names(metrics)]
    return with_num(metrics, num) if metrics is not None else default_metric_names(real, num)


def evaluate(
    network: str | None = typer.Option(
        None, help="A network snapshot (.safetensors), a training checkpoint, a user's .pkl / .pt, or a zoo name."
    ),
    metrics: str | None = typer.Option(
        None,
        help="Comma-separated metric names, e.g. fd10k_oracle,kid10k_oracle,pr10k_oracle,cc10k_oracle,"
        "dis10k_oracle; below 1000 images write the count in full (fd500_effnet). Default: fd/kid/pr 10k on the "
        "judge the data declares (with --fake: N = the smaller set, at most 10k).",
    ),
    data: str | None = typer.Option(
        None,
        "--data",
        "--real",
        help="Real data: world:32, world:64, fashion-mnist, or a folder / zip (default: the snapshot's training data).",
    ),
    fake: str | None = typer.Option(
        None, help="Instead of --network: a folder / zip of generated images, measured against --real."
    ),
    num: int | None = typer.Option(
        None,
        help="Images per metric, replacing the count in every metric name (e.g. 64: fd64_effnet). "
        "KID's subset size shrinks to fit small sets; the record says so.",
    ),
    outdir: Path = typer.Option(..., help="Where metrics.jsonl is appended, one record as each metric is done."),
    seed: int = typer.Option(0, help="Seeds the real subset, the generated batches and the metric's own sampling."),
    batch: int = typer.Option(64, help="Images per generator / extractor call."),
    cache_dir: Path | None = typer.Option(
        None, help="Real-feature cache (default: $GANATOMY_CACHE or ~/.cache/ganatomy)."
    ),
    cache: bool = typer.Option(True, help="Use the real-feature cache."),
    bf16: bool = typer.Option(
        False, help="bf16 autocast in the extractors (faster on CPUs with avx512_bf16, slightly different numbers)."
    ),
    progress: bool = typer.Option(True, help="Show a progress bar."),
    inception_weights: Path | None = typer.Option(
        None,
        help="The Inception-v3 weights file (pt_inception-2015-12-05) for standard FID/KID: metrics named "
        "fid10k_inception, kid10k_inception; never downloaded.",
    ),
    device: str = DEVICE_OPTION,
) -> None:
    """Compute metrics of a generator (--network) or of a folder of images (--real DIR --fake DIR) and
    append one record per metric to OUTDIR/metrics.jsonl as soon as it is computed.

    Metric names state the protocol: <kind><N>k_<extractor>. Kinds: fd, kid, pr (and fid with
    inception) on real vs generated images; cc (class consistency of a conditional generator) and
    dis (MIG/DCI/SAP of z against the oracle's reading of the images) on the generator alone.
    Extractors are registered judges: oracle (world), fmnist (Fashion-MNIST), effnet (any data; not
    comparable with FID); a dataset names its own (a folder in its dataset.json), else effnet.
    Precision is the share of generated (--fake) images on the real manifold, recall the share of
    real images on the generated one.

    A metric that fails is reported and the others go on; the exit code is then 2.
    """
    from ganatomy.data.resolve import open_dataset
    from ganatomy.errors import OptionsError
    from ganatomy.metrics.compute import append_metric_records
    from ganatomy.metrics.evaluate import default_metric_names, evaluate_generator, evaluate_image_sets
    from ganatomy.utils.atomic import check_output_dir

    device = resolve_device(device)
    check_output_dir(outdir, "--outdir")
    if (network is None) == (fake is None):
        raise OptionsError("give --network NET (a generator), or --real DIR --fake DIR (two image sets)")
    if fake is not None and data is None:
        raise OptionsError("--fake needs --real DIR_OR_ZIP: the images to measure it against")
    console = Console()
    path = outdir / "metrics.jsonl"
    written: list[dict] = []
    failures: list[str] = []
    source = {"fake": fake} if fake is not None else {"network": str(network)}

    def save(record: dict) -> None:
        record.update(source, data=data)
        append_metric_records(path, [record])
        written.append(record)

    def report_failure(name: str, error: Exception) -> None:
        reason = " ".join(str(error).split()) or type(error).__name__
        if not isinstance(error, GanatomyError):
            reason = f"{type(error).__name__}: {reason}"
        failures.append(name)
        print(f"error: {name}: {reason}", file=sys.stderr)

    extractors = {}
    if inception_weights is not None:
        from ganatomy.metrics.inception import InceptionExtractor

        if not inception_weights.is_file():
            raise OptionsError(f"--inception-weights {inception_weights}: no such file")
        extractors["inception"] = lambda: InceptionExtractor(str(inception_weights), bf16=bf16, device=device)
    common = dict(
        extractors=extractors,
        device=device,
        cache_dir=str(cache_dir) if cache_dir else None,
        seed=seed,
        batch_size=batch,
        bf16=bf16,
        use_cache=cache,
        on_record=save,
        on_error=report_failure,
    )
    if fake is not None:
        real, fakes = open_dataset(data), open_dataset(fake)
        names = _chosen_names(metrics, num, real)
        bar, update = _progress_bar(progress)
        with bar:
            evaluate_image_sets(real, fakes, names, progress=update, **common)
        title = f"{fake} vs {data}"
    else:
        from ganatomy.nets.load import load_generator

        G = load_generator(network, device=device)
        data = data or _snapshot_data(network)
        if data is None:
            raise OptionsError(f"{network}: the real data is not recorded with this network; pass --data")
        real = open_dataset(data)
        names = _chosen_names(metrics, num, real) or default_metric_names(real)
        bar, update = _progress_bar(progress)
        with bar:
            evaluate_generator(
                G,
                names,
                real,
                fake_info={"network": str(network), "generator_kind": G.kind},
                adapt_kid_subset=True,
                progress=update,
                **common,
            )
        title = f"{network} vs {data}"
    if written:
        print_metric_table(console, written, title)
    console.print(f"appended {len(written)} records to {path}")
    if failures:
        raise typer.Exit(2)


def print_metric_table(console: Console, records: list[dict], title: str) -> None:
    from rich.table import Table

    table = Table(title=title)
    for c in ("metric", "label", "value", "other values", "seconds"):
        table.add_column(c)
    for r in records:
        others = ", ".join(f"{k[len(r['metric']) + 1 :]}={v:.4g}" for k, v in r["results"].items() if k != r["metric"])
        table.add_row(r["metric"], r["label"], f"{r['value']:.4g}", others, f"{r['time_s']:.1f}")
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("evaluate")(evaluate)
