"""Datasets: image folders and zips, Fashion-MNIST IDX files, labelled subsets, the resolver.

Every test builds its own tiny files with known pixels in tmp_path and checks exact answers.
"""

from __future__ import annotations

import gzip
import json
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganatomy.data import (
    FashionMNIST,
    ImageFolderDataset,
    RelabelledDataset,
    labelled_subset,
    open_dataset,
    with_label_fraction,
)
from ganatomy.data import fashion_mnist as fm
from ganatomy.errors import DataError, OptionsError
from ganatomy.worlds.export import export_world
from ganatomy.worlds.render import FaceWorld, image_seeds

REAL_FASHION = Path("/usr/share/datasets/fashion-mnist")


# ------------------------------------------------------------------------------------------------
# helpers


def _rng_image(seed: int, size: int = 8, channels: int = 3) -> np.ndarray:
    shape = (size, size, channels) if channels == 3 else (size, size)
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def _save(path: Path, array: np.ndarray, fmt: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, format=fmt)
    return path


def _write_json(path: Path, obj) -> None:
    path.write_text(json.dumps(obj))


def _zip_folder(folder: Path, zip_path: Path, prefix: str = "") -> Path:
    with zipfile.ZipFile(zip_path, "w") as zf:
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                zf.write(p, prefix + p.relative_to(folder).as_posix())
    return zip_path


def _chw(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(array[None] if array.ndim == 2 else array.transpose(2, 0, 1).copy())


def _idx_bytes(magic: int, array: np.ndarray) -> bytes:
    return struct.pack(f">I{array.ndim}I", magic, *array.shape) + array.astype(np.uint8).tobytes()


def _write_idx(path: Path, magic: int, array: np.ndarray) -> None:
    path.write_bytes(gzip.compress(_idx_bytes(magic, array)))


def _fashion_folder(root: Path, n_train: int = 5, n_test: int = 3) -> tuple[dict, dict]:
    """IDX .gz files with known pixels; returns {split: images} and {split: labels}."""
    root.mkdir(parents=True, exist_ok=True)
    images, labels = {}, {}
    for split, stem, n, offset in (("train", "train", n_train, 0), ("test", "t10k", n_test, 100)):
        x = (np.arange(28 * 28).reshape(28, 28)[None] + 7 * np.arange(n)[:, None, None] + offset) % 256
        images[split] = x.astype(np.uint8)
        labels[split] = ((np.arange(n) * 3 + offset) % 10).astype(np.uint8)
        _write_idx(root / f"{stem}-images-idx3-ubyte.gz", fm.IMAGES_MAGIC, images[split])
        _write_idx(root / f"{stem}-labels-idx1-ubyte.gz", fm.LABELS_MAGIC, labels[split])
    return images, labels


def _assert_one_line_error(excinfo, *names: str) -> None:
    msg = str(excinfo.value)
    assert "\n" not in msg, msg
    for name in names:
        assert name in msg, f"{name!r} not in {msg!r}"


# ------------------------------------------------------------------------------------------------
# image folders and zips


def test_folder_round_trip_is_pixel_exact_in_sorted_order(tmp_path):
    root = tmp_path / "set"
    a, b, c = _rng_image(1), _rng_image(2), _rng_image(3)
    _save(root / "b.png", b)
    _save(root / "a.bmp", a)
    _save(root / "sub" / "c.png", c)
    (root / "notes.txt").write_text("not an image")
    _save(root / ".hidden.png", _rng_image(9))  # hidden files and macOS debris are not images
    _save(root / "__MACOSX" / "x.png", _rng_image(9))
    ds = ImageFolderDataset(root)
    assert ds.relpaths == ["a.bmp", "b.png", "sub/c.png"]
    assert (len(ds), ds.channels, ds.resolution, ds.name) == (3, 3, 8, "set")
    assert torch.equal(ds.get_images(np.arange(3)), torch.stack([_chw(a), _chw(b), _chw(c)]))
    assert ds.labels.tolist() == [-1, -1, -1] and ds.num_classes == 0 and not ds.has_labels
    image, label = ds[2]
    assert torch.equal(image, _chw(c)) and label == -1
    assert ds.get_masks(np.arange(3)) is None and ds.get_factors(np.arange(3)) is None


def test_grey_and_rgb_modes(tmp_path):
    grey = tmp_path / "grey"
    g0, g1 = _rng_image(4, channels=1), _rng_image(5, channels=1)
    _save(grey / "0.png", g0)
    _save(grey / "1.png", g1)
    auto = ImageFolderDataset(grey)  # all grey: stays one channel
    assert auto.channels == 1 and torch.equal(auto.images, torch.stack([_chw(g0), _chw(g1)]))
    rgb = ImageFolderDataset(grey, mode="rgb")  # grey widened to three equal planes
    assert rgb.channels == 3
    for ch in range(3):
        assert torch.equal(rgb.images[:, ch], torch.from_numpy(np.stack([g0, g1])))

    mixed = tmp_path / "mixed"
    colour = np.zeros((8, 8, 3), np.uint8)
    colour[..., 0] = 255  # pure red
    colour[4:, :, :] = (0, 255, 0)  # bottom half pure green
    colour[:, 4:, :] = (0, 0, 255)  # right half pure blue
    _save(mixed / "0.png", g0)
    _save(mixed / "1.png", colour)
    auto_mixed = ImageFolderDataset(mixed)  # one colour image makes the set RGB
    assert auto_mixed.channels == 3
    assert torch.equal(auto_mixed.images[0], torch.from_numpy(np.stack([g0] * 3)))
    assert torch.equal(auto_mixed.images[1], _chw(colour))
    as_grey = ImageFolderDataset(mixed, mode="grey")  # ITU-R 601-2 luma: red 76, green 150, blue 29
    assert as_grey.channels == 1
    assert torch.equal(as_grey.images[0, 0], torch.from_numpy(g0))
    assert int(as_grey.images[1, 0, 0, 0]) == 76
    assert int(as_grey.images[1, 0, 7, 0]) == 150
    assert int(as_grey.images[1, 0, 0, 7]) == 29


def test_rgb_mode_replicates_grey(tmp_path):
    g = _rng_image(6, channels=1)
    _save(tmp_path / "s" / "0.png", g)
    ds = ImageFolderDataset(tmp_path / "s", mode="rgb")
    assert ds.images.shape == (1, 3, 8, 8)
    for ch in range(3):
        assert torch.equal(ds.images[0, ch], torch.from_numpy(g))


def test_palette_and_16_bit_images(tmp_path):
    idx = np.arange(64, dtype=np.uint8).reshape(8, 8) % 4
    grey_pal = Image.fromarray(idx, mode="P")
    grey_pal.putpalette([0, 0, 0, 60, 60, 60, 120, 120, 120, 250, 250, 250])
    (tmp_path / "pal").mkdir()
    grey_pal.save(tmp_path / "pal" / "0.png")
    ds = ImageFolderDataset(tmp_path / "pal")  # a palette of greys counts as grey
    assert ds.channels == 1 and torch.equal(
        ds.images[0, 0], torch.from_numpy(np.array([0, 60, 120, 250], np.uint8)[idx])
    )
    colour_pal = Image.fromarray(idx, mode="P")
    colour_pal.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 9, 9])
    colour_pal.save(tmp_path / "pal" / "1.png")
    ds = ImageFolderDataset(tmp_path / "pal")
    assert ds.channels == 3
    assert ds.images[1, :, 0, 0].tolist() == [255, 0, 0] and ds.images[1, :, 0, 2].tolist() == [0, 0, 255]
    assert ds.images[0, :, 0, 3].tolist() == [250, 250, 250]

    # 16-bit grey keeps its top 8 bits (PIL's own convert("L") would clip everything to 255)
    deep = np.array([[0x1234, 0xFFFF], [0x00FF, 0x8000]], np.uint16)
    _save(tmp_path / "d" / "x.png", deep)
    ds = ImageFolderDataset(tmp_path / "d")
    assert ds.channels == 1 and ds.images[0, 0].tolist() == [[0x12, 0xFF], [0x00, 0x80]]


