"""One section per kind of run directory, recognised by its files: the report's registry.

A :class:`Section` says which files make a directory its kind (``matches``) and renders that
directory (``render``) into HTML, naming the docs/results.md benchmarks that concern it (``bench``).
A directory may be of several kinds; each of them renders. Sections that draw new pictures (direction
strips, the oracle's readout) load the run's generator through the :class:`ReportContext`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ganatomy.report import html as h


@dataclasses.dataclass
class ReportContext:
    """What sections share while one report is built: settings and the generators loaded so far."""

    compute: bool = True  # draw direction strips and oracle readouts that a run did not save
    max_directions: int = 8
    generators: dict[str, Any] = dataclasses.field(default_factory=dict)

    def generator(self, name: str) -> Any:
        if name not in self.generators:
            from ganatomy.nets.load import load_generator

            self.generators[name] = load_generator(name).eval()
        return self.generators[name]


@dataclasses.dataclass(frozen=True)
class Section:
    kind: str
    title: str
    matches: Callable[[Path], bool]
    render: Callable[[Path, ReportContext], str]
    bench: tuple[str, ...] = ()


def part(name: str, title: str, body: str) -> str:
    """One named block of a section (``data-part`` lets tests and readers find it)."""
    if not body:
        return ""
    return f'<div class="part" data-part="{h.esc(name)}"><h3>{h.esc(title)}</h3>{body}</div>'


def _has(run: Path, *names: str) -> bool:
    return all((run / n).is_file() for n in names)


def _glob(run: Path, pattern: str) -> list[Path]:
    return sorted(p for p in run.glob(pattern) if p.is_file())


def options_part(run: Path, name: str = "options.json") -> str:
    path = run / name
    return part("options", "Options", h.key_values(h.read_json(path), name)) if path.is_file() else ""


def curves(records: list[dict[str, Any]], x_key: str, groups: dict[str, str], caption: str) -> str:
    """One subplot per group of logged keys (by prefix) against ``x_key``."""
    present = {
        prefix: label
        for prefix, label in groups.items()
        if any(k.startswith(prefix) for r in records for k in r if isinstance(r[k], int | float))
    }
    if not records or not present:
        return ""
    fig = h.new_figure(4.2 * len(present), 3.0)
    axes = fig.subplots(1, len(present), squeeze=False)[0]
    for ax, (prefix, label) in zip(axes, present.items()):
        keys = sorted({k for r in records for k in r if k.startswith(prefix)})
        for key in keys:
            points = [(r[x_key], r[key]) for r in records if isinstance(r.get(key), int | float) and x_key in r]
            if points:
                xs, ys = zip(*points)
                ax.plot(xs, ys, marker="." if len(xs) < 30 else None, label=key.removeprefix(prefix))
        ax.set_title(label)
        ax.set_xlabel(x_key)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    return h.figure(fig, caption)


# ---------------------------------------------------------------- training
TRAINING_CURVES = {"loss/": "losses", "scores/": "D scores", "metrics/": "metrics"}


def is_training(run: Path) -> bool:
    return _has(run, "options.json", "stats.jsonl") and bool(
        _glob(run, "fakes*.png") or _glob(run, "network-snapshot-*.safetensors")
    )


def metric_rows(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per metric evaluation: the protocol name, what it is, its extractor and sizes."""
    rows = []
    for r in records:
        protocol = r.get("protocol") or {}
        extractor = protocol.get("extractor") or {}
        rows.append(
            {
                "metric": r.get("metric"),
                "label": r.get("label"),
                "kimg": r.get("kimg"),
                "value": r.get("value"),
                "extractor": extractor.get("name"),
                "images": protocol.get("num"),
                "comparable with published FID": protocol.get("comparable_with_published_fid"),
            }
        )
    return rows


