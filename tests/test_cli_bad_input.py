"""Bad input to the method commands (directions, invert, regress, segment, genes, evaluate, oracle): one
``error:`` line, exit code 2, no traceback, and nothing written. Each case was a traceback, a silent
success or a left-over file before it was fixed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganatomy.bench.faults import run_cli

pytestmark = pytest.mark.usefixtures("one_thread")

NET = "world32-stylegan2"


def _ok(*args: str) -> None:
    outcome = run_cli([str(a) for a in args])
    assert outcome.code == 0 and outcome.escaped is None, (args, outcome.stderr, outcome.escaped)


def _refused(args: list[str], fragment: str) -> str:
    outcome = run_cli([str(a) for a in args])
    assert outcome.clean_refusal, (args, outcome.code, outcome.stderr, outcome.escaped)
    assert fragment in outcome.stderr, (fragment, outcome.stderr)
    return outcome.stderr


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> dict[str, Path]:
    """Small inputs made once: world images, a file, an inversion directory, a directions run, label CSVs."""
    root = tmp_path_factory.mktemp("bad-input")
    images = root / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(images / f"im{i}.png")
    (root / "file").write_text("not a folder\n")
    _ok("invert", "train", "--network", NET, "--method", "optimize", "--refine-steps", "1", "--outdir", root / "inv")
    fit = ["directions", "fit", "--network", NET, "--method", "sefa", "--k", "3", "--no-progress"]
    _ok(*fit, "--outdir", root / "dirs")
    (run,) = (root / "dirs").iterdir()
    return {"root": root, "images": images, "file": root / "file", "inv": root / "inv", "dirs": run}


def _out(work) -> Path:
    out = work["root"] / "out"
    assert not out.exists()
    return out


# ---------------------------------------------------------------------------- directions
@pytest.mark.parametrize(
    "extra, fragment",
    [
        (["--network", "nope.safetensors", "--method", "sefa"], "nope.safetensors: no such network file"),
        (["--network", NET, "--method", "ganspace", "--samples", "8", "--feature", "nosuch"], "unknown feature"),
    ],
)
def test_directions_fit_refused_leaves_no_run_directory(work, extra, fragment):
    out = _out(work)
    _refused(["directions", "fit", *extra, "--k", "2", "--outdir", out, "--no-progress"], fragment)
    assert not out.exists()


def test_directions_show_out_is_a_file(work):
    _refused(["directions", "show", work["dirs"], "--out", work["file"]], "is a file")


@pytest.mark.parametrize(
    "extra, fragment",
    [
        (["--pairs", "0"], "--pairs and --steps must be >= 2 and >= 1"),
        (["--steps", "-1"], "--pairs and --steps must be >= 2 and >= 1"),
        (["--shift", "nan"], "--shift must be a finite number > 0"),
        (["--index", "-1"], "--index must be >= 0"),
    ],
)
def test_directions_saliency_bad_numbers(work, extra, fragment):
    out = _out(work)
    args = ["directions", "saliency", "--network", NET, "--pairs", "8", "--steps", "1", "--no-world-eval"]
    _refused([*args, *extra, "--outdir", out], fragment)
    assert not out.exists()


# ---------------------------------------------------------------------------- invert
def test_invert_train_nan_image_weight(work):
    out = _out(work)
    args = ["invert", "train", "--network", NET, "--steps", "1", "--pairs", "4", "--batch", "2", "--no-progress"]
    _refused([*args, "--image-weight", "nan", "--outdir", out], "image_weight must be finite")
    assert not out.exists()


@pytest.mark.parametrize(
    "extra, fragment", [(["--refine-steps", "-1"], "--refine-steps must be >= 0"), (["--limit", "0"], "--limit must")]
)
def test_invert_bad_counts(work, extra, fragment):
    out = _out(work)
    _refused(["invert", "--encoder", work["inv"], "--images", work["images"], *extra, "--out", out], fragment)
    assert not out.exists()


# ---------------------------------------------------------------------------- regress
@pytest.mark.parametrize(
    "content, fragment",
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00binary", "not a CSV text file"),
        (b"file\nim0.png\nim1.png\n", "has no label column beside 'file'"),
        (b"file,label\nim0.png,1\nim0.png,2\nim1.png,3\n", "im0.png is labelled twice"),
    ],
)
def test_regress_fit_bad_labels(work, tmp_path, content, fragment):
    labels = tmp_path / "labels.csv"
    labels.write_bytes(content)
    out = _out(work)
    args = ["regress", "fit", "--encoder", work["inv"], "--images", work["images"], "--labels", labels]
    _refused([*args, "--out", out], fragment)
    assert not out.exists()


@pytest.mark.parametrize("show", ["0", "-1"])
def test_regress_sort_show_below_one(work, show):
    out = _out(work)
    args = ["regress", "sort", "--images", work["images"], "--encoder", work["inv"], "--direction", work["dirs"]]
    _refused([*args, "--show", show, "--out", out], "--show must be >= 1")
    assert not out.exists()


def test_regressor_negative_index_is_not_the_supervised_marker():
    from ganatomy.latent import Directions
    from ganatomy.regress import LatentRegressor

    latents = torch.randn(6, 4, generator=torch.Generator().manual_seed(0))
    reg = LatentRegressor(Directions(torch.eye(4)[:3], "w"), index=-1).fit_latents(latents, latents[:, 2].numpy())
    assert reg.index_ == 2  # the last direction, recorded by its position (-1 means a supervised normal)


# ---------------------------------------------------------------------------- segment
@pytest.fixture(scope="module")
def segment_files(work) -> dict[str, Path]:
    """A tiny KLiSH run, its (image, mask) pairs and a mask-to-image generator trained for one step."""
    root = work["root"] / "segment"
    _ok("segment", "fit", "--network", NET, "--k0", "6", "--samples", "4", "--outdir", root / "runs")
    (run,) = (root / "runs").iterdir()
    _ok("segment", "synth", run, "--out", root / "pairs", "--n", "4")
    _ok("segment", "m2i", "train", "--data", root / "pairs", "--out", root / "m2i.safetensors", "--steps", "1")
    return {"run": run, "pairs": root / "pairs", "m2i": root / "m2i.safetensors"}


def test_segment_show_bad_images_and_out(work, segment_files):
    out = _out(work)
    _refused(["segment", "show", segment_files["run"], "--images", "0", "--out", out], "--images must be >= 1")
    assert not out.exists()
    _refused(["segment", "show", segment_files["run"], "--out", work["file"]], "is a file")


def test_segment_predict_refuses_images_of_another_size(work, segment_files, tmp_path):
    """The U-Net is fully convolutional, so 64-pixel images would run through a 32-pixel segmenter unseen."""
    seg = tmp_path / "seg.safetensors"
    _ok("segment", "train", "--data", segment_files["pairs"], "--out", seg, "--steps", "1", "--batch", "2")
    _ok("segment", "predict", seg, "--images", work["images"], "--out", tmp_path / "masks")
    big = tmp_path / "big"
    big.mkdir()
    Image.fromarray(np.zeros((64, 64, 3), dtype=np.uint8)).save(big / "a.png")
    out = tmp_path / "out"
    _refused(["segment", "predict", seg, "--images", big, "--out", out], "the segmenter was trained at 32x32")
    assert not out.exists()


def test_segment_predict_out_is_a_file(work):
    _refused(["segment", "predict", "any.safetensors", "--images", work["images"], "--out", work["file"]], "is a file")


@pytest.mark.parametrize("command", [["segment", "train"], ["segment", "m2i", "train"]])
def test_segment_training_nan_learning_rate(work, segment_files, command):
    out = _out(work)
    args = [*command, "--data", segment_files["pairs"], "--steps", "1", "--batch", "2", "--lr", "nan"]
    _refused([*args, "--out", out / "net.safetensors"], "learning rate must be a finite number > 0")
    assert not out.exists()


def test_m2i_generate_bad_masks_and_files(work, segment_files, tmp_path):
    out = _out(work)
    m2i = segment_files["m2i"]
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "m.png").write_bytes(bytes(range(256)))
    _refused(["segment", "m2i", "generate", m2i, "--masks", corrupt, "--out", out], "m.png: cannot read the mask")
    _refused(["segment", "m2i", "generate", m2i, "--masks", tmp_path / "nodir", "--out", out], "no such folder")
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(mixed / "a.png")
    Image.fromarray(np.zeros((23, 17), np.uint8)).save(mixed / "b.png")
    _refused(["segment", "m2i", "generate", m2i, "--masks", mixed, "--out", out], "masks differ in size")
    masks = segment_files["pairs"] / "masks"
    _refused(["segment", "m2i", "generate", m2i, "--masks", masks, "--out", work["file"]], "is a file")
    not_m2i = work["dirs"] / "directions.safetensors"
    _refused(["segment", "m2i", "generate", not_m2i, "--masks", masks, "--out", out], f"{not_m2i}: not a mask-to")
    assert not out.exists()


# ---------------------------------------------------------------------------- genes
@pytest.mark.parametrize(
    "args, fragment",
    [
        (["sweep", "--gene", "0", "--dna", "3.x.1"], "DNA '3.x.1': gene 1 is 'x'"),
        (["sweep", "--gene", "99"], "gene 99"),
        (["cross", "seed:0", "seed:1", "--children", "0"], "--children must be >= 1"),
        (["mutate", "seed:0", "--n", "0"], "--n must be >= 1"),
        (["attribution", "--top", "0"], "--top must be >= 1"),
        (["sample", "--attr", "glasses=on", "--n", "-1"], "--n must be >= 1"),
        (["sample", "--attr", "glasses=on", "--top-genes", "0"], "--top-genes must be >= 1"),
        (["sample", "--attr", "glasses=on", "--attr", "glasses=off"], "--attr glasses is given twice"),
        (["sample", "--attr", "glasses=on", "--temperature", "inf"], "--temperature must be a finite number > 0"),
        # an unknown attribute is refused before minutes of judging samples (and saving their statistics)
        (["sample", "--attr", "nosuch=1"], "unknown attribute 'nosuch'"),
        (["sweep", "--attr", "nosuch"], "unknown attribute 'nosuch'"),
    ],
)
def test_genes_refused_leaves_no_outdir(work, args, fragment):
    out = _out(work)
    _refused(["genes", *args, "--outdir", out], fragment)
    assert not out.exists()


# ---------------------------------------------------------------------------- evaluate, oracle
def test_evaluate_outdir_is_a_file(work):
    _refused(["evaluate", "--network", NET, "--metrics", "fd50_oracle", "--outdir", work["file"]], "is a file")


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["train", "--steps", "1", "--batch", "2", "--eval-images", "0"], "--eval-images must be >= 1"),
        (["train", "--steps", "1", "--batch", "2", "--eval-images", "4", "--out", "{file}/o.safetensors"], "a file"),
        (["train-fmnist", "--epochs", "nan"], "--epochs and --batch must be > 0"),
        (["train-fmnist", "--epochs", "0.01", "--out", "{file}/f.safetensors"], "which is a file"),
    ],
)
def test_oracle_training_refused_before_it_starts(work, args, fragment):
    out = _out(work)
    args = [a.replace("{file}", str(work["file"])) for a in args]
    if "--out" not in args:
        args += ["--out", str(out / "oracle.safetensors")]
    _refused(["oracle", *args], fragment)
    assert not out.exists()


def test_fixture_inputs_are_usable(work):
    """The refusals above are about the bad input: the same commands accept the good one."""
    assert json.loads((work["inv"] / "invert.json").read_text())
    assert (work["dirs"] / "directions.safetensors").is_file()


# ---------------------------------------------------------------------------- usage errors
@pytest.mark.parametrize(
    "args, fragment",
    [
        (["train", "--nosuch"], "error: No such option: --nosuch (see 'ganatomy train --help')"),
        (["train", "--kimg", "abc"], "error: Invalid value for '--kimg'"),
        (["nosuchcmd"], "error: No such command 'nosuchcmd'."),
        (["segment", "predict"], "error: Missing argument 'segmenter'."),
    ],
)
def test_usage_errors_are_one_line_too(args, fragment):
    """The framework's own usage errors: one line naming the problem and where the help is, exit code 2."""
    _refused(args, fragment)


def test_help_and_version_still_exit_0():
    for args in (["--version"], ["train", "-h"]):
        assert run_cli(args).code == 0, args
