"""The procedural world: registries, determinism, ground truth consistency, export, dataset, CLI, bench."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from ganatomy.cli import app
from ganatomy.data.world import WorldDataset
from ganatomy.errors import OptionsError
from ganatomy.utils.images import grid_array
from ganatomy.worlds import (
    FACTORS,
    PART_LABELS,
    FaceWorld,
    Factor,
    export_world,
    image_seeds,
    part_colors,
    part_index,
    part_palette,
)
from ganatomy.worlds.render import hsv_to_rgb

# sha256 of render_seeds(range(8)) images and masks. They pin "same seed, same bytes on any machine";
# change them only together with a deliberate change of the world (and say so in the changelog).
GOLDEN = {
    32: (
        "222eb548bf5755b3e9f086362150c7d5e9fc201684f103af0aa4fb987e27f243",
        "1276f388ab9acd96c8ca298d0b51129bc6d940195d78d9b845552f74f94fffbf",
    ),
    64: (
        "cee1e089c2dcb414fd611779fd6eeadad254e766474aa9949d66a918ba9dce9f",
        "fa33c6c61e5a3bad2d52dc2ea41b046677df056a3b02e5f071717056e7a80831",
    ),
}


@pytest.fixture(scope="module")
def batch32():
    return FaceWorld(32).render_seeds(range(400))


@pytest.fixture(scope="module")
def batch64():
    return FaceWorld(64).render_seeds(range(200))


def _with(factors: dict, **changes) -> dict:
    out = {k: v.copy() for k, v in factors.items()}
    for k, v in changes.items():
        out[k][:] = v
    return out


# --- registries -----------------------------------------------------------------------------


def test_factor_registry_is_complete():
    world = FaceWorld(32)
    cont = [f for f in world.factors if f.kind == "continuous"]
    cat = [f for f in world.factors if f.kind == "categorical"]
    assert len(cont) >= 6 and len(cat) >= 2
    assert all(isinstance(f, Factor) and f.description for f in world.factors)
    assert all(f.low < f.high and f.classes == () for f in cont)
    assert all(f.low is None and f.high is None for f in cat)
    label = next(f for f in cat if f.name == world.label_factor)
    assert label.num_classes >= 4 and world.num_classes == label.num_classes
    assert any(f.num_classes == 2 for f in cat)
    assert len({f.name for f in world.factors}) == len(world.factors)
    # Every registry factor, and nothing else, comes out of the sampler and the renderer.
    batch = world.render_seeds([0, 1])
    assert list(batch.factors) == [f.name for f in FACTORS] == world.factor_names


def test_part_label_registry():
    assert PART_LABELS[0] == "background" and len(PART_LABELS) >= 6
    assert FaceWorld(32).part_labels == list(PART_LABELS)
    for name in ("skin", "hair", "eyes", "mouth", "glasses"):
        assert PART_LABELS[part_index(name)] == name
    palette = part_palette()
    assert palette.shape == (len(PART_LABELS), 3) and len({tuple(c) for c in palette}) == len(PART_LABELS)
    with pytest.raises(OptionsError, match="unknown part 'nose'"):
        part_index("nose")


def test_render_rejects_bad_factors():
    world = FaceWorld(32)
    f = world.factors_for_seeds([0, 1])
    with pytest.raises(OptionsError, match="missing smile"):
        world.render({k: v for k, v in f.items() if k != "smile"})
    with pytest.raises(OptionsError, match="unknown age"):
        world.render({**f, "age": np.zeros(2)})
    with pytest.raises(OptionsError, match=r"'smile': value 1.5 is outside \[-1.0, 1.0\]"):
        world.render(_with(f, smile=1.5))
    with pytest.raises(OptionsError, match="'hair_style': values must be class indices 0..3"):
        world.render(_with(f, hair_style=4))
    with pytest.raises(OptionsError, match="--res: 48"):
        FaceWorld(48)
    with pytest.raises(OptionsError, match="non-negative"):
        world.render_seeds([-1])


# --- sampling and determinism ---------------------------------------------------------------


def test_seed_factors_are_the_seeds_pcg64_uniforms():
    # Draw k of default_rng(seed) (numpy's random(): top 53 bits) is factor k, mapped onto its range.
    world = FaceWorld(32)
    for seed in (0, 7, 2**32 + 3):
        u = np.random.default_rng(seed).random(len(FACTORS))
        got = world.factors_for_seeds([seed])
        for k, f in enumerate(FACTORS):
            want = int(u[k] * f.num_classes) if f.is_categorical else f.low + (f.high - f.low) * u[k]
            assert got[f.name][0] == want, f.name
    same = world.sample_factors(1, np.random.default_rng(7))
    assert all(same[k][0] == v[0] for k, v in world.factors_for_seeds([7]).items())


def test_sampled_factors_hold_their_ranges_and_are_independent():
    f = FaceWorld(32).sample_factors(4000, np.random.default_rng(123))
    columns = []
    for fac in FACTORS:
        x = f[fac.name]
        assert x.shape == (4000,)
        if fac.is_categorical:
            assert x.dtype == np.int64 and set(np.unique(x)) == set(range(fac.num_classes))
            counts = np.bincount(x) / len(x)
            assert np.all(np.abs(counts - 1 / fac.num_classes) < 0.04)  # uniform classes
        else:
            assert x.dtype == np.float64 and x.min() >= fac.low and x.max() <= fac.high
            # Uniform on [low, high]: mean at the midpoint, std (high-low)/sqrt(12).
            span = fac.high - fac.low
            assert abs(x.mean() - (fac.low + fac.high) / 2) < 0.03 * span
            assert abs(x.std() - span / np.sqrt(12)) < 0.03 * span
        columns.append(x.astype(float))
    corr = np.corrcoef(np.stack(columns))
    assert np.abs(corr - np.eye(len(FACTORS))).max() < 0.08  # independent draws


def test_render_is_deterministic_and_batch_independent():
    for res, (img_hash, mask_hash) in GOLDEN.items():
        world = FaceWorld(res)
        ref = world.render_seeds(range(8))
        assert hashlib.sha256(ref.images.tobytes()).hexdigest() == img_hash
        assert hashlib.sha256(ref.masks.tobytes()).hexdigest() == mask_hash
        # The same seeds alone, reversed, or inside a big batch spanning several inner chunks.
        alone = world.render_seeds([5])
        assert np.array_equal(alone.images[0], ref.images[5]) and np.array_equal(alone.masks[0], ref.masks[5])
        rev = world.render_seeds(range(7, -1, -1))
        assert np.array_equal(rev.images[::-1], ref.images) and np.array_equal(rev.masks[::-1], ref.masks)
        seeds = list(range(100, 137)) + [3] + list(range(200, 240)) + [6]
        big = world.render_seeds(seeds)
        assert np.array_equal(big.images[37], ref.images[3]) and np.array_equal(big.images[-1], ref.images[6])
        assert np.array_equal(big.masks[37], ref.masks[3])
        assert ref.images.shape == (8, res, res, 3) and ref.images.dtype == np.uint8
        assert ref.masks.shape == (8, res, res) and ref.masks.dtype == np.uint8


# --- ground truth consistency ---------------------------------------------------------------


def test_every_part_is_visible_at_32(batch32):
    counts = np.stack([(batch32.masks == k).sum(axis=(1, 2)) for k in range(len(PART_LABELS))], axis=1)
    for name in ("background", "skin", "hair", "eyes", "mouth"):
        assert counts[:, part_index(name)].min() >= 4, name
    glasses = counts[:, part_index("glasses")]
    on = batch32.factors["glasses"] == 1
    assert 0 < on.sum() < len(on)
    assert glasses[on].min() >= 10 and glasses[~on].max() == 0  # glasses label iff glasses on
    assert batch32.masks.max() < len(PART_LABELS)


def test_glasses_label_iff_glasses_at_64(batch64):
    present = (batch64.masks == part_index("glasses")).any(axis=(1, 2))
    assert np.array_equal(present, batch64.factors["glasses"] == 1)


def test_mask_pixels_have_their_parts_colour(batch64):
    """Pixels well inside a part (3x3 neighbourhood of one label) have the part's nominal colour."""
    masks, images = batch64.masks, batch64.images.astype(int)
    nominal = np.round(part_colors(batch64.factors) * 255).astype(int)  # [N, L, 3]
    n, h, w = masks.shape
    inner = masks[:, 1:-1, 1:-1]
    interior = np.ones(inner.shape, dtype=bool)
    for dy in range(3):
        for dx in range(3):
            interior &= masks[:, dy : dy + h - 2, dx : dx + w - 2] == inner
    want = np.take_along_axis(nominal[:, None, None], inner[..., None, None].astype(int), axis=3)[..., 0, :]
    close = np.abs(images[:, 1:-1, 1:-1] - want).max(axis=-1) <= 1
    for name in ("background", "skin", "hair", "eyes", "mouth"):
        sel = interior & (inner == part_index(name))
        assert sel.any(axis=(1, 2)).all(), name  # every image has interior pixels of the part
        assert close[sel].mean() > 0.995, name
    # Every labelled pixel (edges included) is nearest to its own part's colour, nearly always.
    dist = np.abs(images[:, :, :, None, :] - nominal[:, None, None]).max(axis=-1)  # [N, H, W, L]
    present = np.stack([(masks == k).any(axis=(1, 2)) for k in range(len(PART_LABELS))], axis=1)
    dist[~np.broadcast_to(present[:, None, None], dist.shape)] = 10**6
    assert (dist.argmin(axis=-1) == masks).mean() > 0.95


