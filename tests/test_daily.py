"""Daily use on a user's own data: the dataset tool, evaluate on small and two-folder sets, --version, -h."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from ganatomy.cli import app
from ganatomy.data import ImageFolderDataset
from ganatomy.data.tool import make_dataset, read_labels_csv
from ganatomy.errors import DataError, OptionsError


def _noise(h: int, w: int, channels: int, seed: int) -> np.ndarray:
    shape = (h, w) if channels == 1 else (h, w, channels)
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


@pytest.fixture
def mixed_folder(tmp_path: Path) -> Path:
    """Seven files: PNG, JPEG, grey, RGBA, palette, non-square and in a subfolder; one corrupt, one too small,
    one text file."""
    src = tmp_path / "photos"
    (src / "sub").mkdir(parents=True)
    Image.fromarray(_noise(80, 80, 3, 0)).save(src / "a.png")
    Image.fromarray(_noise(120, 90, 3, 1)).save(src / "b.jpg", quality=90)
    Image.fromarray(_noise(70, 100, 1, 2)).save(src / "c_grey.png")
    Image.fromarray(_noise(64, 64, 4, 3), "RGBA").save(src / "d_rgba.png")
    Image.fromarray(_noise(100, 100, 3, 4)).convert("P").save(src / "sub" / "e_palette.png")
    Image.fromarray(_noise(16, 16, 3, 5)).save(src / "tiny.png")
    (src / "broken.png").write_bytes(Image.fromarray(_noise(80, 80, 3, 6)).tobytes()[:500])  # no PNG header
    good = tmp_path / "x.png"
    Image.fromarray(_noise(80, 80, 3, 7)).save(good)
    (src / "truncated.png").write_bytes(good.read_bytes()[:200])  # a PNG header, then nothing
    (src / "notes.txt").write_text("not an image")
    (src / ".DS_Store").write_bytes(b"\0\1")
    return src


def test_dataset_tool_on_mixed_sizes_and_formats(mixed_folder, tmp_path):
    report = make_dataset(mixed_folder, tmp_path / "out.zip", res=32)
    assert report.written == 5 and report.channels == 3 and report.labelled == 0
    reasons = {s.path: s.reason for s in report.skipped}
    assert reasons == {
        "tiny.png": "too small",
        "broken.png": "not an image PIL reads",
        "truncated.png": "unreadable or corrupt",
        "notes.txt": "not an image PIL reads",
    }
    summary = "\n".join(report.summary())
    assert "wrote 5 images (32x32 RGB, 0 labelled)" in summary
    assert "1 too small: tiny.png (16x16; center-crop needs 32 px" in summary
    ds = ImageFolderDataset(tmp_path / "out.zip")
    assert len(ds) == 5 and ds.resolution == 32 and ds.channels == 3
    sources = [rel for _, rel in ds.metadata["source_files"]]
    assert sources == ["a.png", "b.jpg", "c_grey.png", "d_rgba.png", "sub/e_palette.png"]


def test_dataset_tool_grey_wide_and_options(mixed_folder, tmp_path):
    grey = make_dataset(mixed_folder, tmp_path / "grey", res=16, channels=1, transform="center-crop-wide")
    ds = ImageFolderDataset(tmp_path / "grey")
    assert grey.written == 6 and ds.channels == 1 and ds.resolution == 16
    assert (ds.images[:, :, :4] == 0).all() and (ds.images[:, :, -4:] == 0).all()  # the wide strip's black bars
    square_only = make_dataset(mixed_folder, tmp_path / "square", res=16, transform="none")
    assert {s.path for s in square_only.skipped if s.reason == "not square"} == {"b.jpg", "c_grey.png"}
    with pytest.raises(OptionsError, match="power of two"):
        make_dataset(mixed_folder, tmp_path / "bad.zip", res=48)
    with pytest.raises(OptionsError, match="already exists"):
        make_dataset(mixed_folder, tmp_path / "grey", res=16)
    with pytest.raises(DataError, match="no usable images"):
        make_dataset(mixed_folder, tmp_path / "big.zip", res=256)
    assert not (tmp_path / "big.zip").exists()


def test_dataset_tool_labels_from_a_csv(mixed_folder, tmp_path):
    csv_path = mixed_folder / "labels.csv"  # inside the source: not taken for an image
    csv_path.write_text("filename,label\na.png,cat\nb.jpg,dog\ne_palette.png,cat\nmissing.png,dog\nc_grey.png,\n")
    report = make_dataset(mixed_folder, tmp_path / "labelled.zip", res=32, labels_csv=csv_path)
    assert report.labelled == 3 and report.unmatched_labels == ["missing.png"]
    assert "labels.csv" not in {s.path for s in report.skipped}
    ds = ImageFolderDataset(tmp_path / "labelled.zip")
    assert ds.labels.tolist() == [0, 1, -1, -1, 0] and ds.metadata["class_names"] == ["cat", "dog"]
    assert read_labels_csv(_write(tmp_path / "ints.csv", "a.png,3\nb.png,0\n")) == ({"a.png": 3, "b.png": 0}, None)
    with pytest.raises(DataError, match="row 1 must be filename,label"):
        read_labels_csv(_write(tmp_path / "bad.csv", "a.png,1,2\n"))


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_cli_dataset_and_the_loader_hint(mixed_folder, tmp_path):
    result = CliRunner().invoke(
        app,
        ["dataset", "--source", str(mixed_folder), "--dest", str(tmp_path / "o.zip"), "--res", "32", "--no-progress"],
    )
    assert result.exit_code == 0, result.output
    assert "wrote 5 images" in result.output and "skipped 4 file(s)" in result.output
    with pytest.raises(DataError, match="ganatomy dataset --source"):
        ImageFolderDataset(mixed_folder)  # b.jpg is not square


# --- evaluate on small sets and on two folders -------------------------------------------------


@pytest.fixture(scope="module")
def small_sets(tmp_path_factory) -> dict[str, Path]:
    """64 real 32x32 images (through the dataset tool), 64 other ones as the 'generated' folder, and a tiny
    untrained generator snapshot whose recorded training data is the real folder."""
    from ganatomy.nets.presets import get_preset
    from ganatomy.train.state import save_network_snapshot

    root = tmp_path_factory.mktemp("small")
    for name, offset in (("real", 0), ("fake", 100)):
        photos = root / f"{name}-photos"
        photos.mkdir()
        for i in range(64):
            Image.fromarray(_noise(40, 48, 3, offset + i)).save(photos / f"{i:03d}.png")
        make_dataset(photos, root / f"{name}.zip", res=32)
    preset = get_preset("cpu32")
    G = preset.build_generator(channel_base=256, channel_max=32)
    D = preset.build_discriminator(channel_base=256, channel_max=32)
    snapshot = root / "network-snapshot-000000.safetensors"
    save_network_snapshot(snapshot, G, D, {"options": {"data": str(root / "real.zip")}, "kimg": 0})
    return {"real": root / "real.zip", "fake": root / "fake.zip", "network": snapshot, "root": root}


@pytest.fixture
def small_effnet(monkeypatch):
    """The effnet judge replaced by a 16-d random conv net: the same plumbing, a hundred times faster
    (the real EfficientNet takes ~15 s per test on two busy cores)."""
    import torch

    import ganatomy.metrics.evaluate as evaluate_module
    from ganatomy.metrics.extractors import ModuleExtractor

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.Tanh())
    real_factories = evaluate_module.extractor_factories

    def factories(*args, **kw):
        return {**real_factories(*args, **kw), "effnet": lambda: ModuleExtractor(net, name="effnet", feature_dim=16)}

    monkeypatch.setattr(evaluate_module, "extractor_factories", factories)


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_evaluate_on_64_real_images_adapts_the_sizes(small_sets, small_effnet, tmp_path):
    args = [
        "evaluate",
        "--network",
        str(small_sets["network"]),
        "--num",
        "64",
        "--outdir",
        str(tmp_path),
        "--no-cache",
        "--no-progress",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    fd, kid, pr = _records(tmp_path / "metrics.jsonl")
    assert [fd["metric"], kid["metric"], pr["metric"]] == ["fd64_effnet", "kid64_effnet", "pr64_effnet"]
    assert fd["protocol"]["num_real"] == fd["protocol"]["num_fake"] == 64
    assert kid["protocol"]["kid_subset_size"] == 64 and kid["protocol"]["kid_subset_size_requested"] == 1000
    assert set(pr["results"]) == {"pr64_effnet", "pr64_effnet_precision", "pr64_effnet_recall"}


def test_evaluate_two_folders(small_sets, small_effnet, tmp_path):
    args = [
        "evaluate",
        "--real",
        str(small_sets["real"]),
        "--fake",
        str(small_sets["fake"]),
        "--outdir",
        str(tmp_path),
        "--metrics",
        "fd64_effnet,pr64_effnet",
        "--no-cache",
        "--no-progress",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    fd, pr = _records(tmp_path / "metrics.jsonl")
    assert fd["fake"] == str(small_sets["fake"]) and fd["data"] == str(small_sets["real"]) and "network" not in fd
    assert fd["protocol"]["fake"]["images"] == str(small_sets["fake"]) and fd["value"] > 0
    assert 0 <= pr["results"]["pr64_effnet_precision"] <= 1 and 0 <= pr["results"]["pr64_effnet_recall"] <= 1
    assert "precision=" in result.output and "recall=" in result.output


def test_evaluate_reports_a_failing_metric_and_keeps_the_others(small_sets, small_effnet, tmp_path):
    args = [
        "evaluate",
        "--real",
        str(small_sets["real"]),
        "--fake",
        str(small_sets["fake"]),
        "--outdir",
        str(tmp_path),
        "--metrics",
        "fd64_nosuch,fd64_effnet",
        "--no-cache",
        "--no-progress",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert "error: fd64_nosuch: metrics: no feature extractor 'nosuch'" in result.output
    assert [r["metric"] for r in _records(tmp_path / "metrics.jsonl")] == ["fd64_effnet"]


# --- habits: --version, -h, one-line warnings ----------------------------------------------------


def test_version_and_short_help():
    import ganatomy

    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"ganatomy {ganatomy.__version__}"
    for args in (["-h"], ["dataset", "-h"], ["evaluate", "-h"], ["train", "-h"]):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0 and "Usage:" in result.output, args


def test_warnings_print_as_one_line(capsys):
    import warnings

    from ganatomy.cli import show_warning_line

    show_warning_line(
        RuntimeWarning("metrics: the real set has 64 images,\n  fewer than 1000"), RuntimeWarning, "x.py", 3
    )
    assert capsys.readouterr().err == "warning: metrics: the real set has 64 images, fewer than 1000\n"
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = show_warning_line
        warnings.warn("a b", UserWarning, stacklevel=1)
    assert capsys.readouterr().err == "warning: a b\n"


# --- a file of another format as --network -------------------------------------------------------


def test_a_file_of_another_format_as_network_is_one_clear_line(small_sets, tmp_path):
    import pickle

    from ganatomy.errors import CheckpointError
    from ganatomy.nets.load import load_generator

    Image.fromarray(_noise(8, 8, 3, 0)).save(tmp_path / "face.png")
    (tmp_path / "notes.txt").write_text("hello\n")
    (tmp_path / "net.bin").write_bytes(pickle.dumps({"G_ema": 1}, protocol=4))
    cases = {
        small_sets["real"]: "an image dataset",
        tmp_path / "face.png": "a PNG image",
        tmp_path / "notes.txt": "a text file",
        tmp_path / "net.bin": "NVIDIA StyleGAN2/3 network pickle",
    }
    for path, what in cases.items():
        with pytest.raises(CheckpointError) as e:
            load_generator(path)
        message = str(e.value)
        assert what in message and "expected a ganatomy snapshot" in message and "\n" not in message, message
    result = CliRunner().invoke(app, ["evaluate", "--network", str(tmp_path / "face.png"), "--outdir", str(tmp_path)])
    assert isinstance(result.exception, CheckpointError) and "a PNG image" in str(result.exception)


def test_top_level_api_serves_every_entry_point_lazily():
    import subprocess
    import sys

    import ganatomy

    for name in ganatomy.__all__:
        value = getattr(ganatomy, name)
        assert value is not None and (name == "__version__" or callable(value)), name
    assert "KLiSH" in dir(ganatomy) and "LatentRegressor" in dir(ganatomy)
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        ganatomy.nothing  # noqa: B018
    # importing the package (the CLI's start) does not import torch
    code = "import sys, ganatomy; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


def test_device_flag_resolves_and_refuses_what_is_not_there(tmp_path):
    import torch

    from ganatomy.cli.options import resolve_device
    from ganatomy.errors import OptionsError

    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("CPU") == "cpu"
    with pytest.raises(OptionsError, match="use auto"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(OptionsError, match="sees no GPU"):
            resolve_device("cuda:0")
    result = CliRunner().invoke(
        app,
        [
            "evaluate",
            "--network",
            "world32-stylegan2",
            "--inception-weights",
            str(tmp_path / "no.pt"),
            "--outdir",
            str(tmp_path),
        ],
    )
    assert result.exit_code != 0 and "no such file" in str(result.exception or result.output)


def test_evaluate_reads_a_zoo_models_training_data_from_its_record():
    from ganatomy.cli.evaluate import _snapshot_data

    assert _snapshot_data("world32-stylegan2") == "world:32"
    assert _snapshot_data("no-such-model") is None
