"""What the regression shows a user: a CSV of predictions, the calibration plot and a sorted contact sheet."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence

import numpy as np
import torch

from ganatomy.utils.atomic import atomic_path, atomic_write_text
from ganatomy.utils.images import grid_array, save_png, to_uint8


def write_predictions_csv(path: str | os.PathLike, names: Sequence[str], columns: dict[str, Sequence[float]]) -> None:
    """A CSV ``file,<column>,...`` with one row per image (atomically)."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["file", *columns])
    for i, name in enumerate(names):
        writer.writerow([name, *(f"{float(values[i]):.6g}" for values in columns.values())])
    atomic_write_text(path, buf.getvalue())


def calibration_plot(
    path: str | os.PathLike,
    distances: np.ndarray,
    labels: np.ndarray,
    slope: float,
    intercept: float,
    title: str,
    other_distances: np.ndarray | None = None,
    other_labels: np.ndarray | None = None,
) -> None:
    """Distance against label for the labelled images, the fitted line y = a·d + b, and (optionally)
    held-out images with their true labels in grey (how far the line holds beyond its two points)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4), dpi=100)
    if other_distances is not None and other_labels is not None:
        ax.scatter(other_distances, other_labels, s=6, c="0.7", label="held-out images (true label)")
    ax.scatter(distances, labels, s=40, c="tab:red", zorder=3, label=f"labelled ({len(labels)})")
    span = distances if other_distances is None else np.concatenate([distances, other_distances])
    xs = np.linspace(float(np.min(span)), float(np.max(span)), 50)
    ax.plot(xs, slope * xs + intercept, c="tab:blue", label=f"y = {slope:.3g} d + {intercept:.3g}")
    ax.set_xlabel("distance along the direction")
    ax.set_ylabel("label")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def sorted_sheet(path: str | os.PathLike, images: torch.Tensor, order: np.ndarray, n_show: int = 10) -> np.ndarray:
    """A strip of ``n_show`` images at evenly spaced ranks of ``order`` (lowest left); returns their indices."""
    picks = np.asarray(order)[np.linspace(0, len(order) - 1, min(n_show, len(order))).round().astype(int)]
    x = torch.as_tensor(images)[torch.as_tensor(picks)]
    array = to_uint8(x.float() / 127.5 - 1.0) if x.dtype == torch.uint8 else to_uint8(x.clamp(-1, 1))
    save_png(path, grid_array(array, ncols=len(picks)))
    return picks