def render_training(run: Path, ctx: ReportContext) -> str:
    stats = h.read_jsonl(run / "stats.jsonl")
    metrics = h.read_jsonl(run / "metrics.jsonl") if (run / "metrics.jsonl").is_file() else []
    fakes = [p for p in _glob(run, "fakes*.png") if p.name != "fakes-latest.png"]
    shown = ([fakes[0]] if len(fakes) > 1 else []) + (
        [run / "fakes-latest.png"] if _has(run, "fakes-latest.png") else fakes[-1:]
    )
    snapshots = [
        {"snapshot": p.name, "MB": p.stat().st_size / 1e6} for p in _glob(run, "network-snapshot-*.safetensors")
    ]
    last = stats[-1] if stats else {}
    headline = {k: last[k] for k in ("kimg", "speed/img_per_s", "progress/seconds") if k in last}
    return "".join(
        [
            options_part(run),
            part("summary", "Where it stands", h.table([headline]) + h.table(snapshots)),
            part("curves", "Training curves", curves(stats, "kimg", TRAINING_CURVES, "stats.jsonl against kimg")),
            part("metrics", "Metrics", h.table(metric_rows(metrics[-20:]), "metrics.jsonl (the last 20)")),
            part("samples", "Samples", "".join(h.image_file(p) for p in shown)),
        ]
    )


# ---------------------------------------------------------------- directions
def is_directions(run: Path) -> bool:
    return _has(run, "directions.safetensors")


def _direction_strips(G: Any, directions: Any, indices: list[int]) -> str:
    import numpy as np

    from ganatomy.directions.show import direction_frames
    from ganatomy.utils.images import grid_array, png_bytes

    E = float(directions.meta.get("shift_range", 3.0))
    shifts = np.linspace(-E, E, 7).tolist()
    out = []
    for k in indices:
        frames = direction_frames(G, directions, k, [0, 1, 2], shifts)  # [S, N, H, W, C]
        grid = grid_array(frames.transpose(1, 0, 2, 3, 4).reshape(-1, *frames.shape[2:]), ncols=len(shifts))
        name = directions.names[k] if getattr(directions, "names", None) else f"direction {k}"
        out.append(h.image(png_bytes(grid), f"{name}: seeds 0-2 (rows), shifts {-E:g}..{E:g} (columns)"))
    return "".join(out)


def _readout(G: Any, directions: Any, indices: list[int]) -> str:
    """The world oracle's reading of what each direction moves: a share heatmap and a table."""
    from ganatomy.directions import factor_alignment

    alignment = factor_alignment(G, directions, indices=indices, n=16)
    share = alignment.share
    fig = h.new_figure(max(5.0, 0.35 * len(alignment.factors)), 0.4 * len(indices) + 1.5)
    ax = fig.subplots()
    picture = ax.imshow(share, cmap="viridis", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(len(alignment.factors)), alignment.factors, rotation=70, fontsize=7)
    ax.set_yticks(range(len(indices)), [str(k) for k in indices], fontsize=7)
    ax.set_ylabel("direction")
    fig.colorbar(picture, ax=ax, label="share of the change")
    rows = []
    for row, k in enumerate(alignment.indices):
        top = int(share[row].argmax())
        rows.append({"direction": k, "moves most": alignment.factors[top], "share": float(share[row, top])})
    purity = [
        {"factor": f, "best direction": alignment.best_direction[f], "purity": p} for f, p in alignment.purity.items()
    ]
    return (
        h.figure(fig, "share of each factor in what each direction changes (world oracle)")
        + h.table(rows, "per direction")
        + h.table(purity, f"per factor (pure: >= {0.7})")
    )


