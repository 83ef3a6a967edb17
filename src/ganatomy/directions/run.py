"""A ``ganatomy directions fit`` run: one typed options tree, a self-describing run directory, a resume.

::

    runs/00002-directions-voynov-world32-stylegan2/
        options.json             the resolved options (``DirectionsFitOptions``); re-creates the run
        stats.jsonl, checkpoint.safetensors   Voynov's training log and resumable state (fit.Trainer)
        estimator.safetensors    the fitted estimator (parameters + fitted state)
        directions.safetensors   the directions alone (what ``ganatomy.directions.load`` reads)
        summary.json             headline numbers (RCA, explained variance, boundary accuracy, ...)

A run directory records the generator by the name it was given (a zoo name or a path) and by
content hash, so ``show`` and ``load`` find and check it.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any, Literal

from ganatomy.directions.io import DIRECTIONS_FILE
from ganatomy.errors import OptionsError
from ganatomy.latent.directions import LAYER_GROUPS
from ganatomy.runs.options import check_values, dump_options, load_options, option

OPTIONS_FILE = "options.json"
ESTIMATOR_FILE = "estimator.safetensors"
SUMMARY_FILE = "summary.json"
Method = Literal["voynov", "ganspace", "sefa", "interfacegan"]


def parse_layers(text: str | None) -> list[int] | str | None:
    """W+ rows from ``"0-3"`` / ``"0,2,5"``, or a layer group's name (None or "" or "all": every row)."""
    if text is None or text.strip() in ("", "all"):
        return None
    if text.strip() in LAYER_GROUPS:
        return text.strip()
    from ganatomy.utils.seeds import parse_seeds

    try:
        return parse_seeds(text)
    except OptionsError:
        raise OptionsError(
            f"--layers: cannot read {text!r}; use W+ rows like 0-3 or 0,2,5, or {', '.join(LAYER_GROUPS)}"
        ) from None


@dataclasses.dataclass(frozen=True)
class DirectionsFitOptions:
    """Everything that decides a directions run (see each estimator for the meaning)."""

    network: str
    method: Method = "voynov"
    n_directions: int | None = option(None, ge=1, le=100_000)
    space: Literal["auto", "z", "w", "w+"] = "auto"
    layers: list[int] | None = option(None, ge=0, le=1024)  # W+ rows
    layer_group: Literal["coarse", "middle", "fine"] | None = None  # a style-mixing range instead of rows
    seed: int = option(0, ge=0, lt=2**63)
    # Voynov & Babenko
    deformator: Literal["ortho", "proj", "linear", "coordinate", "random"] = "ortho"
    init: Literal["random", "coordinate"] = "random"
    steps: int = option(2000, ge=1, le=10**9)
    batch_size: int = option(32, ge=1, le=65_536)
    lr: float = option(1e-4, gt=0, le=10)
    final_lr: float = option(1.0, ge=0, le=1)  # the learning rate's factor at the last step (cosine)
    deformator_gain: float = option(1.0, gt=0, le=1e6)
    shift_range: float = option(6.0, gt=0, le=1e6)
    min_shift: float = option(0.5, ge=0, le=1e6)
    reconstructor: Literal["auto", "lenet", "resnet"] = "auto"
    bf16: bool | Literal["auto"] = "auto"  # autocast where the device computes bf16 natively
    checkpoint_every: int = option(250, ge=0, le=10**9)
    # GANSpace / InterFaceGAN samples; GANSpace feature map; InterFaceGAN attributes
    n_samples: int = option(10_000, ge=1, le=10**8)
    feature: str | None = None
    attributes: list[str] | None = None

    def __post_init__(self) -> None:
        # Numbers within their declared bounds, no empty strings: the checks of every options tree.
        check_values(self)
        if self.layers is not None and self.layer_group is not None:
            raise OptionsError("directions: give W+ rows (layers) or a layer group, not both")
        if self.method == "interfacegan" and (self.layers is not None or self.layer_group is not None):
            raise OptionsError("directions: interfacegan fits normals in the whole latent; --layers does not apply")
        if self.min_shift >= self.shift_range:
            raise OptionsError(
                f"directions: min_shift ({self.min_shift}) must be below shift_range ({self.shift_range})"
            )

    def estimator(self) -> Any:
        """The unfitted estimator these options describe."""
        from ganatomy.directions import (
            GANSpaceDirections,
            InterFaceGANDirections,
            SeFaDirections,
            VoynovDirections,
        )

        if self.method == "voynov":
            return VoynovDirections(
                self.n_directions,
                self.deformator,
                self.space,
                self.layers,
                self.init,
                self.shift_range,
                self.min_shift,
                self.steps,
                self.batch_size,
                self.lr,
                final_lr=self.final_lr,
                deformator_gain=self.deformator_gain,
                reconstructor=self.reconstructor,
                bf16=self.bf16,
                seed=self.seed,
            )
        k = 10 if self.n_directions is None else self.n_directions
        if self.method == "ganspace":
            return GANSpaceDirections(k, self.space, self.layers, self.feature, self.n_samples, seed=self.seed)
        if self.method == "sefa":
            return SeFaDirections(k, self.layers)
        return InterFaceGANDirections(self.attributes, self.space, min(self.n_samples, 4000), seed=self.seed)


def summary_of(est: Any) -> dict[str, Any]:
    """The headline numbers of a fitted estimator, for summary.json and the CLI."""
    d = est.directions_
    out: dict[str, Any] = {
        "method": d.method,
        "directions": len(d),
        "space": d.space,
        "layers": None if d.layers is None else list(d.layers),
        "shift_unit": d.meta["shift_unit"],
    }
    for key in ("rca", "shift_error", "explained_variance_ratio", "eigenvalues", "accuracy"):
        if key in d.meta:
            out[key] = d.meta[key]
    if hasattr(est, "steps_per_second_"):
        out["steps_per_second"] = est.steps_per_second_
    return out


def fit_run(
    options: DirectionsFitOptions,
    run_dir: str | os.PathLike,
    resume: bool = False,
    progress: bool = True,
    device: str = "cpu",
) -> dict[str, Any]:
    """Fit the directions of ``options`` into ``run_dir`` (continuing its checkpoint with ``resume``),
    with the generator on ``device`` (the estimators work where G is)."""
    from ganatomy.nets.load import load_generator

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    dump_options(options, run_dir / OPTIONS_FILE)
    G = load_generator(options.network, device=device)
    est = options.estimator()
    if options.layer_group is not None:  # rows of this generator's coarse / middle / fine range
        from ganatomy.latent import layer_groups

        est.set_params(layers=list(layer_groups(G.num_ws)[options.layer_group]))
    if options.method == "voynov":
        est.set_params(run_dir=str(run_dir), checkpoint_every=options.checkpoint_every, progress=progress)
        est.fit(G, name=options.network, resume=resume)
        est.set_params(run_dir=None, progress=False)  # the saved parameters should not point at this folder
    else:
        est.fit(G, name=options.network)
    est.save(run_dir / ESTIMATOR_FILE)
    est.save_directions(run_dir / DIRECTIONS_FILE)
    summary = summary_of(est)
    (run_dir / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def read_run_options(run_dir: str | os.PathLike) -> DirectionsFitOptions:
    path = Path(run_dir) / OPTIONS_FILE
    return load_options(DirectionsFitOptions, path)