def test_dataset_json_labels_choose_images_and_order(tmp_path):
    root = tmp_path / "lab"
    imgs = {f"images/{i}.png": _rng_image(10 + i) for i in range(4)}
    for rel, arr in imgs.items():
        _save(root / rel, arr)
    _save(root / "masks" / "0.png", np.zeros((8, 8), np.uint8))  # beside the images, not listed
    order = [["images/3.png", 2], ["images/0.png", None], ["images/2.png", 5], ["images/1.png", -1]]
    _write_json(root / "dataset.json", {"labels": order})
    ds = ImageFolderDataset(root)
    assert ds.relpaths == [e[0] for e in order]
    assert ds.labels.tolist() == [2, -1, 5, -1] and ds.labels.dtype == np.int64
    assert ds.num_classes == 6 and ds.has_labels
    images, labels = ds.get_batch(np.array([2, 0]))
    assert torch.equal(images[0], _chw(imgs["images/2.png"])) and torch.equal(images[1], _chw(imgs["images/3.png"]))
    assert labels.tolist() == [5, 2]


def test_dataset_json_null_labels_scans_folder(tmp_path):
    root = tmp_path / "nolab"
    _save(root / "x.png", _rng_image(1))
    _save(root / "y.png", _rng_image(2))
    _write_json(root / "dataset.json", {"labels": None})
    ds = ImageFolderDataset(root)
    assert ds.relpaths == ["x.png", "y.png"] and ds.labels.tolist() == [-1, -1] and ds.num_classes == 0


def test_zip_matches_folder_with_and_without_top_folder(tmp_path):
    root = tmp_path / "z"
    for i in range(3):
        _save(root / f"{i}.png", _rng_image(20 + i))
    _write_json(root / "dataset.json", {"labels": [["2.png", 1], ["0.png", 0], ["1.png", 1]]})
    folder = ImageFolderDataset(root)
    flat = ImageFolderDataset(_zip_folder(root, tmp_path / "flat.zip"))
    nested = ImageFolderDataset(_zip_folder(root, tmp_path / "nested.zip", prefix="z/"))
    for ds in (flat, nested):
        assert torch.equal(ds.images, folder.images)
        assert ds.labels.tolist() == [1, 0, 1] and ds.relpaths == ["2.png", "0.png", "1.png"]
    assert flat.name == "flat"