def render_directions(run: Path, ctx: ReportContext) -> str:
    from ganatomy.directions.io import load

    summary = h.read_json(run / "summary.json") if _has(run, "summary.json") else {}
    stats = h.read_jsonl(run / "stats.jsonl") if _has(run, "stats.jsonl") else []
    network = (h.read_json(run / "options.json") if _has(run, "options.json") else {}).get("network")
    body = [
        options_part(run),
        part("summary", "Summary", h.table([{k: v for k, v in summary.items() if not isinstance(v, list)}])),
        part("curves", "Training curves", curves(stats, "step", {"loss": "losses", "acc": "accuracy"}, "stats.jsonl")),
    ]
    if ctx.compute and network:
        G = ctx.generator(network)
        directions = load(run, G)
        indices = list(range(min(len(directions), ctx.max_directions)))
        body.append(part("strips", "Direction strips", _direction_strips(G, directions, indices)))
        if "world" in network:
            body.append(part("readout", "The oracle's readout of each direction", _readout(G, directions, indices)))
    return "".join(body)


def is_direction_pictures(run: Path) -> bool:
    return bool(_glob(run, "direction-*.png")) and not is_directions(run)


def render_direction_pictures(run: Path, ctx: ReportContext) -> str:
    pictures = _glob(run, "direction-*.png")[: ctx.max_directions]
    return part("strips", "Direction strips (rows: seeds, columns: shifts)", "".join(map(h.image_file, pictures)))


def is_saliency(run: Path) -> bool:
    return _has(run, "saliency.json")


def render_saliency(run: Path, ctx: ReportContext) -> str:
    info = h.read_json(run / "saliency.json")
    world = info.get("world") or {}
    scores = [{"segmenter": k, **v} if isinstance(v, dict) else {"segmenter": "", k: v} for k, v in world.items()]
    headline = {k: info.get(k) for k in ("network", "directions", "index", "pairs", "kept_share")}
    return "".join(
        [
            part("summary", "Background direction", h.table([headline])),
            part("scores", "Scores on held-out real world images", h.table(scores)),
            part(
                "pairs",
                "Generated pairs (images, masks)",
                h.image_file(run / "pairs.png") if _has(run, "pairs.png") else "",
            ),
        ]
    )


# ---------------------------------------------------------------- inversion and LARGE
def is_inversion(run: Path) -> bool:
    return _has(run, "invert.json")


def render_inversion(run: Path, ctx: ReportContext) -> str:
    info = h.read_json(run / "invert.json")
    stats = h.read_jsonl(run / "stats.jsonl") if _has(run, "stats.jsonl") else []
    return part("options", "Inverter", h.key_values(info, "invert.json")) + part(
        "curves", "Encoder training", curves(stats, "step", {"loss": "losses"}, "stats.jsonl")
    )


def is_inverted(run: Path) -> bool:
    return _has(run, "quality.json", "reconstruction.png")


def render_inverted(run: Path, ctx: ReportContext) -> str:
    quality = h.read_json(run / "quality.json")
    return part("metrics", "Reconstruction quality", h.table([quality])) + part(
        "samples", "Inputs and reconstructions", h.image_file(run / "reconstruction.png")
    )


def is_regression(run: Path) -> bool:
    return _has(run, "regress.json") or _has(run, "calibration.png") or _has(run, "sorted.png")


def _csv_head(path: Path, n: int = 10) -> list[dict[str, str]]:
    import csv

    with open(path, newline="") as f:
        return [row for _, row in zip(range(n), csv.DictReader(f))]


def render_regression(run: Path, ctx: ReportContext) -> str:
    info = h.read_json(run / "regress.json") if _has(run, "regress.json") else None
    predictions = run / "predictions.csv"
    return "".join(
        [
            part("options", "Regressor", h.key_values(info, "regress.json") if info else ""),
            part(
                "calibration",
                "Calibration",
                h.image_file(run / "calibration.png") if _has(run, "calibration.png") else "",
            ),
            part(
                "sorted", "Sorted by the attribute", h.image_file(run / "sorted.png") if _has(run, "sorted.png") else ""
            ),
            part(
                "predictions",
                "Predictions",
                h.table(_csv_head(predictions), "the first 10") if predictions.is_file() else "",
            ),
        ]
    )


# ---------------------------------------------------------------- genes, world, generated grids
GENE_PICTURES = {
    "sweep-gene*.png": "gene sweep",
    "cross.png": "crossover",
    "mutate.png": "mutations",
    "sample.png": "conditional samples",
}


