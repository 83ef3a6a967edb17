"""Metrics against ground truth: distribution distances, disentanglement, segmentation, classes.

Distribution metrics (FD/FID, KID, precision/recall) run on features from an injected
extractor and are named by protocol (``fd10k_oracle``, ``fid10k_inception``); see
:func:`compute_metrics`. Generator metrics (class consistency, disentanglement) read a
generator's images with a judge (``ganatomy.metrics.evaluate``). Judges are registered by name
(:mod:`ganatomy.metrics.judges`; the oracle package adds ``oracle`` and ``fmnist``) and a dataset
declares its own. The other metrics take arrays directly.
"""

from ganatomy.metrics.cache import FeatureCache, cache_key, images_fingerprint, resolve_cache_dir
from ganatomy.metrics.classes import ClassConsistency, class_consistency
from ganatomy.metrics.compute import append_metric_records, compute_metrics, default_extractors
from ganatomy.metrics.disentanglement import (
    DCIResult,
    MIGResult,
    SAPResult,
    dci,
    disentanglement_scores,
    equal_frequency_bins,
    mig,
    sap,
)
from ganatomy.metrics.extractors import EfficientNetLite0Extractor, FeatureExtractor, ModuleExtractor
from ganatomy.metrics.frechet import (
    FeatureStats,
    frechet_distance,
    frechet_distance_from_features,
    frechet_distance_from_stats,
)
from ganatomy.metrics.inception import FIDInceptionV3, InceptionExtractor, load_fid_inception
from ganatomy.metrics.judges import DEFAULT_JUDGE, JUDGES, Judge, get_judge, judge_of, load_judge, register_judge
from ganatomy.metrics.kid import KIDResult, kernel_inception_distance
from ganatomy.metrics.precision_recall import PrecisionRecall, knn_radii, precision_recall
from ganatomy.metrics.records import make_record
from ganatomy.metrics.registry import (
    GENERATOR_METRIC_KINDS,
    METRIC_KINDS,
    FeatureSet,
    GeneratorMetricKind,
    MetricKind,
    MetricName,
    MetricOptions,
    all_metric_kinds,
    parse_metric_name,
    register_metric_kind,
)
from ganatomy.metrics.segmentation import (
    SegmentationConfusion,
    greedy_mapping,
    hungarian_mapping,
    iou_matrix,
    many_to_one_mapping,
    mean_iou,
    pixel_accuracy,
    segmentation_scores,
)

__all__ = [
    "FeatureCache",
    "cache_key",
    "images_fingerprint",
    "resolve_cache_dir",
    "ClassConsistency",
    "class_consistency",
    "append_metric_records",
    "compute_metrics",
    "default_extractors",
    "DCIResult",
    "MIGResult",
    "SAPResult",
    "dci",
    "disentanglement_scores",
    "equal_frequency_bins",
    "mig",
    "sap",
    "EfficientNetLite0Extractor",
    "FeatureExtractor",
    "FIDInceptionV3",
    "InceptionExtractor",
    "ModuleExtractor",
    "load_fid_inception",
    "FeatureStats",
    "frechet_distance",
    "frechet_distance_from_features",
    "frechet_distance_from_stats",
    "DEFAULT_JUDGE",
    "JUDGES",
    "Judge",
    "get_judge",
    "judge_of",
    "load_judge",
    "register_judge",
    "KIDResult",
    "kernel_inception_distance",
    "PrecisionRecall",
    "knn_radii",
    "precision_recall",
    "make_record",
    "GENERATOR_METRIC_KINDS",
    "METRIC_KINDS",
    "FeatureSet",
    "GeneratorMetricKind",
    "MetricKind",
    "MetricName",
    "MetricOptions",
    "all_metric_kinds",
    "parse_metric_name",
    "register_metric_kind",
    "SegmentationConfusion",
    "greedy_mapping",
    "hungarian_mapping",
    "iou_matrix",
    "many_to_one_mapping",
    "mean_iou",
    "pixel_accuracy",
    "segmentation_scores",
]