def test_part_colours_follow_the_hue_factors():
    f = FaceWorld(32).sample_factors(5000, np.random.default_rng(5))
    colors = part_colors(f)
    # HSV -> RGB known answers: pure hues at full saturation and value.
    assert np.allclose(
        hsv_to_rgb(np.array([0.0, 1 / 3, 2 / 3, 1 / 6]), 1.0, 1.0), [[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0]]
    )
    # Parts stay apart in colour at any sampled hue, so an oracle can read them.
    for a, b in (
        ("skin", "hair"),
        ("skin", "background"),
        ("hair", "background"),
        ("eyes", "glasses"),
        ("mouth", "skin"),
    ):
        gap = np.abs(colors[:, part_index(a)] - colors[:, part_index(b)]).max(axis=-1).min()
        assert gap > 0.15, (a, b, gap)


def test_factors_move_the_picture_as_documented():
    world = FaceWorld(64)
    base = world.factors_for_seeds(range(12))
    base = _with(base, rotation=0.0, head_x=0.45, glasses=0)
    skin = part_index("skin")

    # head_x + 4 pixels moves every part 4 pixels right.
    a = world.render(base).masks
    b = world.render(_with(base, head_x=0.45 + 4 / 64)).masks
    assert (a[:, :, :-4] == b[:, :, 4:]).mean() > 0.995

    # A wider-open eye covers more pixels; a smile puts the mouth's middle below its corners.
    eyes = part_index("eyes")
    narrow = (world.render(_with(base, eye_openness=0.0)).masks == eyes).sum()
    wide = (world.render(_with(base, eye_openness=1.0)).masks == eyes).sum()
    assert 1.4 < wide / narrow < 2.2  # eye half height 0.085 -> 0.15 head units
    mouth = part_index("mouth")
    ys = np.arange(64)[None, :, None]
    mean_y = {}
    for smile in (1.0, -1.0):
        m = world.render(_with(base, smile=smile)).masks == mouth
        mid = m[:, :, 26:32]  # columns around the head centre (head_x = 0.45 -> x = 28.8)
        centre_y = (mid * ys).sum(axis=(1, 2)) / mid.sum(axis=(1, 2))
        mean_y[smile] = (m * ys).sum(axis=(1, 2)) / m.sum(axis=(1, 2))
        assert np.all(smile * (centre_y - mean_y[smile]) > 0)  # smile: corners above the middle
    assert np.all(mean_y[1.0] < mean_y[-1.0] - 0.5)  # corners move ~3 px, the middle stays

    # Glasses on changes pixels only at the glasses and their anti-aliased rim (3x3 neighbourhood).
    off = world.render(base)
    on = world.render(_with(base, glasses=1))
    changed = (off.images != on.images).any(axis=-1)
    glasses = np.pad(on.masks == part_index("glasses"), ((0, 0), (1, 1), (1, 1)))
    rim = np.zeros_like(changed)
    for dy in range(3):
        for dx in range(3):
            rim |= glasses[:, dy : dy + 64, dx : dx + 64]
    assert changed.any() and not (changed & ~rim).any()
    glasses = glasses[:, 1:-1, 1:-1]
    assert np.array_equal(off.masks[~glasses], on.masks[~glasses])

    # A bigger head covers more skin; a 32x32 render is the 64x64 scene at half resolution.
    small = (world.render(_with(base, head_size=0.27)).masks == skin).sum()
    big = (world.render(_with(base, head_size=0.35)).masks == skin).sum()
    assert big > 1.3 * small
    half = FaceWorld(32).render(base).masks
    full = world.render(base).masks
    assert (half == full[:, ::2, ::2]).mean() > 0.8