def _world_like(root: Path) -> tuple[list[np.ndarray], list[np.ndarray]]:
    images = [_rng_image(30 + i) for i in range(3)]
    masks = [np.full((8, 8), i, np.uint8) for i in range(3)]
    masks[1][2:5, 3:6] = 7
    for i in range(3):
        _save(root / "images" / f"{i}.png", images[i])
        _save(root / "masks" / f"{i}.png", masks[i])
    meta = {
        "labels": [[f"images/{i}.png", i % 2] for i in range(3)],
        "masks": [[f"images/{i}.png", f"masks/{i}.png"] for i in (2, 0, 1)],  # any order
        "factors": {
            "names": ["hue", "shape"],
            "values": {f"images/{i}.png": [0.25 * i, i + 1] for i in range(3)},
        },
        "part_labels": ["background", "body", "eye"],
        "label_factor": "shape",
    }
    _write_json(root / "dataset.json", meta)
    return images, masks


def test_masks_factors_and_extra_keys(tmp_path):
    images, masks = _world_like(tmp_path / "w")
    ds = ImageFolderDataset(tmp_path / "w")
    assert torch.equal(ds.images, torch.stack([_chw(x) for x in images]))
    got = ds.get_masks(np.array([1, 2]))
    assert got.dtype == torch.uint8 and got.shape == (2, 8, 8)
    assert torch.equal(got, torch.from_numpy(np.stack([masks[1], masks[2]])))
    f = ds.get_factors(np.array([2, 0]))
    assert set(f) == {"hue", "shape"} and ds.factor_names == ["hue", "shape"]
    assert f["hue"].dtype == np.float64 and f["hue"].tolist() == [0.5, 0.0]
    assert f["shape"].dtype == np.int64 and f["shape"].tolist() == [3, 1]
    assert ds.part_labels == ["background", "body", "eye"] and ds.label_factor == "shape"
    assert ds.num_classes == 2  # labels 0, 1, 0
    meta = json.loads((tmp_path / "w" / "dataset.json").read_text())
    meta["factor_classes"] = {"shape": ["round", "square", "star", "moon"]}
    _write_json(tmp_path / "w" / "dataset.json", meta)
    assert ImageFolderDataset(tmp_path / "w").num_classes == 4  # the class list counts, not the max label
    # a relabelled view passes the ground truth through
    view = ds.with_labels(np.array([-1, -1, 0]))
    assert isinstance(view, RelabelledDataset)
    assert torch.equal(view.get_masks(np.array([1])), got[:1])
    assert view.get_factors(np.array([1]))["hue"].tolist() == [0.25]


def test_exported_world_reads_back_exactly(tmp_path):
    truth = FaceWorld(32).render_seeds(image_seeds(3, range(4)))
    for path in (tmp_path / "w", tmp_path / "w.zip"):
        export_world(path, count=4, res=32, seed=3)
        ds = open_dataset(str(path))
        assert np.array_equal(ds.images.permute(0, 2, 3, 1).numpy(), truth.images)
        assert np.array_equal(ds.get_masks(np.arange(4)).numpy(), truth.masks)
        factors = ds.get_factors(np.arange(4))
        assert set(factors) == set(truth.factors)
        for name, values in truth.factors.items():
            assert np.array_equal(factors[name], values), name
        assert np.array_equal(ds.labels, truth.factors[ds.label_factor])
        assert ds.num_classes == len(ds.factor_classes[ds.label_factor])


def test_progress_bar_does_not_change_the_result(tmp_path):
    for i in range(3):
        _save(tmp_path / "p" / f"{i}.png", _rng_image(40 + i))
    quiet = ImageFolderDataset(tmp_path / "p", progress=False)
    loud = ImageFolderDataset(tmp_path / "p", progress=True)
    assert torch.equal(quiet.images, loud.images)


# Each bad input: (build the folder; return the path to open and the names the message must contain)
def _bad_missing(t: Path):
    return t / "nowhere", ["nowhere"]


def _bad_empty(t: Path):
    (t / "empty").mkdir()
    (t / "empty" / "readme.txt").write_text("x")
    return t / "empty", ["empty", "no images"]


def _bad_corrupt(t: Path):
    _save(t / "s" / "ok.png", _rng_image(1))
    (t / "s" / "broken.png").write_bytes(b"this is not a png at all")
    return t / "s", ["broken.png"]


