"""``ganatomy genes``: look inside a gene-bank (StyleGenes) generator and sample it by attribute.

Every command writes a grid (PNG) and the DNAs of its cells (dnas.txt) to ``--outdir``. DNAs are
given and printed as text, one variant index per gene joined by dots (``3.17.0.42...``), or as
``seed:N`` for the DNA that seed N draws.
"""

from __future__ import annotations

import math
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from ganatomy.cli.options import DEVICE_OPTION, resolve_device, set_threads

genes_app = typer.Typer(
    name="genes",
    help="StyleGenes: sweep, cross and mutate the DNAs of a gene-bank generator, rank genes by what they "
    "control, and sample it conditioned on attributes.",
    no_args_is_help=True,
    add_completion=False,
)

_NETWORK = typer.Option("world32-stylegenes", help="A gene-bank generator: a zoo name or a snapshot.")
_OUTDIR = typer.Option(Path("runs/genes"), help="Where the grid and dnas.txt are written.")
_THREADS = typer.Option(None, help="torch threads.")


def _open(network: str, outdir: Path, threads: int | None, device: str):
    from ganatomy.nets.genes import gene_prior
    from ganatomy.nets.load import load_generator
    from ganatomy.utils.atomic import check_output_dir

    device = resolve_device(device)
    set_threads(threads)
    check_output_dir(outdir, "--outdir")
    G = load_generator(network, device=device)
    prior = gene_prior(G)
    return G, prior  # OUTDIR is made by the first write: a refused command leaves no folder


def _statistics(G, network: str, samples: int, stats_file: Path | None, outdir: Path, console: Console, attributes=()):
    """Gene statistics from ``stats_file`` if it is there and belongs to G, else fitted (and saved there).
    ``attributes``: names the command will ask about, checked against the judge before judging anything."""
    from rich.progress import Progress

    from ganatomy.errors import OptionsError
    from ganatomy.genes import GeneStatistics
    from ganatomy.genes.statistics import default_judge

    path = stats_file or outdir / "gene-statistics.safetensors"
    if path.is_file():
        stats = GeneStatistics.load(path)
        stats.check_same_generator(G)
        console.print(f"gene statistics: {path} ({len(stats.dna_)} samples)")
        return stats
    judge = default_judge(G)
    spec = getattr(judge, "spec", None)
    if spec is not None:  # minutes of judging would end in "unknown attribute": say it now
        known = [t.name for t in (*spec.categorical, *spec.continuous)]
        unknown = [a for a in attributes if a not in known]
        if unknown:
            raise OptionsError(f"unknown attribute {unknown[0]!r}; known: {', '.join(known)}")
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task(f"judging {samples} samples", total=samples)
        stats = GeneStatistics(n_samples=samples).fit(
            G, judge, name=network, progress=lambda done, total: bar.update(task, completed=done)
        )
    stats.save(path)
    console.print(f"gene statistics of {samples} samples saved to {path} (reuse it with --stats)")
    return stats


@genes_app.command("sweep")
def sweep_cmd(
    network: str = _NETWORK,
    gene: int | None = typer.Option(None, help="The gene to sweep (default: the one most informative about --attr)."),
    attr: str | None = typer.Option(None, help="Pick the gene most informative about this attribute, e.g. glasses."),
    dna: list[str] = typer.Option(["seed:0", "seed:1", "seed:2", "seed:3"], help="Base DNAs, one grid row each."),
    samples: int = typer.Option(5000, help="With --attr: samples judged for the gene statistics."),
    stats: Path | None = typer.Option(None, help="Gene statistics saved by an earlier run (skips judging)."),
    outdir: Path = _OUTDIR,
    threads: int | None = _THREADS,
    device: str = DEVICE_OPTION,
) -> None:
    """All variants of one gene (columns) on each base DNA (rows), the rest of the DNA fixed."""
    import torch

    from ganatomy.errors import OptionsError
    from ganatomy.genes import sweep
    from ganatomy.genes.show import resolve_dna, write_dnas, write_grid

    console = Console()
    G, prior = _open(network, outdir, threads, device)
    if (gene is None) == (attr is None):
        raise OptionsError("give --gene I or --attr NAME (the gene most informative about NAME)")
    if attr is not None:
        gene = _statistics(G, network, samples, stats, outdir, console, [attr]).informative_genes(attr, top=1)[0]
        console.print(f"gene {gene} is the most informative about {attr}")
    rows = [sweep(prior, resolve_dna(text, G, prior), gene) for text in dna]
    dnas = torch.cat(rows)
    grid = write_grid(G, dnas, outdir / f"sweep-gene{gene}.png", ncols=prior.variants)
    write_dnas(
        outdir / "dnas.txt", [(f"row{r}-variant{k}", d) for r, row in enumerate(rows) for k, d in enumerate(row)]
    )
    console.print(f"wrote {grid} (rows: {', '.join(dna)}; columns: variants 0..{prior.variants - 1} of gene {gene})")


