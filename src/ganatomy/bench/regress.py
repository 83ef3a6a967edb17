"""``ganatomy bench regress``: LARGE's few-shot protocol on real held-out world images, and on DigiFace.

World part (``world32-stylegan2``; images rendered by the world from seed ``WORLD_SEED``, never
generated, disjoint from the generator's training set and the oracle's):

- inversion: an encoder with the world oracle's frozen backbone, trained on G's own pairs, optionally
  refined per image; its quality on the test images (pixel error, per-factor R² of the oracle's
  readings of image and reconstruction; ``inversion_min_r2`` is the lowest);
- directions: Voynov (the world settings of ``bench directions``), SeFa and GANSpace in W and by
  layer group (coarse / middle / fine W+ rows): unsupervised, the one best aligned with the few labels
  chosen with those labels only (``ganatomy.regress.sources``); and the supervised normal fitted on the
  few labelled latents;
- for every continuous factor: a pool of labelled images, a disjoint test set, n in NS labels drawn
  ``draws`` times with a minimum spacing (``ganatomy.regress.protocol``), MAE (mean, std) and R² on the
  test set for LARGE and, on the same draws, ridge and k-NN on pixels, on the encoder's features and
  on EfficientNet-Lite0 features (each reduced to its top principal components of the unlabelled
  pool); the upper bound is the best of those regressors trained on every pool label (and, beside it,
  ridge on the inverted latents with every pool label: ``n2_mae_ratio_aligned_latents``);
- LARGE three ways, to tell its errors apart: ``large-aligned`` (the direction chosen with the n labels,
  the issue's), ``large-given`` (the direction the sorting uses, chosen on the pool: the n labels only
  calibrate it, as when a user picks the direction from its grid; ``n2_mae_ratio_given``) and
  ``large-given (every label)`` (that direction's best line: what no calibration can beat);
- sorting with no labels: |Spearman| of the test images' distances along the direction best aligned
  with the factor (chosen on the pool's labels: which direction is the factor's is an analysis
  question, the order itself uses no label).

A factor counts as aligned when that direction's distances correlate with it at |r| >= ALIGNED on
the pool. DigiFace part (``digiface-dcgan64``, Z space, inversion by optimisation): no real DigiFace
images exist offline, so its "real" images are the generator's own from unseen seeds, inverted as if
real, and the attribute is measured on the image itself (mean luminance of the central square).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import numpy as np
import torch

from ganatomy.bench.result import BenchResult, Target

WORLD_NETWORK = "world32-stylegan2"
DIGIFACE_NETWORK = "digiface-dcgan64"
WORLD_SEED = 3  # world dataset seed of the bench images (0: training sets, 2: the oracle's evaluation)
DIGIFACE_FIRST_SEED = 1_000_000  # generator seeds of the DigiFace stand-in images
NS = (2, 5, 10, 20)
ALIGNED = 0.7
PCA_DIM = 256
_TARGETS = [
    Target("n2_win_share", ">=", 2 / 3),
    Target("n2_mae_ratio_aligned", "<=", 1.5),
    Target("sort_spearman_aligned", ">=", 0.9),
]


@dataclasses.dataclass(frozen=True)
class Settings:
    pool: int
    test: int
    draws: int
    encoder_steps: int
    pairs: int
    refine_steps: int
    n_directions: int
    group_directions: int  # SeFa's and GANSpace's per layer group
    effnet_resolution: int
    digiface_pool: int
    digiface_test: int
    digiface_steps: int


FULL = Settings(1000, 1000, 1000, 2000, 8192, 20, 10, 8, 128, 200, 200, 100)
QUICK = Settings(200, 200, 30, 300, 2048, 0, 10, 4, 128, 12, 12, 10)


# ---------------------------------------------------------------------------------------- baselines
def principal_components(pool: np.ndarray, test: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Pool and test features projected on the pool's top ``k`` principal axes, then standardised."""
    mean = pool.mean(0)
    _, singular, vt = np.linalg.svd(pool - mean, full_matrices=False)
    # Axes the pool does not vary along (a small pool has fewer than k) would be standardised by ~0.
    kept = int(min(k, (singular > 1e-6 * singular[0]).sum()))
    axes = vt[:kept].T
    p, t = (pool - mean) @ axes, (test - mean) @ axes
    scale = p.std(0) + 1e-8
    return p / scale, t / scale


