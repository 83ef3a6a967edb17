"""The report: built from tiny runs of every kind made here, it holds each kind's sections and parts."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from ganatomy.cli import app
from ganatomy.errors import OptionsError
from ganatomy.report import SECTIONS, ReportContext, build_report, find_runs, write_report
from ganatomy.report.html import bench_sections, markdown

pytestmark = pytest.mark.usefixtures("one_thread")

TINY_TRAINING = {
    "data": "world:32",
    "batch": 8,
    "kimg": 0.032,
    "tick_kimg": 0.016,
    "snapshot_ticks": 1,
    "precision": "fp32",
    "deterministic": True,
    "progress": False,
    "tensorboard": False,
    "network": {"channel_base": 256, "channel_max": 32},
    "loss": {"r1_interval": 2, "pl_interval": 2},
}
# Every part each kind renders from the runs below (the directions run is on a world generator: readout too).
EXPECTED_PARTS = {
    "world": {"samples"},
    "training": {"options", "summary", "curves", "metrics", "samples"},
    "generated": {"samples"},
    "directions": {"options", "summary", "strips", "readout"},
    "direction-pictures": {"strips"},
    "saliency": {"summary", "scores", "pairs"},
    "inversion": {"options"},
    "inverted": {"metrics", "samples"},
    "regression": {"options", "calibration", "sorted", "predictions"},
    "genes": {"grids", "dnas"},
    "segment": {"summary", "merge", "masks"},
}
RESULTS = """# Benchmark results

<!-- bench:train -->
## Training speed

| network | img_per_s |
|---|---|
| cpu32 | 126.7 |

- target `img_per_s >= 100`: met
<!-- /bench:train -->

