"""The fewer-labels paper's variants as named presets (``labels.method``, ``--label-method``).

A variant fixes three things: the training objective (``train/fewer_labels.py`` registers the
ones with D heads), whether G and D are conditional, and where the real images' labels come from:

============== =============== ==================================================================
variant        objective       labels the GAN trains with
============== =============== ==================================================================
unconditional  gan             none (unconditional G and D)
single-label   gan             one class for every image
random-labels  random-labels   a fresh uniform label per image each time it is drawn
clustering     gan             k-means clusters of a rotation net's features
clustering-ss  gan-ss          as clustering, plus D's rotation head
s2gan          gan             the labelled subset, the rest by a linear classifier on those features
s2gan-co       s2gan-co        the labelled subset; the rest unlabelled (D's class head predicts them)
s3gan          s3gan           as s2gan-co, plus D's rotation head
supervised     gan             every true label
============== =============== ==================================================================

``prepare_labels`` turns a dataset into the one a variant trains on, with a record of what it did
(the variant, the labelled subset's seed, the accuracy of inferred labels) that the run directory
keeps as ``labels.json``; the labels themselves go to ``labels.npy``, so that a resume trains on
exactly the same labels without inferring them again.
"""

from __future__ import annotations

import copy
import dataclasses
import io
import json
import time
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import numpy as np

from ganatomy.data.base import ImageDataset, RelabelledDataset
from ganatomy.data.subsets import labelled_subset
from ganatomy.errors import CheckpointError, OptionsError
from ganatomy.utils.atomic import atomic_write_bytes, atomic_write_text
from ganatomy.utils.registry import add_entry, get_entry

LABELS_RECORD = "labels.json"
LABELS_FILE = "labels.npy"

LabelSource = Literal["none", "single", "random", "clusters", "classifier", "subset", "all"]
FractionUse = Literal["none", "required", "full"]  # no labels / a fraction in (0, 1] / only 1


@dataclasses.dataclass(frozen=True)
class Variant:
    name: str
    title: str  # the paper's name
    objective: str
    conditional: bool
    source: LabelSource
    fraction: FractionUse


_VARIANTS: dict[str, Variant] = {}
VARIANTS: Mapping[str, Variant] = MappingProxyType(_VARIANTS)

for _v in (
    Variant("unconditional", "Unconditional", "gan", False, "none", "none"),
    Variant("single-label", "Single label", "gan", True, "single", "none"),
    Variant("random-labels", "Random label", "random-labels", True, "random", "none"),
    Variant("clustering", "Clustering", "gan", True, "clusters", "none"),
    Variant("clustering-ss", "Clustering (SS)", "gan-ss", True, "clusters", "none"),
    Variant("s2gan", "S2GAN", "gan", True, "classifier", "required"),
    Variant("s2gan-co", "S2GAN-CO", "s2gan-co", True, "subset", "required"),
    Variant("s3gan", "S3GAN", "s3gan", True, "subset", "required"),
    Variant("supervised", "Fully supervised", "gan", True, "all", "full"),
):
    add_entry(_VARIANTS, "label method", _v.name, _v)


def get_variant(name: str) -> Variant:
    """The variant called ``name`` (one-line error listing the known ones)."""
    return get_entry(VARIANTS, "label method", name)


def check_fraction(variant: Variant, fraction: float | None) -> None:
    """A one-line error when ``fraction`` (None: not given) does not fit ``variant``."""
    if variant.fraction == "required" and fraction is None:
        raise OptionsError(f"label method {variant.name} needs --labels FRACTION in (0, 1], e.g. --labels 0.1")
    if variant.fraction == "none" and fraction is not None:
        raise OptionsError(f"label method {variant.name} uses no labels of the data; drop --labels {fraction:g}")
    if variant.fraction == "full" and fraction not in (None, 1.0):
        raise OptionsError(f"label method {variant.name} uses every label; --labels must be 1 (got {fraction:g})")


