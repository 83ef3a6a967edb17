"""``ganatomy regress``: LARGE on image folders: a regressor from a few labels, predictions, label-free sorting.

``fit`` inverts a folder (an inversion directory from ``ganatomy invert train``), calibrates the
distance along a direction on the labelled images (a CSV ``file,label``; two rows are enough) and
writes the regressor, its calibration plot and a CSV of predictions for every image; ``predict``
applies a saved regressor to another folder; ``sort`` orders a folder along a direction, no labels.
``demo_stage`` is the demo's two-label stage.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import typer
from rich.console import Console

from ganatomy.cli.options import DEVICE_OPTION, resolve_device, set_threads

regress_app = typer.Typer(
    name="regress",
    help="LARGE: regress an attribute of real images from two labels, or sort them with none.",
    no_args_is_help=True,
    add_completion=False,
)
MODEL_FILE = "regressor.safetensors"
INFO_FILE = "regress.json"


def read_labels(path: Path, column: str | None) -> dict[str, float]:
    """{relative file: label} from a CSV with a ``file`` column and a label column (default: the second)."""
    from ganatomy.errors import DataError

    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError as e:
        raise DataError(f"{path}: cannot read the labels ({e.strerror})") from None
    except (UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"{path}: not a CSV text file ({' '.join(str(e).split())})") from None
    if not rows or "file" not in rows[0]:
        raise DataError(f"{path}: expected a CSV with a header 'file,<label>' and one row per labelled image")
    names = [k for k in rows[0] if k != "file"]
    if column is None and not names:
        raise DataError(f"{path}: has no label column beside 'file'; expected a header 'file,<label>'")
    column = column or names[0]
    if column not in rows[0]:
        raise DataError(f"{path}: no label column {column!r}; columns: {', '.join(rows[0])}")
    labels: dict[str, float] = {}
    for row in rows:
        if row["file"] in labels:
            raise DataError(f"{path}: {row['file']} is labelled twice")
        try:
            labels[row["file"]] = float(row[column])
        except (TypeError, ValueError):
            raise DataError(f"{path}: column {column!r} holds a value that is not a number") from None
    return labels


def _folder(images: Path, G: Any):
    from ganatomy.data.folder import ImageFolderDataset
    from ganatomy.invert.images import generator_images

    data = ImageFolderDataset(images, mode="rgb" if G.img_channels == 3 else "grey")
    return data, generator_images(data.images, G, str(images))


def _direction(direction: str, G: Any) -> Any:
    from ganatomy.directions import load
    from ganatomy.regress.regressor import SUPERVISED

    return SUPERVISED if direction == SUPERVISED else load(direction, G)


@regress_app.command("fit")
def fit(
    encoder: Path = typer.Option(..., help="An inversion directory (ganatomy invert train)."),
    images: Path = typer.Option(..., help="The image folder (labelled and unlabelled images)."),
    labels: Path = typer.Option(..., help="CSV 'file,label': the labelled images (two are enough)."),
    direction: str = typer.Option("supervised", help="supervised, or a directions file / run directory."),
    index: int | None = typer.Option(None, help="Which direction of the file (default: best aligned with labels)."),
    column: str | None = typer.Option(None, help="The label column of the CSV (default: the second)."),
    out: Path = typer.Option(..., help="Where the regressor, plot and predictions go."),
    threads: int | None = typer.Option(None, help="torch threads."),
    device: str = DEVICE_OPTION,
) -> None:
    """Fit a regressor from a few labelled images; predict every image of the folder."""
    from ganatomy.errors import DataError
    from ganatomy.invert.run import open_inverter
    from ganatomy.regress import LatentRegressor
    from ganatomy.regress.report import calibration_plot, write_predictions_csv
    from ganatomy.utils.atomic import atomic_write_text, check_output_dir

    device = resolve_device(device)
    set_threads(threads)
    check_output_dir(out, "--out")
    inverter, G, network = open_inverter(encoder, device=device)
    data, x = _folder(images, G)
    given = read_labels(labels, column)
    missing = [f for f in given if f not in data.relpaths]
    if missing:
        raise DataError(f"{labels}: {missing[0]} is not an image of {images}")
    labelled = [data.relpaths.index(f) for f in given]
    latents = inverter.invert(x, G)
    reg = LatentRegressor(_direction(direction, G), index, inverter.space_, generator=G)
    reg.fit_latents(latents[labelled], list(given.values()))
    predictions = reg.predict_latents(latents)
    d = reg.features(latents)[:, 0]
    reg.save(out / MODEL_FILE)
    info = {"encoder": str(encoder), "network": network, "direction": direction, "index": reg.index_}
    info.update({"slope": reg.coef_[0], "intercept": reg.intercept_, "labels": len(given)})
    info["label_spread"] = reg.label_spread_  # in prior std along the direction: below 0.5 the line is unreliable
    atomic_write_text(out / INFO_FILE, json.dumps(info, indent=2) + "\n")
    write_predictions_csv(out / "predictions.csv", data.relpaths, {"prediction": predictions, "distance": d})
    title = f"{len(given)} labels, direction {direction if reg.index_ < 0 else reg.index_}"
    calibration_plot(
        out / "calibration.png", d[labelled], np.asarray(list(given.values())), reg.coef_[0], reg.intercept_, title
    )
    Console().print(json.dumps({**info, "out": str(out)}))


@regress_app.command("predict")
def predict(
    model: Path = typer.Option(..., help="A directory written by 'ganatomy regress fit'."),
    images: Path = typer.Option(..., help="The image folder to predict."),
    out: Path = typer.Option(..., help="The CSV of predictions to write."),
    threads: int | None = typer.Option(None, help="torch threads."),
    device: str = DEVICE_OPTION,
) -> None:
    """Predict the attribute of every image of a folder with a fitted regressor."""
    from ganatomy.invert.run import open_inverter
    from ganatomy.regress import LatentRegressor
    from ganatomy.regress.report import write_predictions_csv

    device = resolve_device(device)
    set_threads(threads)
    info = _read_info(model)
    inverter, G, _ = open_inverter(info["encoder"], info["network"], device)
    reg = LatentRegressor.load(model / MODEL_FILE).set_params(inverter=inverter, generator=G)
    data, x = _folder(images, G)
    latents = inverter.invert(x, G)
    columns = {"prediction": reg.predict_latents(latents), "distance": reg.features(latents)[:, 0]}
    write_predictions_csv(out, data.relpaths, columns)
    Console().print(f"wrote {len(data.relpaths)} predictions to {out}")


def _read_info(model: Path) -> dict[str, Any]:
    from ganatomy.errors import OptionsError

    path = model / INFO_FILE
    if not path.is_file():
        raise OptionsError(f"{model}: not a regressor directory (no {INFO_FILE}); make one with ganatomy regress fit")
    return json.loads(path.read_text())


@regress_app.command("sort")
def sort_folder(
    images: Path = typer.Option(..., help="The image folder to sort."),
    encoder: Path | None = typer.Option(None, help="An inversion directory (or take the one of --model)."),
    direction: str | None = typer.Option(None, help="A directions file or run directory."),
    index: int = typer.Option(0, help="Which direction of the file."),
    model: Path | None = typer.Option(None, help="A fitted regressor directory: sort along its direction."),
    show: int = typer.Option(10, help="Images on the sorted sheet (evenly spaced ranks)."),
    out: Path = typer.Option(..., help="Where sorted.png and order.csv go."),
    threads: int | None = typer.Option(None, help="torch threads."),
    device: str = DEVICE_OPTION,
) -> None:
    """Order a folder by attribute strength along a direction (no labels; the sign is the direction's)."""
    from ganatomy.errors import OptionsError
    from ganatomy.invert.run import open_inverter
    from ganatomy.regress import LatentRegressor, sort_latents
    from ganatomy.regress.report import sorted_sheet, write_predictions_csv
    from ganatomy.utils.atomic import check_output_dir

    device = resolve_device(device)
    set_threads(threads)
    check_output_dir(out, "--out")
    if show < 1:
        raise OptionsError(f"--show must be >= 1, got {show}")
    if model is not None:
        info = _read_info(model)
        inverter, G, _ = open_inverter(encoder or info["encoder"], info["network"], device)
        chosen, index = LatentRegressor.load(model / MODEL_FILE).direction_, 0
    elif encoder is not None and direction is not None:
        inverter, G, _ = open_inverter(encoder, device=device)
        chosen = _direction(direction, G)
    else:
        raise OptionsError("give --model DIR, or --encoder DIR and --direction FILE")
    data, x = _folder(images, G)
    order = sort_latents(inverter.invert(x, G), chosen, index, inverter.space_)
    sorted_sheet(out / "sorted.png", x, order, show)
    write_predictions_csv(out / "order.csv", [data.relpaths[i] for i in order], {"rank": np.arange(len(order))})
    Console().print(f"wrote {out / 'sorted.png'} and {out / 'order.csv'}")


def demo_stage(outdir: Path, G: Any, console: Console, factor: str = "head_x", seed: int = 3) -> dict[str, Any]:
    """The demo's LARGE stage: two labelled real world images give a regressor of one world factor.

    An encoder with the world oracle's frozen backbone is trained briefly on G's own pairs (latent loss
    only: seconds), 200 real held-out world images are inverted, the regressor is calibrated on two of
    them (the supervised normal from those two), and the rest are predicted: a calibration plot with
    the true labels of the others, a sorted sheet, and the MAE against the world's truth.
    """
    from ganatomy.data.world import WorldDataset
    from ganatomy.invert import EncoderInverter
    from ganatomy.regress import LatentRegressor, sort_latents
    from ganatomy.regress.report import calibration_plot, sorted_sheet

    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    inverter = EncoderInverter(
        space="w", steps=300, batch_size=64, lr=3e-3, n_pairs=2048, image_weight=0.0, backbone="oracle", seed=0
    ).fit(G)
    world = WorldDataset(int(G.img_resolution), size=200, seed=seed)
    images, truth = world.get_images(np.arange(200)), world.get_factors(np.arange(200))[factor]
    latents = inverter.invert(images, G)
    two = np.array([int(np.argmin(truth)), int(np.argmax(truth))])  # the two a user would label: far apart
    reg = LatentRegressor(direction="supervised", space="w", generator=G).fit_latents(latents[two], truth[two])
    predictions = reg.predict_latents(latents)
    d = reg.features(latents)[:, 0]
    rest = np.setdiff1d(np.arange(200), two)
    mae = float(np.abs(predictions[rest] - truth[rest]).mean())
    calibration_plot(
        outdir / "calibration.png",
        d[two],
        truth[two],
        reg.coef_[0],
        reg.intercept_,
        f"{factor}: two labels, {len(rest)} held-out images",
        d[rest],
        truth[rest],
    )
    sorted_sheet(outdir / "sorted.png", images, sort_latents(latents, reg.direction_), 10)
    spread = float(np.abs(truth[rest] - truth[rest].mean()).mean())
    console.print(
        f"regress: {factor} from 2 labels, MAE {mae:.4g} on {len(rest)} real images "
        f"(predicting the mean: {spread:.4g}); wrote {outdir}"
    )
    return {"factor": factor, "mae": mae, "mae_of_mean": spread, "out": str(outdir)}


def register(app: typer.Typer) -> None:
    app.add_typer(regress_app, name="regress")