def ridge_predict(X: np.ndarray, y: np.ndarray, X_test: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """Ridge regression (dual form: cheap for few labels) on centred features."""
    centre = X.mean(0)
    Xc = X - centre
    dual = np.linalg.solve(Xc @ Xc.T + alpha * np.eye(len(X)), y - y.mean())
    return (X_test - centre) @ (Xc.T @ dual) + y.mean()


def knn_predict(X: np.ndarray, y: np.ndarray, X_test: np.ndarray) -> np.ndarray:
    """Mean label of the k nearest labelled images, k = max(1, min(5, n // 2))."""
    k = max(1, min(5, len(X) // 2))
    d2 = (X_test**2).sum(1)[:, None] - 2 * X_test @ X.T + (X**2).sum(1)[None]
    nearest = np.argpartition(d2, k - 1, axis=1)[:, :k]
    return y[nearest].mean(1)


def _mae_r2(pred: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    return float(np.abs(pred - y).mean()), float(1 - ((pred - y) ** 2).sum() / ((y - y.mean()) ** 2).sum())


# ---------------------------------------------------------------------------------------- world part
def _features(G: Any, inverter: Any, pool_x: torch.Tensor, test_x: torch.Tensor, s: Settings) -> dict[str, tuple]:
    from ganatomy.metrics.extractors import EfficientNetLite0Extractor

    effnet = EfficientNetLite0Extractor(resolution=s.effnet_resolution)
    raw = {
        "pixels": (pool_x.flatten(1).numpy(), test_x.flatten(1).numpy()),
        "encoder": (inverter.features(pool_x, G).numpy(), inverter.features(test_x, G).numpy()),
        "effnet": (effnet(pool_x).numpy(), effnet(test_x).numpy()),
    }
    return {name: principal_components(p, t, PCA_DIM) for name, (p, t) in raw.items()}


def _factor_rows(
    name: str,
    y_pool: np.ndarray,
    y_test: np.ndarray,
    lat_pool: torch.Tensor,
    lat_test: torch.Tensor,
    D_pool: np.ndarray,
    D_test: np.ndarray,
    sigma: np.ndarray,
    prior_std: torch.Tensor,
    feats: dict[str, tuple],
    s: Settings,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    from scipy.stats import spearmanr

    from ganatomy.regress import alignment_scores, calibrate, spaced_draws, supervised_normal

    corr = np.array([abs(np.corrcoef(D_pool[:, k], y_pool)[0, 1]) for k in range(D_pool.shape[1])])
    best = int(np.argmax(corr))
    aligned = bool(corr[best] >= ALIGNED)
    spearman = abs(float(spearmanr(D_test[:, best], y_test)[0]))
    Wp, Wt = lat_pool.double().numpy(), lat_test.double().numpy()
    rows, at_n2 = [], {}
    for n in NS:
        maes: dict[str, list[float]] = {}
        r2s: dict[str, list[float]] = {}

        def add(method: str, pred: np.ndarray, maes=maes, r2s=r2s) -> None:
            mae, r2 = _mae_r2(pred, y_test)
            maes.setdefault(method, []).append(mae)
            r2s.setdefault(method, []).append(r2)

        for idx in spaced_draws(y_pool, n, s.draws, seed=n):
            y = y_pool[idx]
            k = int(np.argmax(np.abs(alignment_scores(D_pool[idx], y, sigma))))
            coef, b = calibrate(D_pool[idx, k : k + 1], y)
            add("large-aligned", D_test[:, k] * coef[0] + b)
            coef, b = calibrate(D_pool[idx, best : best + 1], y)  # the direction given, the labels calibrate it
            add("large-given", D_test[:, best] * coef[0] + b)
            normal = supervised_normal(lat_pool[idx], y, prior_std).numpy()
            coef, b = calibrate((Wp[idx] @ normal)[:, None], y)
            add("large-supervised", (Wt @ normal) * coef[0] + b)
            for fname, (Fp, Ft) in feats.items():
                add(f"ridge-{fname}", ridge_predict(Fp[idx], y, Ft))
                add(f"knn-{fname}", knn_predict(Fp[idx], y, Ft))
        for method in maes:
            rows.append(
                {
                    "factor": name,
                    "n": n,
                    "method": method,
                    "mae": float(np.mean(maes[method])),
                    "mae std": float(np.std(maes[method])),
                    "r2": float(np.mean(r2s[method])),
                }
            )
        if n == 2:
            at_n2 = {m: float(np.mean(v)) for m, v in maes.items()}
    upper = {}
    for fname, (Fp, Ft) in feats.items():
        upper[f"ridge-{fname}"] = _mae_r2(ridge_predict(Fp, y_pool, Ft, alpha=10.0), y_test)[0]
        upper[f"knn-{fname}"] = _mae_r2(knn_predict(Fp, y_pool, Ft), y_test)[0]
    upper["ridge-latents"] = _mae_r2(ridge_predict(Wp, y_pool, Wt, alpha=1.0), y_test)[0]
    coef, b = calibrate(D_pool[:, best : best + 1], y_pool)
    given_line = _mae_r2(D_test[:, best] * coef[0] + b, y_test)[0]  # the given direction's best line
    rows.append(
        {
            "factor": name,
            "n": len(y_pool),
            "method": "large-given (every label)",
            "mae": given_line,
            "mae std": 0.0,
            "r2": None,
        }
    )
    upper_method = min(upper, key=upper.get)
    rows.append(
        {
            "factor": name,
            "n": len(y_pool),
            "method": f"upper bound ({upper_method})",
            "mae": upper[upper_method],
            "mae std": 0.0,
            "r2": None,
        }
    )
    baselines = {m: v for m, v in at_n2.items() if not m.startswith("large")}
    info = {
        "aligned": aligned,
        "alignment": float(corr[best]),
        "spearman": spearman,
        "large_n2": at_n2["large-aligned"],
        "large_supervised_n2": at_n2["large-supervised"],
        "large_given_n2": at_n2["large-given"],
        "given_line": given_line,
        "best_baseline_n2": min(baselines.values()),
        "best_baseline": min(baselines, key=baselines.get),
        "upper": upper[upper_method],
        "upper_latents": upper["ridge-latents"],
    }
    info["win"] = min(info["large_n2"], info["large_supervised_n2"]) < info["best_baseline_n2"]
    return rows, info


def _world(
    s: Settings, notes: list[str], quick: bool
) -> tuple[list[dict[str, Any]], dict[str, Any], list[dict[str, Any]]]:
    from ganatomy.bench.directions import ganspace_in_rows, layer_group_directions, sefa_in_rows, world_voynov
    from ganatomy.data.world import WorldDataset
    from ganatomy.directions import GANSpaceDirections, SeFaDirections
    from ganatomy.directions.oracle_access import circular, world_oracle
    from ganatomy.invert import EncoderInverter, prior_stats, reconstruction_quality
    from ganatomy.latent import Directions
    from ganatomy.nets.load import load_generator
    from ganatomy.regress import distance_matrix, prior_latents
    from ganatomy.worlds import FACTORS

    G = load_generator(WORLD_NETWORK)
    t0 = time.perf_counter()
    inverter = EncoderInverter(
        space="w",
        steps=s.encoder_steps,
        batch_size=64,
        lr=3e-3,
        n_pairs=s.pairs,
        image_weight=0.0,
        backbone="oracle",
        refine_steps=s.refine_steps,
        seed=0,
    ).fit(G, name=WORLD_NETWORK)
    train_s = time.perf_counter() - t0
    world = WorldDataset(int(G.img_resolution), size=s.pool + s.test, seed=WORLD_SEED)
    images = world.get_images(np.arange(s.pool + s.test)).float() / 127.5 - 1.0
    truth = world.get_factors(np.arange(s.pool + s.test))
    t0 = time.perf_counter()
    latents, recon = inverter.reconstruct(images, G)
    invert_s = time.perf_counter() - t0
    quality = reconstruction_quality(images[s.pool :], recon[s.pool :], world_oracle(G.img_resolution))
    voynov, voynov_s = world_voynov(G, WORLD_NETWORK, quick=quick)
    directions = [
        voynov.directions_,
        SeFaDirections(s.n_directions).fit(G, name=WORLD_NETWORK).directions_,
        GANSpaceDirections(s.n_directions, space="w", n_samples=5000).fit(G, name=WORLD_NETWORK).directions_,
    ]
    # By layer group too (GANSpace's restricted edits): the inversion is in W, where a direction that
    # moves some W+ rows reads as its vector.
    by_group = [
        d
        for estimator in (sefa_in_rows, ganspace_in_rows)
        for d, _ in layer_group_directions(G, WORLD_NETWORK, estimator, s.group_directions).values()
    ]
    candidates = Directions(
        torch.cat([d.vectors for d in directions + by_group]), "w", method="voynov+sefa+ganspace, by layer group"
    )
    sigma = distance_matrix(candidates, prior_latents(G, "w")).std(0)
    _, prior_std = prior_stats(G, "w")
    D = distance_matrix(candidates, latents)
    feats = _features(G, inverter, images[: s.pool], images[s.pool :], s)
    rows, infos = [], {}
    for f in FACTORS:
        if f.is_categorical:
            continue
        y = truth[f.name]
        factor_rows, infos[f.name] = _factor_rows(
            f.name,
            y[: s.pool],
            y[s.pool :],
            latents[: s.pool],
            latents[s.pool :],
            D[: s.pool],
            D[s.pool :],
            sigma,
            prior_std,
            feats,
            s,
        )
        infos[f.name]["circular"] = bool(circular(f))
        infos[f.name]["inversion_r2"] = quality.factor_r2.get(f.name)
        rows += factor_rows
    notes.append(
        f"world: {s.pool} pool + {s.test} test images (world seed {WORLD_SEED}), {s.draws} draws per n; encoder "
        f"{s.encoder_steps} steps ({train_s:.0f} s), refinement {s.refine_steps} steps, inversion {invert_s:.0f} s; "
        f"{len(candidates)} unsupervised directions (Voynov {len(directions[0])} in {voynov_s:.0f} s, "
        f"SeFa {s.n_directions}, GANSpace {s.n_directions}, and {s.group_directions} of each per layer group, "
        "coarse / middle / fine W+ rows); "
        f"baselines on the top {PCA_DIM} principal components of each feature set"
    )
    notes.append(
        f"inversion on the test images: pixel MAE {quality.pixel_mae:.4f}, R² per factor "
        + ", ".join(f"{k} {v:.3f}" for k, v in quality.factor_r2.items())
    )
    summary_rows = []
    for name, info in infos.items():
        reasons = []
        if not info["aligned"]:
            reasons.append(f"no direction aligns (best |r| {info['alignment']:.2f})")
        if info["inversion_r2"] is not None and info["inversion_r2"] < 0.8:
            reasons.append(f"the inversion loses it (R² {info['inversion_r2']:.2f})")
        if info["circular"]:
            reasons.append("a full-circle hue: a line cannot fit it")
        summary_rows.append({"factor": name, **{k: v for k, v in info.items()}, "why": "; ".join(reasons)})
    return rows, {"quality": quality, "infos": infos}, summary_rows


# ---------------------------------------------------------------------------------------- digiface part
def central_luminance(images: torch.Tensor) -> np.ndarray:
    """Mean luminance (Rec. 601) of the central half-side square of [-1, 1] images, on 0..1."""
    x = (images.float().clamp(-1, 1) + 1) / 2
    r = x.shape[-1]
    crop = x[:, :, r // 4 : 3 * r // 4, r // 4 : 3 * r // 4]
    weights = torch.tensor([0.299, 0.587, 0.114])[: crop.shape[1]]
    return (crop * weights[None, :, None, None]).sum(1).mean((1, 2)).numpy() / weights.sum().item()


def _digiface(s: Settings) -> dict[str, Any]:
    from scipy.stats import spearmanr

    from ganatomy.directions import SeFaDirections
    from ganatomy.invert import OptimizationInverter
    from ganatomy.latent.sampling import seeded_images
    from ganatomy.nets.load import load_generator
    from ganatomy.regress import alignment_scores, calibrate, distance_matrix, prior_latents, spaced_draws

    G = load_generator(DIGIFACE_NETWORK)
    n = s.digiface_pool + s.digiface_test
    with torch.no_grad():
        images = seeded_images(G, range(DIGIFACE_FIRST_SEED, DIGIFACE_FIRST_SEED + n), space="z").float().cpu()
    y = central_luminance(images)
    t0 = time.perf_counter()
    inverter = OptimizationInverter(space="z", refine_steps=s.digiface_steps, perceptual="none").fit(G)
    latents = inverter.invert(images, G)
    seconds = time.perf_counter() - t0
    directions = SeFaDirections(s.n_directions).fit(G, name=DIGIFACE_NETWORK).directions_
    D = distance_matrix(directions, latents)
    sigma = distance_matrix(directions, prior_latents(G, "z")).std(0)
    P, T = slice(0, s.digiface_pool), slice(s.digiface_pool, n)
    large, ridge = [], []
    pixels = images.flatten(1).numpy()
    Fp, Ft = principal_components(pixels[P], pixels[T], PCA_DIM)
    for idx in spaced_draws(y[P], 2, s.draws, seed=0):
        k = int(np.argmax(np.abs(alignment_scores(D[P][idx], y[P][idx], sigma))))
        coef, b = calibrate(D[P][idx, k : k + 1], y[P][idx])
        large.append(np.abs(D[T][:, k] * coef[0] + b - y[T]).mean())
        ridge.append(np.abs(ridge_predict(Fp[idx], y[P][idx], Ft) - y[T]).mean())
    corr = np.array([abs(np.corrcoef(D[P][:, k], y[P])[0, 1]) for k in range(D.shape[1])])
    return {
        "large_n2_mae": float(np.mean(large)),
        "ridge_pixels_n2_mae": float(np.mean(ridge)),
        "sort_spearman": abs(float(spearmanr(D[T][:, int(np.argmax(corr))], y[T])[0])),
        "alignment": float(corr.max()),
        "invert_seconds": seconds,
        "images": n,
    }


def run(quick: bool) -> BenchResult:
    s = QUICK if quick else FULL
    notes: list[str] = []
    rows, world, summary_rows = _world(s, notes, quick)
    infos = world["infos"]
    aligned = [k for k, v in infos.items() if v["aligned"]]
    summary: dict[str, Any] = {
        "n2_win_share": float(np.mean([v["win"] for v in infos.values()])),
        "n2_mae_ratio_aligned": float(np.mean([infos[k]["large_n2"] / infos[k]["upper"] for k in aligned]))
        if aligned
        else None,
        # With the direction given (chosen on the pool, as a user who looked at the direction grids would
        # choose it) two labels only calibrate it: what is left is the calibration's error and the direction's.
        "n2_mae_ratio_given": float(np.mean([infos[k]["large_given_n2"] / infos[k]["upper"] for k in aligned]))
        if aligned
        else None,
        # The same ratio against the inverted latents with every pool label: how close two labels come to
        # what LARGE's own representation allows (the upper bound above rests on the oracle-backed encoder).
        "n2_mae_ratio_aligned_latents": float(
            np.mean([infos[k]["large_n2"] / infos[k]["upper_latents"] for k in aligned])
        )
        if aligned
        else None,
        "sort_spearman_aligned": float(np.mean([infos[k]["spearman"] for k in aligned])) if aligned else None,
        "inversion_min_r2": world["quality"].min_r2,
        "inversion_pixel_mae": world["quality"].pixel_mae,
        "aligned_factors": aligned,
        "factors": summary_rows,
    }
    digiface = _digiface(s)
    summary["digiface"] = digiface
    for r in summary_rows:
        rows.append(
            {
                "factor": r["factor"],
                "n": 2,
                "method": "summary: LARGE aligned / best baseline / upper",
                "mae": r["large_n2"],
                "mae std": r["best_baseline_n2"],
                "r2": r["upper"],
            }
        )
    notes.append(
        "per-factor summary: "
        + "; ".join(
            f"{r['factor']}: aligned {r['aligned']} (|r| {r['alignment']:.2f}), LARGE n=2 MAE {r['large_n2']:.4g} "
            f"(supervised {r['large_supervised_n2']:.4g}, given {r['large_given_n2']:.4g}; the given direction's "
            f"line from every label {r['given_line']:.4g}) vs {r['best_baseline']} {r['best_baseline_n2']:.4g}, "
            f"upper {r['upper']:.4g} (latents, every label: {r['upper_latents']:.4g}), sort |rho| {r['spearman']:.3f}"
            + (f" [{r['why']}]" if r["why"] else "")
            for r in summary_rows
        )
    )
    notes.append(
        f"digiface-dcgan64 (Z, optimisation, {digiface['images']} images the generator drew from unseen seeds, "
        "standing in for real ones; attribute: central luminance measured on each image): LARGE n=2 MAE "
        f"{digiface['large_n2_mae']:.4g} vs ridge on pixels {digiface['ridge_pixels_n2_mae']:.4g}, sort |rho| "
        f"{digiface['sort_spearman']:.3f}, inversion {digiface['invert_seconds']:.0f} s"
    )
    notes.append("n2_win_share counts a win when either LARGE variant (aligned or supervised) beats every baseline")
    title = "LARGE: regression from few labels and label-free sorting on real world images"
    return BenchResult(
        name="regress", title=title, rows=rows, summary=summary, targets=_TARGETS, notes=notes, quick=quick
    )