def dataset_class_names(dataset: ImageDataset) -> list[str] | None:
    """The names of a dataset's classes where it has them (the world's hair styles, Fashion-MNIST's
    garments, a dataset.json's ``class_names``), else None."""
    names = getattr(dataset, "class_names", None)
    if names is None and hasattr(dataset, "label_factor"):
        from ganatomy.worlds import FACTORS

        factor = next((f for f in FACTORS if f.name == dataset.label_factor), None)
        names = factor.classes if factor is not None else None
    if names is None:
        meta = getattr(dataset, "metadata", None)
        names = meta.get("class_names") if isinstance(meta, dict) else None
    if names is None and isinstance(dataset, RelabelledDataset):
        return dataset_class_names(dataset.base)
    return [str(n) for n in names] if names is not None and len(names) == dataset.num_classes else None


class VariantDataset(RelabelledDataset):
    """A dataset with a variant's labels: ``num_classes`` may differ from the base's (clusters, one
    single label); ``true_labels`` are the base's, for measuring inferred labels."""

    def __init__(self, base: ImageDataset, labels: np.ndarray, num_classes: int, class_names: list[str] | None):
        super().__init__(base, labels)
        self.num_classes = int(num_classes)
        self.class_names = class_names
        self.true_labels = np.asarray(base.labels, dtype=np.int64)


@dataclasses.dataclass
class LabelledData:
    """The dataset a run trains on and the record of how its labels came about (None: as given)."""

    dataset: ImageDataset
    record: dict[str, Any] | None

    def save(self, run_dir: Path) -> None:
        """``labels.json`` and ``labels.npy`` in the run directory (nothing for data used as given)."""
        if self.record is None:
            return
        if isinstance(self.dataset, VariantDataset):  # the unconditional variant keeps the data as it is
            buffer = io.BytesIO()
            np.save(buffer, np.asarray(self.dataset.labels, dtype=np.int64))
            atomic_write_bytes(Path(run_dir) / LABELS_FILE, buffer.getvalue())
        atomic_write_text(Path(run_dir) / LABELS_RECORD, json.dumps(self.record, indent=2) + "\n")


def _num_classes(opts, dataset: ImageDataset, variant: Variant) -> int:
    k = opts.classes if opts.classes is not None else dataset.num_classes
    if k < 1:
        raise OptionsError(f"label method {variant.name}: {dataset.name} has no classes; give labels.classes")
    return int(k)


def _needs_true_labels(dataset: ImageDataset, variant: Variant) -> None:
    if not dataset.has_labels:
        raise OptionsError(f"label method {variant.name} needs labelled data; {dataset.name} has no labels")


def prepare_labels(
    opts, dataset: ImageDataset, seed: int = 0, stored: Path | None = None, infer: bool = True
) -> LabelledData:
    """The dataset that ``opts`` (``TrainOptions.labels``) trains on; ``seed`` (the run's) drives
    the label inference. ``stored``: a run directory whose ``labels.npy`` is used instead (resume).
    ``infer=False`` (a dry run) puts class 0 in place of labels that would be inferred."""
    if opts.method is None:
        return LabelledData(dataset, None)
    variant = get_variant(opts.method)
    check_fraction(variant, opts.fraction)
    if variant.source == "none":
        return LabelledData(dataset, _record(variant, opts, dataset.num_classes, None, None, None))
    if stored is not None:
        return _load_stored(variant, dataset, Path(stored))
    start = time.time()
    extra: dict[str, Any] = {}
    names = dataset_class_names(dataset)
    accuracy_of = None
    accuracy = None
    if variant.source in ("single", "random"):
        k = 1 if variant.source == "single" else _num_classes(opts, dataset, variant)
        labels, names = np.zeros(len(dataset), dtype=np.int64), None
    elif variant.source == "all":
        _needs_true_labels(dataset, variant)
        k, labels = dataset.num_classes, np.asarray(dataset.labels, dtype=np.int64)
    elif variant.source == "subset":
        _needs_true_labels(dataset, variant)
        k, labels = dataset.num_classes, labelled_subset(dataset.labels, opts.fraction, opts.subset_seed)
        accuracy_of = "D's class head on the unlabelled images, at the end of training"
    elif not infer:
        k = dataset.num_classes if variant.source == "classifier" else _num_classes(opts, dataset, variant)
        labels, accuracy_of = np.zeros(len(dataset), dtype=np.int64), "not inferred (dry run)"
    else:  # inferred from a rotation net's features
        from ganatomy.labels import inference
        from ganatomy.labels.rotation import embed, train_rotation_net

        trained = train_rotation_net(
            dataset, opts.pretrain_kimg, opts.pretrain_batch, opts.pretrain_lr, opts.pretrain_width, seed
        )
        features = embed(trained.net, dataset)
        extra["rotation_net"] = {
            "kimg": trained.images_seen / 1000,
            "rotation_accuracy": trained.final_accuracy,
            "seconds": trained.seconds,
        }
        true = np.asarray(dataset.labels, dtype=np.int64)
        if variant.source == "clusters":
            k = _num_classes(opts, dataset, variant)
            labels, names = inference.cluster_labels(features, k, seed), None
            accuracy = inference.matched_accuracy(labels, true) if dataset.has_labels else None
            accuracy_of = "all images, clusters matched one to one to the true classes"
        else:
            _needs_true_labels(dataset, variant)
            k = dataset.num_classes
            subset = labelled_subset(true, opts.fraction, opts.subset_seed)
            labels = inference.classifier_labels(features, subset, seed)
            accuracy = inference.accuracy(labels, true, where=subset < 0)
            accuracy_of = "the unlabelled images (the labelled ones keep their label)"
    data = VariantDataset(dataset, labels, k, names)
    extra["seconds"] = time.time() - start
    return LabelledData(data, _record(variant, opts, k, labels, accuracy, accuracy_of, extra))