@genes_app.command("cross")
def cross_cmd(
    parents: list[str] = typer.Argument(..., help="Two parent DNAs (dotted text or seed:N)."),
    network: str = _NETWORK,
    children: int = typer.Option(6, help="Children drawn by uniform crossover."),
    cut: int | None = typer.Option(None, help="One-point crossover instead: genes before CUT from the first parent."),
    seed: int = typer.Option(0, help="Seed of the crossovers."),
    outdir: Path = _OUTDIR,
    threads: int | None = _THREADS,
    device: str = DEVICE_OPTION,
) -> None:
    """Parents, then their children by crossover; dnas.txt says which genes each child took from whom."""
    import torch

    from ganatomy.errors import OptionsError
    from ganatomy.genes import crossover
    from ganatomy.genes.show import resolve_dna, write_dnas, write_grid

    if len(parents) != 2:
        raise OptionsError(f"cross takes two parent DNAs, got {len(parents)}")
    if cut is None and children < 1:
        raise OptionsError(f"--children must be >= 1, got {children}")
    G, prior = _open(network, outdir, threads, device)
    a, b = (resolve_dna(p, G, prior) for p in parents)
    generator = torch.Generator().manual_seed(seed)
    count = 1 if cut is not None else children
    kids = [crossover(prior, a, b, generator, cut) for _ in range(count)]
    cells = [("parent-a", a), ("parent-b", b)] + [
        (f"child{i}-from-b:{''.join('b' if f else 'a' for f in from_b.tolist())}", kid)
        for i, (kid, from_b) in enumerate(kids)
    ]
    grid = write_grid(G, torch.stack([d for _, d in cells]), outdir / "cross.png", ncols=len(cells))
    write_dnas(outdir / "dnas.txt", cells)
    Console().print(f"wrote {grid}: parents a, b, then {count} children (their DNAs in {outdir / 'dnas.txt'})")


@genes_app.command("mutate")
def mutate_cmd(
    dna: str = typer.Argument("seed:0", help="The DNA to mutate (dotted text or seed:N)."),
    network: str = _NETWORK,
    rate: float = typer.Option(0.1, help="Probability that a gene changes to another variant."),
    n: int = typer.Option(7, help="Mutants drawn."),
    seed: int = typer.Option(0, help="Seed of the mutations."),
    outdir: Path = _OUTDIR,
    threads: int | None = _THREADS,
    device: str = DEVICE_OPTION,
) -> None:
    """The DNA, then ``n`` mutants of it."""
    import torch

    from ganatomy.errors import OptionsError
    from ganatomy.genes import mutate
    from ganatomy.genes.show import resolve_dna, write_dnas, write_grid

    if n < 1:
        raise OptionsError(f"--n must be >= 1, got {n}")
    G, prior = _open(network, outdir, threads, device)
    parent = resolve_dna(dna, G, prior)
    generator = torch.Generator().manual_seed(seed)
    mutants = [mutate(prior, parent, rate, generator) for _ in range(n)]
    cells = [("original", parent)] + [
        (f"mutant{i}-genes:{','.join(map(str, changed.nonzero().flatten().tolist())) or 'none'}", m)
        for i, (m, changed) in enumerate(mutants)
    ]
    grid = write_grid(G, torch.stack([d for _, d in cells]), outdir / "mutate.png", ncols=len(cells))
    write_dnas(outdir / "dnas.txt", cells)
    Console().print(f"wrote {grid}: the original, then {n} mutants at rate {rate}")