def _bad_truncated(t: Path):
    _save(t / "s" / "a.png", _rng_image(1, size=64))
    full = _save(t / "s" / "cut.png", _rng_image(2, size=64)).read_bytes()
    (t / "s" / "cut.png").write_bytes(full[: len(full) // 2])
    return t / "s", ["cut.png"]


def _bad_mixed(t: Path):
    _save(t / "s" / "a.png", _rng_image(1, size=8))
    _save(t / "s" / "b.png", _rng_image(2, size=16))
    return t / "s", ["a.png", "b.png", "8x8", "16x16"]


def _bad_nonsquare(t: Path):
    _save(t / "s" / "wide.png", np.zeros((8, 16, 3), np.uint8))
    return t / "s", ["wide.png", "square"]


def _bad_not_pow2(t: Path):
    _save(t / "s" / "twelve.png", np.zeros((12, 12, 3), np.uint8))
    return t / "s", ["twelve.png", "power of two"]


def _bad_json_syntax(t: Path):
    _save(t / "s" / "a.png", _rng_image(1))
    (t / "s" / "dataset.json").write_text('{"labels": [["a.png", 0],]')
    return t / "s", ["dataset.json", "invalid JSON"]


def _bad_json_structure(t: Path):
    _save(t / "s" / "a.png", _rng_image(1))
    _write_json(t / "s" / "dataset.json", [["a.png", 0]])
    return t / "s", ["dataset.json"]


def _bad_labels_not_list(t: Path):
    _save(t / "s" / "a.png", _rng_image(1))
    _write_json(t / "s" / "dataset.json", {"labels": {"a.png": 0}})
    return t / "s", ["dataset.json", "labels"]


def _bad_label_missing_file(t: Path):
    _save(t / "s" / "a.png", _rng_image(1))
    _write_json(t / "s" / "dataset.json", {"labels": [["a.png", 0], ["ghost.png", 1]]})
    return t / "s", ["dataset.json", "ghost.png"]


def _bad_label_not_int(t: Path):
    _save(t / "s" / "a.png", _rng_image(1))
    _write_json(t / "s" / "dataset.json", {"labels": [["a.png", "cat"]]})
    return t / "s", ["dataset.json", "a.png", "cat"]


def _bad_label_entry_shape(t: Path):
    _save(t / "s" / "a.png", _rng_image(1))
    _write_json(t / "s" / "dataset.json", {"labels": [["a.png"]]})
    return t / "s", ["dataset.json", "labels[0]"]


def _bad_label_below_minus_one(t: Path):
    _save(t / "s" / "a.png", _rng_image(1))
    _write_json(t / "s" / "dataset.json", {"labels": [["a.png", -3]]})
    return t / "s", ["dataset.json", "a.png", "-3"]


def _bad_label_duplicate(t: Path):
    _save(t / "s" / "a.png", _rng_image(1))
    _write_json(t / "s" / "dataset.json", {"labels": [["a.png", 0], ["a.png", 1]]})
    return t / "s", ["dataset.json", "a.png", "twice"]


def _bad_labels_empty(t: Path):
    _save(t / "s" / "a.png", _rng_image(1))
    _write_json(t / "s" / "dataset.json", {"labels": []})
    return t / "s", ["dataset.json", "empty"]


def _bad_mask_rgb(t: Path):
    _world_like(t / "w")
    _save(t / "w" / "masks" / "1.png", _rng_image(3))
    return t / "w", ["masks/1.png", "single-channel"]


def _bad_mask_size(t: Path):
    _world_like(t / "w")
    _save(t / "w" / "masks" / "2.png", np.zeros((16, 16), np.uint8))
    return t / "w", ["masks/2.png", "16x16"]


def _bad_mask_missing_for_image(t: Path):
    _world_like(t / "w")
    meta = json.loads((t / "w" / "dataset.json").read_text())
    meta["masks"] = meta["masks"][:2]
    _write_json(t / "w" / "dataset.json", meta)
    return t / "w", ["dataset.json", "images/1.png"]


def _bad_factor_length(t: Path):
    _world_like(t / "w")
    meta = json.loads((t / "w" / "dataset.json").read_text())
    meta["factors"]["values"]["images/2.png"] = [0.5]
    _write_json(t / "w" / "dataset.json", meta)
    return t / "w", ["dataset.json", "images/2.png"]


def _bad_zip(t: Path):
    (t / "fake.zip").write_bytes(b"PK\x03\x04 not really a zip")
    return t / "fake.zip", ["fake.zip"]


def _bad_zip_member(t: Path):
    _save(t / "s" / "good.png", _rng_image(1))
    _save(t / "s" / "bad.png", _rng_image(2))
    z = _zip_folder(t / "s", t / "s.zip")
    # overwrite the member's compressed bytes: the zip opens, the member fails its CRC or decoder
    data = bytearray(z.read_bytes())
    with zipfile.ZipFile(z) as zf:
        info = zf.getinfo("bad.png")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    data[start + 20 : start + 60] = b"\x00" * 40
    z.write_bytes(bytes(data))
    return z, ["bad.png"]


@pytest.mark.parametrize(
    "build",
    [
        _bad_missing,
        _bad_empty,
        _bad_corrupt,
        _bad_truncated,
        _bad_mixed,
        _bad_nonsquare,
        _bad_not_pow2,
        _bad_json_syntax,
        _bad_json_structure,
        _bad_labels_not_list,
        _bad_label_missing_file,
        _bad_label_not_int,
        _bad_label_entry_shape,
        _bad_label_below_minus_one,
        _bad_label_duplicate,
        _bad_labels_empty,
        _bad_mask_rgb,
        _bad_mask_size,
        _bad_mask_missing_for_image,
        _bad_factor_length,
        _bad_zip,
        _bad_zip_member,
    ],
    ids=lambda f: f.__name__[5:],
)
def test_bad_folder_input_gives_one_line_error_naming_the_file(tmp_path, build):
    path, names = build(tmp_path)
    with pytest.raises(DataError) as excinfo:
        ImageFolderDataset(path)
    _assert_one_line_error(excinfo, *names)


def test_unknown_mode_is_an_options_error(tmp_path):
    _save(tmp_path / "s" / "a.png", _rng_image(1))
    with pytest.raises(OptionsError, match="cmyk"):
        ImageFolderDataset(tmp_path / "s", mode="cmyk")


# ------------------------------------------------------------------------------------------------
# Fashion-MNIST


def test_fashion_mnist_padding_places_image_at_offset_2(tmp_path):
    images, labels = _fashion_folder(tmp_path / "f")
    ds = FashionMNIST(tmp_path / "f")
    assert (len(ds), ds.channels, ds.resolution, ds.num_classes, ds.name) == (5, 1, 32, 10, "fashion-mnist")
    x = ds.get_images(np.arange(5))
    assert x.shape == (5, 1, 32, 32) and x.dtype == torch.uint8
    assert torch.equal(x[:, 0, 2:30, 2:30], torch.from_numpy(images["train"]))
    border = x.clone()
    border[:, :, 2:30, 2:30] = 0
    assert int(border.sum()) == 0
    assert ds.labels.tolist() == labels["train"].tolist() and ds.labels.dtype == np.int64


def test_fashion_mnist_splits_and_rgb(tmp_path):
    images, labels = _fashion_folder(tmp_path / "f")
    test = FashionMNIST(tmp_path / "f", split="test")
    assert len(test) == 3 and test.labels.tolist() == labels["test"].tolist()
    assert torch.equal(test.get_images(np.arange(3))[:, 0, 2:30, 2:30], torch.from_numpy(images["test"]))
    both = FashionMNIST(tmp_path / "f", split="all", mode="rgb")
    assert len(both) == 8 and both.channels == 3
    assert both.labels.tolist() == labels["train"].tolist() + labels["test"].tolist()
    x = both.get_images(np.array([0, 6]))
    assert x.shape == (2, 3, 32, 32)
    assert torch.equal(x[0, 1, 2:30, 2:30], torch.from_numpy(images["train"][0]))
    assert torch.equal(x[1, 2, 2:30, 2:30], torch.from_numpy(images["test"][1]))
    assert torch.equal(x[:, 0], x[:, 1]) and torch.equal(x[:, 1], x[:, 2])


def test_fashion_mnist_bilinear_resize_matches_half_pixel_reference(tmp_path):
    root = tmp_path / "f"
    root.mkdir()
    ramp = np.tile((np.arange(28) * 9).astype(np.uint8), (28, 1))  # value 9*x along each row
    const = np.full((28, 28), 100, np.uint8)
    _write_idx(root / "train-images-idx3-ubyte.gz", fm.IMAGES_MAGIC, np.stack([ramp, const]))
    _write_idx(root / "train-labels-idx1-ubyte.gz", fm.LABELS_MAGIC, np.array([1, 2], np.uint8))
    x = FashionMNIST(root, fit="resize").get_images(np.arange(2))
    # half-pixel centres, clamped at the edges (align_corners=False)
    src = np.clip((np.arange(32) + 0.5) * 28 / 32 - 0.5, 0, 27)
    lo = np.floor(src).astype(int)
    hi = np.minimum(lo + 1, 27)
    expected_row = np.round(9 * (lo + (src - lo) * (hi - lo))).astype(np.uint8)
    assert x.shape == (2, 1, 32, 32)
    assert np.array_equal(x[0, 0].numpy(), np.tile(expected_row, (32, 1)))
    assert int(x[0, 0, 0, 0]) == 0 and int(x[0, 0, 0, 31]) == 243  # clamped ends
    assert bool((x[1] == 100).all())


def test_fashion_mnist_reads_uncompressed_idx(tmp_path):
    root = tmp_path / "raw"
    root.mkdir()
    img = np.arange(2 * 28 * 28).reshape(2, 28, 28).astype(np.uint8)
    (root / "t10k-images-idx3-ubyte").write_bytes(_idx_bytes(fm.IMAGES_MAGIC, img))
    (root / "t10k-labels-idx1-ubyte").write_bytes(_idx_bytes(fm.LABELS_MAGIC, np.array([4, 9], np.uint8)))
    ds = FashionMNIST(root, split="test")
    assert ds.labels.tolist() == [4, 9]
    assert torch.equal(ds.get_images(np.arange(2))[:, 0, 2:30, 2:30], torch.from_numpy(img))


def _corrupt_truncated_gz(root: Path):
    p = root / "train-images-idx3-ubyte.gz"
    data = p.read_bytes()
    p.write_bytes(data[: len(data) - 40])
    return "train-images-idx3-ubyte.gz"


def _corrupt_garbage_gz(root: Path):
    (root / "train-labels-idx1-ubyte.gz").write_bytes(b"\x1f\x8b\x08\x00garbage garbage garbage")
    return "train-labels-idx1-ubyte.gz"


def _corrupt_wrong_magic(root: Path):
    # a labels file where the images should be: magic 2049 instead of 2051
    _write_idx(root / "train-images-idx3-ubyte.gz", fm.LABELS_MAGIC, np.zeros(5, np.uint8))
    return "train-images-idx3-ubyte.gz"


def _corrupt_short_payload(root: Path):
    raw = _idx_bytes(fm.IMAGES_MAGIC, np.zeros((5, 28, 28), np.uint8))
    (root / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(raw[:-100]))
    return "train-images-idx3-ubyte.gz"


def _corrupt_extra_bytes(root: Path):
    raw = _idx_bytes(fm.LABELS_MAGIC, np.zeros(5, np.uint8))
    (root / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(raw + b"\x00\x00"))
    return "train-labels-idx1-ubyte.gz"


def _corrupt_wrong_dims(root: Path):
    _write_idx(root / "train-images-idx3-ubyte.gz", fm.IMAGES_MAGIC, np.zeros((5, 27, 27), np.uint8))
    return "train-images-idx3-ubyte.gz"


def _corrupt_count_mismatch(root: Path):
    _write_idx(root / "train-labels-idx1-ubyte.gz", fm.LABELS_MAGIC, np.zeros(4, np.uint8))
    return "train-labels-idx1-ubyte.gz"


def _corrupt_label_range(root: Path):
    _write_idx(root / "train-labels-idx1-ubyte.gz", fm.LABELS_MAGIC, np.array([0, 1, 2, 3, 12], np.uint8))
    return "train-labels-idx1-ubyte.gz"


def _corrupt_missing_file(root: Path):
    (root / "train-labels-idx1-ubyte.gz").unlink()
    return "train-labels-idx1-ubyte.gz"


@pytest.mark.parametrize(
    "corrupt",
    [
        _corrupt_truncated_gz,
        _corrupt_garbage_gz,
        _corrupt_wrong_magic,
        _corrupt_short_payload,
        _corrupt_extra_bytes,
        _corrupt_wrong_dims,
        _corrupt_count_mismatch,
        _corrupt_label_range,
        _corrupt_missing_file,
    ],
    ids=lambda f: f.__name__[9:],
)
def test_bad_fashion_mnist_files_give_one_line_error_naming_the_file(tmp_path, corrupt):
    _fashion_folder(tmp_path / "f")
    name = corrupt(tmp_path / "f")
    with pytest.raises(DataError) as excinfo:
        FashionMNIST(tmp_path / "f")
    _assert_one_line_error(excinfo, name)


def test_fashion_mnist_wrong_magic_message_says_magic(tmp_path):
    _fashion_folder(tmp_path / "f")
    _corrupt_wrong_magic(tmp_path / "f")
    with pytest.raises(DataError, match="magic number is 2049, expected 2051"):
        FashionMNIST(tmp_path / "f")


def test_fashion_mnist_missing_default_folder_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setattr(fm, "DEFAULT_ROOT", tmp_path / "not-installed")
    with pytest.raises(DataError) as excinfo:
        FashionMNIST()
    _assert_one_line_error(excinfo, "not-installed", "apt-get install dataset-fashion-mnist", "--data PATH_TO_FOLDER")
    with pytest.raises(DataError) as excinfo:
        FashionMNIST(tmp_path / "elsewhere")
    _assert_one_line_error(excinfo, "elsewhere")


def test_fashion_mnist_bad_options(tmp_path):
    _fashion_folder(tmp_path / "f")
    for kw in ({"split": "val"}, {"fit": "crop"}, {"mode": "cmyk"}):
        with pytest.raises(OptionsError):
            FashionMNIST(tmp_path / "f", **kw)


@pytest.mark.skipif(not REAL_FASHION.is_dir(), reason="Debian's dataset-fashion-mnist is not installed here")
def test_real_fashion_mnist_shape():
    ds = FashionMNIST()
    assert len(ds) == 60000 and ds.get_images(np.arange(4)).shape == (4, 1, 32, 32)
    assert np.bincount(ds.labels).tolist() == [6000] * 10


# ------------------------------------------------------------------------------------------------
# labelled subsets


def _balanced_labels(per_class: int = 100, classes: int = 10, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).permutation(np.repeat(np.arange(classes), per_class))


def test_subset_is_class_balanced_with_right_unlabelled_count():
    labels = _balanced_labels()
    sub = labelled_subset(labels, 0.05, seed=0)
    kept = sub >= 0
    assert sub.dtype == np.int64 and kept.sum() == 50 and (sub == -1).sum() == 950
    assert np.bincount(sub[kept], minlength=10).tolist() == [5] * 10
    assert np.array_equal(sub[kept], labels[kept])  # kept labels are the true ones
    assert labels.tolist() == _balanced_labels().tolist()  # the input is not modified


def test_subset_is_reproducible_and_seed_dependent():
    labels = _balanced_labels()
    a, b, c = (labelled_subset(labels, 0.1, seed=s) for s in (3, 3, 4))
    assert np.array_equal(a, b)
    assert not np.array_equal(a >= 0, c >= 0)
    assert np.bincount(c[c >= 0], minlength=10).tolist() == [10] * 10


def test_subsets_are_nested_across_fractions():
    labels = _balanced_labels(per_class=37, classes=7, seed=1)
    previous = np.zeros(labels.size, bool)
    for fraction in [0.0, 0.01, 0.05, 0.1, 0.13, 0.2, 0.5, 0.77, 1.0]:
        kept = labelled_subset(labels, fraction, seed=11) >= 0
        assert kept.sum() == int(np.floor(fraction * labels.size + 0.5))
        assert not (previous & ~kept).any(), f"subset at {fraction} drops items of a smaller one"
        previous = kept
    assert np.array_equal(labelled_subset(labels, 1.0, seed=11), labels)
    assert (labelled_subset(labels, 0.0, seed=11) == -1).all()


def test_subset_remainder_is_spread_one_per_class():
    labels = _balanced_labels()
    sub = labelled_subset(labels, 0.053, seed=2)  # 53 labels over 10 classes: 3 classes get 6
    counts = np.bincount(sub[sub >= 0], minlength=10)
    assert counts.sum() == 53 and sorted(counts.tolist()) == [5] * 7 + [6] * 3
    assert np.array_equal(counts, np.bincount(labelled_subset(labels, 0.053, seed=2)[sub >= 0], minlength=10))


def test_subset_ignores_already_unlabelled_and_caps_small_classes():
    labels = np.array([0] * 20 + [1] * 20 + [-1] * 60 + [2] * 2)
    sub = labelled_subset(labels, 0.5, seed=0)  # 21 of 42 labelled: 7 per class, class 2 has only 2
    assert (sub[40:100] == -1).all()
    assert np.bincount(sub[sub >= 0], minlength=3).tolist() == [7, 7, 2]


def test_subset_rejects_bad_fraction():
    for bad in (-0.1, 1.5):
        with pytest.raises(OptionsError, match="between 0 and 1"):
            labelled_subset(np.arange(10) % 2, bad)


def test_with_label_fraction_keeps_images(tmp_path):
    root = tmp_path / "s"
    entries = []
    for i in range(20):
        _save(root / f"{i:02d}.png", _rng_image(50 + i, size=4))
        entries.append([f"{i:02d}.png", i % 2])
    _write_json(root / "dataset.json", {"labels": entries})
    ds = ImageFolderDataset(root)
    view = with_label_fraction(ds, 0.2, seed=5)
    assert isinstance(view, RelabelledDataset) and view.num_classes == 2
    assert np.array_equal(view.labels, labelled_subset(ds.labels, 0.2, seed=5))
    assert np.bincount(view.labels[view.labels >= 0]).tolist() == [2, 2]
    assert torch.equal(view.get_images(np.arange(20)), ds.images)


# ------------------------------------------------------------------------------------------------
# resolver


def test_open_dataset_paths(tmp_path):
    for i in range(2):
        _save(tmp_path / "imgs" / f"{i}.png", _rng_image(60 + i, channels=1))
    folder = open_dataset(str(tmp_path / "imgs"))
    assert isinstance(folder, ImageFolderDataset) and folder.channels == 1
    as_rgb = open_dataset(str(_zip_folder(tmp_path / "imgs", tmp_path / "imgs.zip")), mode="rgb")
    assert as_rgb.channels == 3 and torch.equal(as_rgb.images[:, 0], folder.images[:, 0])
    _fashion_folder(tmp_path / "idx")
    idx = open_dataset(str(tmp_path / "idx"))  # a folder of IDX files is Fashion-MNIST
    assert isinstance(idx, FashionMNIST) and len(idx) == 5


def test_open_dataset_fashion_mnist_names(tmp_path, monkeypatch):
    _fashion_folder(tmp_path / "f")
    test = open_dataset("fashion-mnist:test", root=tmp_path / "f")
    assert isinstance(test, FashionMNIST) and len(test) == 3 and test.split == "test"
    monkeypatch.setattr(fm, "DEFAULT_ROOT", tmp_path / "f")
    assert len(open_dataset("fashion-mnist")) == 5
    assert len(open_dataset("fashion-mnist:all", mode="rgb")) == 8


@pytest.mark.parametrize("spec", ["cifar10", "world:48", "world", "fashion-mnist:val"])
def test_open_dataset_unknown_names(spec):
    with pytest.raises(OptionsError) as excinfo:
        open_dataset(spec)
    assert "\n" not in str(excinfo.value)
    if spec == "cifar10":
        _assert_one_line_error(excinfo, "cifar10", "world:32", "world:64", "fashion-mnist", ".zip")


def test_open_dataset_missing_path(tmp_path):
    with pytest.raises(DataError) as excinfo:
        open_dataset(str(tmp_path / "gone.zip"))
    _assert_one_line_error(excinfo, "gone.zip")


def test_open_dataset_world():
    ds = open_dataset("world:32")
    assert ds.resolution == 32 and len(ds) > 0
    assert ds.get_images(np.arange(2)).shape[-2:] == (32, 32)


# ------------------------------------------------------------------------------------------------
# the dataset writer


def _pairs(n: int, channels: int = 3, size: int = 8):
    """Random images with masks, labels (one unlabelled), and an int and a float factor (one missing)."""
    images = [_rng_image(200 + i, size, channels) for i in range(n)]
    masks = [np.random.default_rng(300 + i).integers(0, 5, (size, size), dtype=np.uint8) for i in range(n)]
    labels = [i % 3 if i != 1 else None for i in range(n)]
    factors = [{"shape": i % 4, "hue": 0.1 * i if i != 2 else None} for i in range(n)]
    return images, masks, labels, factors


@pytest.mark.parametrize("name,channels", [("pairs", 3), ("pairs.zip", 1)])
def test_writer_round_trip_through_the_loader(tmp_path, name, channels):
    from ganatomy.data.writer import DatasetWriter

    images, masks, labels, factors = _pairs(5, channels)
    with DatasetWriter(
        tmp_path / name,
        factor_names=["shape", "hue"],
        metadata={"part_labels": ["bg", "a", "b", "c", "d"], "label_factor": "shape"},
    ) as out:
        for sample in zip(images, masks, labels, factors):
            out.add(*sample)
    assert [p.name for p in tmp_path.iterdir()] == [name]  # no temporary left beside it
    ds = open_dataset(str(tmp_path / name))
    assert ds.channels == channels and ds.resolution == 8 and len(ds) == 5
    assert torch.equal(ds.images, torch.stack([_chw(x) for x in images]))
    assert torch.equal(ds.get_masks(np.arange(5)), torch.from_numpy(np.stack(masks)))
    assert ds.labels.tolist() == [0, -1, 2, 0, 1]
    got = ds.get_factors(np.arange(5))
    assert got["shape"].dtype == np.int64 and got["shape"].tolist() == [0, 1, 2, 3, 0]
    assert np.isnan(got["hue"][2]) and got["hue"][[0, 1, 3, 4]].tolist() == [0.0, 0.1, 0.1 * 3, 0.1 * 4]
    assert ds.part_labels == ["bg", "a", "b", "c", "d"] and ds.label_factor == "shape"


def test_writer_without_ground_truth_and_reproducible_zip(tmp_path):
    from ganatomy.data.writer import write_dataset

    images = [_rng_image(i) for i in range(3)]
    seen = []
    for name in ("a.zip", "b.zip"):
        write_dataset(tmp_path / name, [(x,) for x in images], progress=seen.append)
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes() and seen == [1, 2, 3] * 2
    with zipfile.ZipFile(tmp_path / "a.zip") as zf:
        meta = json.loads(zf.read("dataset.json"))
    assert meta == {"labels": [[f"images/{i:08d}.png", None] for i in range(3)]}  # no masks, no factors
    ds = ImageFolderDataset(tmp_path / "a.zip")
    assert ds.get_masks(np.arange(1)) is None and ds.get_factors(np.arange(1)) is None
    assert torch.equal(ds.images, torch.stack([_chw(x) for x in images])) and (ds.labels == -1).all()


@pytest.mark.parametrize("name", ["broken", "broken.zip"])
def test_writer_failure_leaves_nothing(tmp_path, name):
    from ganatomy.data.writer import DatasetWriter

    with pytest.raises(RuntimeError, match="killed"):
        with DatasetWriter(tmp_path / name) as out:
            out.add(_rng_image(0))
            raise RuntimeError("killed mid-write")
    assert list(tmp_path.iterdir()) == []


def _bad_sample(kind: str):
    image = _rng_image(0)
    return {
        "float image": (image.astype(np.float32), None, None, None),
        "not square": (np.zeros((8, 16, 3), np.uint8), None, None, None),
        "size changes": (_rng_image(0, size=16), None, None, None),
        "mask size": (image, np.zeros((4, 4), np.uint8), None, None),
        "mask missing": (image, None, None, None),
        "bad label": (image, np.zeros((8, 8), np.uint8), 1.5, None),
        "factor count": (image, np.zeros((8, 8), np.uint8), 0, [1.0, 2.0]),
        "factor value": (image, np.zeros((8, 8), np.uint8), 0, ["x"]),
    }[kind]


@pytest.mark.parametrize(
    "kind",
    [
        "float image",
        "not square",
        "size changes",
        "mask size",
        "mask missing",
        "bad label",
        "factor count",
        "factor value",
    ],
)
def test_writer_rejects_bad_samples_in_one_line(tmp_path, kind):
    from ganatomy.data.writer import DatasetWriter

    out = DatasetWriter(tmp_path / "set.zip", factor_names=["f"])
    out.add(_rng_image(1), np.zeros((8, 8), np.uint8), 0, [0.5])
    with pytest.raises(DataError) as excinfo:
        out.add(*_bad_sample(kind))
    _assert_one_line_error(excinfo, "set.zip", "sample 1")
    out.abort()
    assert list(tmp_path.iterdir()) == []


def test_writer_refuses_existing_paths_reserved_keys_and_empty_sets(tmp_path):
    from ganatomy.data.writer import DatasetWriter

    (tmp_path / "taken.zip").write_bytes(b"x")
    with pytest.raises(OptionsError, match="already exists"):
        DatasetWriter(tmp_path / "taken.zip")
    with pytest.raises(OptionsError, match="'labels'"):
        DatasetWriter(tmp_path / "new", metadata={"labels": []})
    with pytest.raises(DataError, match="no samples"):
        with DatasetWriter(tmp_path / "empty"):
            pass
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken.zip"]