def _record(variant, opts, classes, labels, accuracy, accuracy_of, extra=None) -> dict[str, Any]:
    labelled = None if labels is None or variant.source in ("single", "random") else int((labels >= 0).sum())
    return {
        "variant": variant.name,
        "title": variant.title,
        "objective": variant.objective,
        "label_fraction": opts.fraction if variant.fraction != "none" else None,
        "subset_seed": opts.subset_seed if variant.source in ("subset", "classifier") else None,
        "classes": int(classes),
        "labelled_images": labelled,
        "label_accuracy": accuracy,
        "label_accuracy_of": accuracy_of,
        **(extra or {}),
    }


def _load_stored(variant: Variant, dataset: ImageDataset, run_dir: Path) -> LabelledData:
    try:
        record = json.loads((run_dir / LABELS_RECORD).read_text())
        labels = np.load(run_dir / LABELS_FILE, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise CheckpointError(
            f"{run_dir}: cannot read the run's labels ({LABELS_RECORD}, {LABELS_FILE}): {e}"
        ) from None
    if record.get("variant") != variant.name or labels.shape != (len(dataset),):
        raise CheckpointError(f"{run_dir}: {LABELS_FILE} does not belong to this run's data and label method")
    names = dataset_class_names(dataset) if variant.source in ("all", "subset", "classifier") else None
    return LabelledData(VariantDataset(dataset, labels, record["classes"], names), record)


def class_head_accuracy(D, data: ImageDataset, head: str, batch: int = 500, limit: int = 10000) -> float | None:
    """Accuracy of D's class head on (up to ``limit`` of) the images ``data`` leaves unlabelled but
    whose true label is known: the S2GAN-CO / S3GAN labels' accuracy."""
    import torch

    from ganatomy.labels.rotation import unit_images

    true = getattr(data, "true_labels", None)
    if true is None or head not in D.heads:
        return None
    idx = np.flatnonzero((np.asarray(data.labels) < 0) & (true >= 0))[:limit]
    if idx.size == 0:
        return None
    device = next(D.parameters()).device
    # In training mode, as in training: a trunk with BatchNorm normalises a batch of reals by its
    # own statistics (its running averages mix reals, fakes and rotated copies). A copy, so that
    # the measurement leaves D's running statistics as they were.
    D = copy.deepcopy(D).train()
    correct = 0
    with torch.no_grad():
        for start in range(0, idx.size, batch):
            chunk = idx[start : start + batch]
            logits = D.heads[head](D.features(unit_images(data, chunk).to(device)))
            correct += int((logits.argmax(1).cpu().numpy() == true[chunk]).sum())
    return correct / idx.size