@genes_app.command("attribution")
def attribution_cmd(
    network: str = _NETWORK,
    samples: int = typer.Option(5000, help="Samples judged by the world oracle."),
    stats: Path | None = typer.Option(None, help="Gene statistics saved by an earlier run (skips judging)."),
    top: int = typer.Option(3, help="Genes listed per attribute."),
    outdir: Path = _OUTDIR,
    threads: int | None = _THREADS,
    device: str = DEVICE_OPTION,
) -> None:
    """Which genes control which attribute: mutual information I(gene; attribute) read by the oracle."""
    from ganatomy.errors import OptionsError

    if top < 1:
        raise OptionsError(f"--top must be >= 1, got {top}")
    console = Console()
    G, _ = _open(network, outdir, threads, device)
    statistics = _statistics(G, network, samples, stats, outdir, console)
    table = Table(title="genes by mutual information with each attribute (nats)")
    for column in ("attribute", "most informative genes", "I of the best", "I of the median gene"):
        table.add_column(column)
    import numpy as np

    for attribute in statistics.attributes:
        genes = statistics.informative_genes(attribute, top)
        mi = statistics.mutual_info_[attribute]
        table.add_row(attribute, ", ".join(map(str, genes)), f"{mi[genes[0]]:.3f}", f"{np.median(mi):.3f}")
    console.print(table)


@genes_app.command("sample")
def sample_cmd(
    attr: list[str] = typer.Option(..., help="NAME=VALUE, repeatable, e.g. glasses=on or hair_style=2."),
    network: str = _NETWORK,
    n: int = typer.Option(16, help="Samples drawn."),
    temperature: float = typer.Option(1.0, help="Below 1: closer to the attribute; above 1: more diverse."),
    hit_rate: float | None = typer.Option(
        None,
        help="Ask for a hit rate instead (e.g. 0.9): the highest temperature up to --temperature whose draws the "
        "gene statistics forecast to have the attribute that often (no extra generator calls).",
    ),
    top_genes: int | None = typer.Option(
        None, help="Re-weight only the N genes most informative about each attribute (default: all)."
    ),
    method: str = typer.Option(
        "posterior",
        help="posterior (Gibbs sampling of the genes' joint posterior under a small network that reads the attribute "
        "off the DNA's gene vectors: keeps their dependence) or naive-bayes (each gene from its own posterior, "
        "independently).",
    ),
    samples: int = typer.Option(5000, help="Samples judged for the gene statistics."),
    stats: Path | None = typer.Option(None, help="Gene statistics saved by an earlier run (skips judging)."),
    seed: int = typer.Option(0, help="Seed of the draw."),
    outdir: Path = _OUTDIR,
    threads: int | None = _THREADS,
    device: str = DEVICE_OPTION,
) -> None:
    """Conditional samples of an unconditional gene model; the oracle says how many have the attribute."""
    import torch

    from ganatomy.errors import OptionsError
    from ganatomy.genes.show import write_dnas, write_grid
    from ganatomy.genes.statistics import METHODS, default_judge

    if method not in METHODS:  # before minutes of judging samples
        raise OptionsError(f"--method {method!r}: choose one of {', '.join(METHODS)}")
    if not 0 < temperature < math.inf:
        raise OptionsError(f"--temperature must be a finite number > 0, got {temperature}")
    if hit_rate is not None and not 0 < hit_rate < 1:
        raise OptionsError(f"--hit-rate {hit_rate}: give a rate in (0, 1), e.g. 0.9")
    if n < 1:
        raise OptionsError(f"--n must be >= 1, got {n}")
    if top_genes is not None and top_genes < 1:
        raise OptionsError(f"--top-genes must be >= 1, got {top_genes}")
    request = {}
    for item in attr:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise OptionsError(f"--attr {item!r}: write NAME=VALUE, e.g. glasses=on")
        if name.strip() in request:
            raise OptionsError(f"--attr {name.strip()} is given twice")
        request[name.strip()] = value.strip()
    console = Console()
    G, _ = _open(network, outdir, threads, device)
    statistics = _statistics(G, network, samples, stats, outdir, console, list(request))
    if hit_rate is not None:
        temperature = statistics.temperature_for(request, hit_rate, temperature, top_genes, seed, method)
        console.print(f"temperature {temperature:.3g}: forecast to hit {hit_rate:g}")
    dnas = statistics.sample(n, request, temperature, top_genes, seed, method=method)
    grid = write_grid(G, dnas, outdir / "sample.png", ncols=min(n, 8))
    write_dnas(outdir / "dnas.txt", [(f"sample{i}", d) for i, d in enumerate(dnas)])
    with torch.no_grad():
        reading = default_judge(G).predict(G(dnas.to(G.w_avg.device)))
    hits = [
        float((reading.factors[name] == statistics.class_index(name, value)).mean()) for name, value in request.items()
    ]
    wanted = ", ".join(f"{k}={v}" for k, v in request.items())
    console.print(f"wrote {grid}; the oracle reads {wanted} on {', '.join(f'{h:.0%}' for h in hits)} of them")


def register(app: typer.Typer) -> None:
    app.add_typer(genes_app, name="genes")