# --- export ---------------------------------------------------------------------------------


def _read_export(path: Path) -> tuple[dict, callable]:
    if path.suffix == ".zip":
        zf = zipfile.ZipFile(path)
        read = zf.read
    else:

        def read(rel):
            return (path / rel).read_bytes()

    meta = json.loads(read("dataset.json"))
    return meta, lambda rel: np.array(Image.open(io.BytesIO(read(rel))))


@pytest.mark.parametrize("name,seed", [("set", 0), ("set.zip", 1)])
def test_export_round_trip(tmp_path, name, seed):
    path = export_world(tmp_path / name, count=11, res=32, seed=seed)
    assert path == tmp_path / name and path.exists()
    assert [p.name for p in tmp_path.iterdir()] == [name]  # no temporary left beside it
    meta, load = _read_export(path)
    truth = FaceWorld(32).render_seeds(image_seeds(seed, range(11)))
    names = [f.name for f in FACTORS]
    assert meta["factors"]["names"] == names
    assert meta["part_labels"] == list(PART_LABELS) and meta["label_factor"] == "hair_style"
    assert [rel for rel, _ in meta["labels"]] == [f"images/{i:08d}.png" for i in range(11)]
    for i, (rel, label) in enumerate(meta["labels"]):
        assert label == truth.factors["hair_style"][i]
        assert meta["masks"][i] == [rel, f"masks/{i:08d}.png"]
        image, mask = load(rel), load(meta["masks"][i][1])
        assert image.dtype == np.uint8 and image.shape == (32, 32, 3) and mask.shape == (32, 32)
        assert np.array_equal(image, truth.images[i]) and np.array_equal(mask, truth.masks[i])
        values = meta["factors"]["values"][rel]
        assert values == [truth.factors[n][i].item() for n in names]  # floats round-trip exactly
        assert all(isinstance(values[names.index(f.name)], int) for f in FACTORS if f.is_categorical)