<!-- bench:oracle -->
## Oracles (no run of this report concerns them)
<!-- /bench:oracle -->
"""


def _invoke(*args: str) -> None:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output


def _training(root: Path) -> Path:
    from ganatomy.runs.options import options_from_dict
    from ganatomy.train.options import TrainOptions
    from ganatomy.train.run import run_training

    opts = options_from_dict(TrainOptions, {**TINY_TRAINING, "outdir": str(root / "train")})
    run = run_training(opts)
    # A metrics record as the training loop writes it (a real evaluation takes a minute).
    record = {"metric": "fd1k_oracle", "label": "FD-Oracle", "kimg": 0.032, "tick": 2, "value": 12.5}
    record["protocol"] = {"extractor": {"name": "oracle"}, "num": 1000, "comparable_with_published_fid": False}
    (run / "metrics.jsonl").write_text(json.dumps(record) + "\n")
    return run


def _gene_model(root: Path) -> Path:
    from ganatomy.nets import build_generator
    from ganatomy.zoo.shipped import save_generator

    torch.manual_seed(0)
    tiny = dict(img_resolution=8, z_dim=4, w_dim=16, channel_base=64, channel_max=16, up_mode="transposed")
    G = build_generator("stylegan2", {**tiny, "prior": {"kind": "genes", "variants": 5}}).eval()
    return save_generator(root / "genes.safetensors", G, {"kimg": 0}, dtype=torch.float32)


def _world_folder(folder: Path, n: int) -> Path:
    from ganatomy.data.world import WorldDataset
    from ganatomy.utils.images import save_png

    images = WorldDataset(32, size=n, seed=5).get_images(np.arange(n))
    folder.mkdir(parents=True)
    for i, image in enumerate(images.permute(0, 2, 3, 1).numpy()):
        save_png(folder / f"img{i}.png", image)
    return folder


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    """One folder holding a tiny run of every kind the report knows."""
    from ganatomy.directions.run import DirectionsFitOptions, fit_run

    root = tmp_path_factory.mktemp("report-runs")
    train = _training(root)
    snapshot = str(sorted(train.glob("network-snapshot-*.safetensors"))[-1])
    _invoke("world", "--outdir", str(root / "world"), "--seeds", "0-3", "--res", "32")
    _invoke("generate", "--network", snapshot, "--seeds", "0-3", "--outdir", str(root / "generate"))
    directions = root / "directions"
    fit_run(DirectionsFitOptions(network=snapshot, method="sefa", n_directions=3), directions, progress=False)
    _invoke("directions", "show", str(directions), "--seeds", "0-1", "--shifts", "3", "--indices", "0-1")
    saliency = root / "saliency"
    saliency.mkdir()
    (saliency / "saliency.json").write_text(
        json.dumps({"network": snapshot, "index": 1, "pairs": 30, "kept_share": 0.4, "world": {"u-net": {"iou": 0.5}}})
    )
    (saliency / "pairs.png").write_bytes((root / "world" / "masks.png").read_bytes())
    images = _world_folder(root / "images", 6)
    encoder = root / "invert"
    _invoke("invert", "train", "--network", snapshot, "--outdir", str(encoder), "--method", "optimize")
    _invoke("invert", "--encoder", str(encoder), "--images", str(images), "--refine-steps", "2")
    labels = root / "labels.csv"
    labels.write_text("file,label\nimg0.png,0.1\nimg1.png,0.9\n")
    regress = root / "regress"
    _invoke(
        "regress",
        "fit",
        "--encoder",
        str(encoder),
        "--images",
        str(images),
        "--labels",
        str(labels),
        "--out",
        str(regress),
    )
    _invoke("regress", "sort", "--images", str(images), "--model", str(regress), "--out", str(regress), "--show", "4")
    genes, gene_model = root / "genes", str(_gene_model(root))
    _invoke("genes", "sweep", "--network", gene_model, "--gene", "1", "--dna", "seed:0", "--outdir", str(genes))
    _invoke("genes", "mutate", "seed:1", "--network", gene_model, "--n", "3", "--outdir", str(genes))
    _invoke("segment", "fit", "--network", snapshot, "--outdir", str(root / "segment"), "--k0", "8", "--samples", "4")
    (segment,) = (root / "segment").iterdir()
    _invoke("segment", "show", str(segment), "--levels", "2,4", "--images", "2")
    return root


def _parts_by_kind(page: str) -> dict[str, set[str]]:
    """data-part names inside each data-kind block of the page."""
    found: dict[str, set[str]] = {}
    for block in re.split(r'(?=<div class="kind" data-kind=")', page)[1:]:
        kind = re.match(r'<div class="kind" data-kind="([^"]+)"', block).group(1)
        found.setdefault(kind, set()).update(re.findall(r'data-part="([^"]+)"', block))
    return found


def test_every_kind_is_recognised_and_renders_all_its_parts(runs, tmp_path):
    results = tmp_path / "results.md"
    results.write_text(RESULTS)
    out = write_report([runs], tmp_path / "report.html", results)
    page = out.read_text()
    assert _parts_by_kind(page) == EXPECTED_PARTS
    assert set(EXPECTED_PARTS) == {s.kind for s in SECTIONS}
    # Self-contained: every image is embedded, and the embedded PNGs decode.
    sources = re.findall(r'<img src="([^"]+)"', page)
    assert sources and all(s.startswith("data:image/") for s in sources)
    assert base64.b64decode(sources[0].split(",", 1)[1])[:4] == b"\x89PNG"
    # The protocol name of the metric, and the bench section of a kind present (not one of a kind absent).
    assert "fd1k_oracle" in page and "FD-Oracle" in page
    assert 'data-bench="train"' in page and "<td>126.7</td>" in page and 'data-bench="oracle"' not in page


def test_report_cli_writes_the_page_and_rejects_what_is_no_run(runs, tmp_path):
    out, results = tmp_path / "cli.html", tmp_path / "results.md"
    results.write_text(RESULTS)
    _invoke("report", str(runs / "genes"), str(runs / "world"), "--out", str(out), "--results", str(results))
    kinds = set(re.findall(r'<div class="kind" data-kind="([^"]+)"', out.read_text()))
    assert kinds == {"genes", "world"} and "data-bench=" not in out.read_text()  # no train run: no train bench
    (tmp_path / "empty").mkdir()
    with pytest.raises(OptionsError, match="no run directory found"):
        build_report([tmp_path / "empty"])
    with pytest.raises(OptionsError, match="is not a directory"):
        build_report([tmp_path / "missing"])


def test_without_compute_no_generator_is_loaded(runs):
    ctx = ReportContext(compute=False)
    page = build_report([runs / "directions"], results=None, context=ctx)
    assert ctx.generators == {}
    assert _parts_by_kind(page) == {"directions": {"options", "summary"}, "direction-pictures": {"strips"}}


def test_find_runs_descends_into_folders_and_skips_tensorboard(runs):
    found = {path.relative_to(runs).as_posix(): [s.kind for s in kinds] for path, kinds in find_runs([runs])}
    assert found["directions"] == ["directions"] and found["directions/show"] == ["direction-pictures"]
    assert found["invert"] == ["inversion"] and found["invert/inverted-images"] == ["inverted"]
    assert not any("tensorboard" in p for p in found)


def test_markdown_of_bench_sections():
    sections = bench_sections(RESULTS, ["train", "zoo"])
    assert list(sections) == ["train"]
    text = markdown(sections["train"])
    assert "<h4>Training speed</h4>" in text and "<th>img_per_s</th>" in text and "---" not in text
    assert "<li>target <code>img_per_s &gt;= 100</code>: met</li>" in text


def test_a_torn_last_log_line_is_skipped(tmp_path):
    from ganatomy.report.html import read_jsonl

    (tmp_path / "stats.jsonl").write_text('{"kimg": 1}\n{"kimg": 2, "lo')
    assert read_jsonl(tmp_path / "stats.jsonl") == [{"kimg": 1}]