def is_genes(run: Path) -> bool:
    return any(_glob(run, pattern) for pattern in GENE_PICTURES)


def render_genes(run: Path, ctx: ReportContext) -> str:
    pictures = "".join(
        h.image_file(p, f"{label}: {p.name}") for pattern, label in GENE_PICTURES.items() for p in _glob(run, pattern)
    )
    dnas = run / "dnas.txt"
    rows = (
        [dict(zip(("cell", "dna"), line.split("\t", 1))) for line in dnas.read_text().splitlines()[:16]]
        if dnas.is_file()
        else []
    )
    return part("grids", "Gene grids", pictures) + part("dnas", "DNAs (dnas.txt, the first 16)", h.table(rows))


def is_world(run: Path) -> bool:
    return _has(run, "factors.json", "images.png")


def render_world(run: Path, ctx: ReportContext) -> str:
    pictures = [run / n for n in ("images.png", "masks.png", "overlay.png") if (run / n).is_file()]
    return part("samples", "World images, part masks and overlay", "".join(map(h.image_file, pictures)))


def is_generated(run: Path) -> bool:
    return _has(run, "grid.png") and bool(_glob(run, "seed*.png"))


def render_generated(run: Path, ctx: ReportContext) -> str:
    count = len(_glob(run, "seed*.png"))
    return part("samples", f"Generated images ({count} seeds)", h.image_file(run / "grid.png"))


# ---------------------------------------------------------------- KLiSH segmentation
def is_segment(run: Path) -> bool:
    return _has(run, "estimator.safetensors", "summary.json") and "n_clusters_auto" in h.read_json(run / "summary.json")


def render_segment(run: Path, ctx: ReportContext) -> str:
    summary = h.read_json(run / "summary.json")
    scores = {int(k): float(v) for k, v in (summary.get("scores") or {}).items()}
    merge = ""
    if scores:
        fig = h.new_figure(5.0, 3.0)
        ax = fig.subplots()
        ks = sorted(scores)
        ax.plot(ks, [scores[k] for k in ks], marker=".")
        ax.axvline(
            summary["n_clusters_auto"], color="tab:red", ls="--", label=f"automatic K = {summary['n_clusters_auto']}"
        )
        ax.set_xlabel("K (clusters left)")
        ax.set_ylabel("merge score")
        ax.legend(fontsize=8)
        merge = h.figure(fig, "the score of each merge of the KLiSH tree")
    headline = {k: v for k, v in summary.items() if k != "scores"}
    pictures = [p for p in (run / "show" / "masks.png", run / "show" / "merge.gif") if p.is_file()]
    return "".join(
        [
            part("summary", "KLiSH fit", h.table([headline])),
            part("merge", "Merge curve", merge),
            part("masks", "Masks at several K and the merge", "".join(map(h.image_file, pictures))),
        ]
    )


SECTIONS: tuple[Section, ...] = (
    Section("world", "World", is_world, render_world, ("world",)),
    Section("training", "Training run", is_training, render_training, ("train", "quality")),
    Section("generated", "Generated images", is_generated, render_generated, ("zoo",)),
    Section("directions", "Directions", is_directions, render_directions, ("directions",)),
    Section(
        "direction-pictures", "Direction pictures", is_direction_pictures, render_direction_pictures, ("directions",)
    ),
    Section("saliency", "Saliency", is_saliency, render_saliency, ("directions",)),
    Section("inversion", "Inversion", is_inversion, render_inversion, ("regress",)),
    Section("inverted", "Inverted images", is_inverted, render_inverted, ("regress",)),
    Section("regression", "LARGE regression", is_regression, render_regression, ("regress",)),
    Section("genes", "StyleGenes", is_genes, render_genes, ("genes",)),
    Section("segment", "KLiSH segmentation", is_segment, render_segment, ("segment",)),
)
