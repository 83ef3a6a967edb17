"""KLiSH (ganatomy.segment): known answers on planted clusters, the solver, the 1x1-conv masks, files."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ganatomy.errors import OptionsError
from ganatomy.segment import KLiSH
from ganatomy.segment.features import feature_maps, pixel_features, select_layers
from ganatomy.segment.kmeans import kmeans
from ganatomy.segment.svm import solve_ovr

pytestmark = pytest.mark.usefixtures("one_thread")


def planted_clusters(n_true=5, dim=16, per=300, seed=0, spread=0.3, duplicates=False):
    """Gaussian blobs around scaled unit vectors: any union of blobs is linearly separable from the rest."""
    g = torch.Generator().manual_seed(seed)
    means = torch.eye(dim)[:n_true] * 3
    if duplicates:  # one point per blob, repeated: k-means with more centres than points leaves empties
        x = means.repeat_interleave(per, dim=0)
    else:
        x = torch.cat([means[i] + spread * torch.randn(per, dim, generator=g) for i in range(n_true)])
    return x, torch.arange(n_true).repeat_interleave(per)


def same_partition(a, b) -> bool:
    from sklearn.metrics import adjusted_rand_score

    return adjusted_rand_score(np.asarray(a), np.asarray(b)) == 1.0


def test_planted_clusters_recovered_at_the_right_k_and_auto_rule_picks_it():
    x, truth = planted_clusters()
    est = KLiSH(n_init_clusters=30, kmeans_pixels=None, seed=0).fit_features(x)
    assert est.merge_tree_.n_leaves == 30 and len(est.merge_tree_) == 29
    assert same_partition(est.predict_features(x, n_clusters=5), truth)
    assert not same_partition(est.predict_features(x, n_clusters=6), truth)
    assert est.n_clusters_auto_ == 5
    scores = est.merge_tree_.scores()
    assert scores[5] > 0.99 > scores[6]


def test_empty_kmeans_clusters_do_not_break_the_merge():
    x, truth = planted_clusters(duplicates=True, per=40)
    centres, labels = kmeans(x, 12, seed=0)
    assert len(torch.unique(labels)) == 5  # only 5 distinct points: 7 clusters are empty
    est = KLiSH(n_init_clusters=12, kmeans_pixels=None, seed=0).fit_features(x)
    tree = est.merge_tree_
    assert len(tree.empty_clusters) == 7 and tree.n_leaves == 5
    assert np.isfinite(tree.ciou).all() and np.isfinite(tree.ecos).all()
    assert torch.isfinite(est.node_weights_).all()
    assert same_partition(est.predict_features(x, n_clusters=5), truth)
    with pytest.raises(OptionsError, match="n_clusters must be an integer in 1..5"):
        est.predict_features(x, n_clusters=12)


def test_merge_tree_is_deterministic_for_a_seed():
    x, _ = planted_clusters(seed=3)
    a = KLiSH(n_init_clusters=20, kmeans_pixels=500, seed=7).fit_features(x)
    b = KLiSH(n_init_clusters=20, kmeans_pixels=500, seed=7).fit_features(x)
    c = KLiSH(n_init_clusters=20, kmeans_pixels=500, seed=8).fit_features(x)
    assert a.merge_tree_.to_tree() | {"step_seconds": 0} == b.merge_tree_.to_tree() | {"step_seconds": 0}
    assert torch.equal(a.node_weights_, b.node_weights_)
    assert not torch.equal(a.centroids_, c.centroids_)


def test_solver_reaches_the_optimum_and_one_class_resolve_equals_all():
    x, labels = planted_clusters(n_true=4, dim=6, per=100, spread=1.0)
    k = 4
    w0, b0 = torch.zeros(k, 6), torch.zeros(k)
    w, b, _ = solve_ovr(x, labels, w0, b0, torch.arange(k), C=50.0, tol=1e-6, max_newton=50, max_cg=50)
    # The gradient of every class's objective vanishes at the solution.
    params = torch.cat([w, b[:, None]], 1).requires_grad_(True)
    t = (labels[:, None] == torch.arange(k)).float() * 2 - 1
    scores = x @ params[:, :6].T + params[:, 6]
    loss = 0.5 * params[:, :6].square().sum() + 50.0 / len(x) * (1 - t * scores).clamp_min(0).square().sum()
    (grad,) = torch.autograd.grad(loss, params)
    assert float(grad.abs().max()) < 1e-3
    # Merging class 0 into 1 changes class 1's problem only: re-solving it alone equals re-solving all.
    merged = torch.where(labels == 0, torch.ones_like(labels), labels)
    keep = torch.tensor([1, 2, 3])
    one, _, _ = solve_ovr(x, merged, w[1:2], b[1:2], torch.tensor([1]), C=50.0, tol=1e-6, max_newton=50, max_cg=50)
    every, _, _ = solve_ovr(x, merged, w[keep], b[keep], keep, C=50.0, tol=1e-6, max_newton=50, max_cg=50)
    assert torch.allclose(one[0], every[0], atol=1e-4) and torch.allclose(every[1:], w[2:], atol=1e-4)


@pytest.fixture(scope="module")
def fitted():
    import ganatomy

    G = ganatomy.load_generator("world32-stylegan2")
    est = KLiSH(n_init_clusters=12, n_samples=8, kmeans_pixels=4096, seed=0).fit(G, name="world32-stylegan2")
    return G, est


def test_layer_selection_takes_the_last_map_of_each_resolution(fitted):
    G, est = fitted
    assert est.layers_ == ["b4.conv1", "b8.conv1", "b16.conv1", "b32.conv1"]
    assert select_layers(G, max_channels=250) == ["b8.conv1", "b16.conv1", "b32.conv1"]


def test_one_by_one_conv_masks_equal_the_classifier_on_features(fitted):
    G, est = fitted
    latents = est.sample_latents(G, 3, seed=5)
    with torch.no_grad():
        maps = feature_maps(G, latents, est.layers_, est.space_, 32)
        direct = est.predict_features(pixel_features(maps), n_clusters=6).reshape(3, 32, 32)
        w, b = est.classifier(6)
        logits_direct = (pixel_features(maps) @ w.T + b).reshape(3, 32, 32, 6).permute(0, 3, 1, 2)
        logits_conv = est.logits(G, latents, 6)
    assert torch.allclose(logits_conv, logits_direct, atol=1e-4)
    masks = est.predict(latents, n_clusters=6)
    assert masks.dtype == np.uint8 and np.array_equal(masks, direct.numpy())


def test_save_load_round_trip_predicts_the_same(fitted, tmp_path):
    G, est = fitted
    est.save(tmp_path / "klish.safetensors")
    again = KLiSH.load(tmp_path / "klish.safetensors")
    latents = est.sample_latents(G, 2, seed=9)
    with pytest.raises(OptionsError, match="pass the generator"):
        again.predict(latents, 4)
    assert np.array_equal(again.predict(latents, 4, G=G), est.predict(latents, 4))
    assert again.merge_tree_.to_tree() == est.merge_tree_.to_tree()


def test_synthetic_dataset_round_trips_through_the_loader(fitted, tmp_path):
    from ganatomy.data.folder import ImageFolderDataset
    from ganatomy.segment.synth import write_pairs

    G, est = fitted
    path = write_pairs(est, G, tmp_path / "pairs", 5, n_clusters=4, seed=1)
    data = ImageFolderDataset(path)
    assert len(data) == 5 and data.part_labels == ["cluster00", "cluster01", "cluster02", "cluster03"]
    images, masks = est.predict(est.sample_latents(G, 5, 1), 4, return_image=True)
    assert np.array_equal(data.get_masks(np.arange(5)).numpy(), masks)
    from ganatomy.utils.images import to_uint8

    assert np.array_equal(data.get_images(np.arange(5)).permute(0, 2, 3, 1).numpy(), to_uint8(images.clamp(-1, 1)))


def test_layer_scaling_equalises_blocks_and_is_folded_into_the_classifier():
    x, truth = planted_clusters()
    # A loud block that carries no cluster information drowns the planted clusters unless scaled.
    noise = 100 * torch.randn(len(x), 16, generator=torch.Generator().manual_seed(1))
    both = torch.cat([x, noise], 1)
    est = KLiSH(n_init_clusters=30, kmeans_pixels=None, seed=0).fit_features(both, channels=[16, 16])
    scales = est.feature_scales_
    assert torch.allclose((both / scales).split(16, 1)[1].square().sum(1).mean(), torch.tensor(1.0), atol=1e-4)
    w, b = est.classifier(5)
    assert torch.equal(est.predict_features(both, 5), (both @ w.T + b).argmax(1))
    raw = KLiSH(n_init_clusters=30, kmeans_pixels=None, seed=0, layer_scale="none").fit_features(both, [16, 16])
    assert torch.equal(raw.feature_scales_, torch.ones(32))
    with pytest.raises(OptionsError, match="do not add up to 32"):
        KLiSH(n_init_clusters=30).fit_features(both, channels=[16, 8])
    with pytest.raises(OptionsError, match="layer_scale must be one of"):
        KLiSH(layer_scale="max").fit_features(both)


def test_cluster_to_part_and_largest_share_on_known_masks():
    from ganatomy.segment.evaluate import cluster_to_part, largest_cluster_share

    # part 1 (2 pixels) sits in cluster 1 with 3 background pixels: majority vote would give it to the
    # background, the paper's greedy matching gives it to part 1; empty cluster 3 goes to part 0
    gt = np.array([0] * 12 + [1, 1, 2, 2])
    pred = np.array([0] * 9 + [1] * 3 + [1, 1, 2, 2])
    assert list(cluster_to_part(pred, gt, 4, 3)) == [0, 1, 2, 0]
    masks = np.stack([np.zeros((4, 4), int), np.arange(16).reshape(4, 4) % 2])
    assert largest_cluster_share(masks) == pytest.approx((1.0 + 0.5) / 2)