def test_zip_export_is_reproducible_and_refuses_to_overwrite(tmp_path):
    a = export_world(tmp_path / "a.zip", count=3, res=32)
    b = export_world(tmp_path / "b.zip", count=3, res=32)
    assert a.read_bytes() == b.read_bytes()
    with pytest.raises(OptionsError, match="already exists"):
        export_world(a, count=3, res=32)
    with pytest.raises(OptionsError, match="--count"):
        export_world(tmp_path / "c", count=0, res=32)


@pytest.mark.parametrize("name", ["broken", "broken.zip"])
def test_failed_export_leaves_nothing(tmp_path, monkeypatch, name):
    import ganatomy.data.writer as writer_module  # the export's files go through the dataset writer

    calls = []
    real = writer_module.png_bytes

    def failing(array):
        calls.append(1)
        if len(calls) > 7:
            raise RuntimeError("disk full")
        return real(array)

    monkeypatch.setattr(writer_module, "png_bytes", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        export_world(tmp_path / name, count=10, res=32)
    assert list(tmp_path.iterdir()) == []


# --- dataset --------------------------------------------------------------------------------


def test_world_dataset_renders_on_the_fly():
    ds = WorldDataset(res=32, size=40)
    assert (ds.name, len(ds), ds.resolution, ds.channels, ds.num_classes) == ("world32", 40, 32, 3, 4)
    idx = np.array([3, 0, 39, 3])
    truth = FaceWorld(32).render_seeds([3, 0, 39, 3])  # seed 0: image i is world seed i
    images, labels = ds.get_batch(idx)
    assert images.dtype == torch.uint8 and images.shape == (4, 3, 32, 32)
    assert np.array_equal(images.permute(0, 2, 3, 1).numpy(), truth.images)
    assert labels.tolist() == truth.factors["hair_style"].tolist()
    assert np.array_equal(ds.get_masks(idx).numpy(), truth.masks)
    factors = ds.get_factors(idx)
    assert all(np.array_equal(factors[k], truth.factors[k]) for k in truth.factors)
    assert np.array_equal(ds.labels, FaceWorld(32).factors_for_seeds(range(40))["hair_style"])
    image, label = ds[39]
    assert torch.equal(image, images[2]) and label == labels[2]
    # Another seed: other images, the same ones an export with that seed holds.
    other = WorldDataset(res=32, size=40, seed=1)
    assert not torch.equal(other.get_images(idx), images)
    assert np.array_equal(other.get_masks([5]).numpy(), FaceWorld(32).render_seeds([2**32 + 5]).masks)
    relabelled = ds.with_labels(np.full(40, -1))
    assert not relabelled.has_labels and relabelled.get_masks(idx) is not None
    with pytest.raises(IndexError):
        ds.get_images(np.array([40]))
    with pytest.raises(OptionsError, match="size"):
        WorldDataset(res=32, size=0)


# --- CLI and benchmark ----------------------------------------------------------------------


def test_cli_world_writes_grids_and_export(tmp_path):
    runner = CliRunner()
    out = tmp_path / "grids"
    result = runner.invoke(app, ["world", "--outdir", str(out), "--seeds", "0-7", "--res", "32"])
    assert result.exit_code == 0, result.output
    for name in ("images.png", "masks.png", "overlay.png", "side_by_side.png", "factors.json"):
        assert (out / name).is_file(), name
    truth = FaceWorld(32).render_seeds(range(8))
    # 32x32 cells are enlarged 2x; 8 images in a 3-column grid with 2-pixel padding.
    enlarged = truth.images.repeat(2, axis=1).repeat(2, axis=2)
    assert np.array_equal(np.array(Image.open(out / "images.png")), grid_array(enlarged, pad=2))
    masks = part_palette()[truth.masks].repeat(2, axis=1).repeat(2, axis=2)
    assert np.array_equal(np.array(Image.open(out / "masks.png")), grid_array(masks, pad=2))
    record = json.loads((out / "factors.json").read_text())
    assert record["seeds"] == list(range(8)) and record["factors"]["smile"] == truth.factors["smile"].tolist()

    result = runner.invoke(app, ["world", "--export", str(tmp_path / "w.zip"), "--count", "4", "--res", "32"])
    assert result.exit_code == 0, result.output
    names = zipfile.ZipFile(tmp_path / "w.zip").namelist()
    assert len([n for n in names if n.startswith("images/")]) == 4 and "dataset.json" in names

    result = runner.invoke(app, ["world"])
    assert isinstance(result.exception, OptionsError) and "--outdir" in str(result.exception)


def test_bench_world_quick_json():
    result = CliRunner().invoke(app, ["bench", "world", "--quick", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip())
    assert set(summary) == {"img_per_s", "img_per_s_32"}
    assert summary["img_per_s"] > 0 and summary["img_per_s_32"] > 0
