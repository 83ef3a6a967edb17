"""Metrics against ground truth: distribution distances, disentanglement, segmentation, classes.

Distribution metrics (FD/FID, KID, precision/recall) run on features from an injected
extractor and are named by protocol (``fd10k_oracle``, ``fid10k_inception``); see
:func:`compute_metrics`. The others take arrays directly.
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
from ganatomy.metrics.extractors import (
    EfficientNetLite0Extractor,
    FeatureExtractor,
    FIDInceptionV3,
    InceptionExtractor,
    ModuleExtractor,
    load_fid_inception,
)
from ganatomy.metrics.frechet import (
    FeatureStats,
    frechet_distance,
    frechet_distance_from_features,
    frechet_distance_from_stats,
)
from ganatomy.metrics.kid import KIDResult, kernel_inception_distance
from ganatomy.metrics.precision_recall import PrecisionRecall, knn_radii, precision_recall
from ganatomy.metrics.registry import (
    METRIC_KINDS,
    FeatureSet,
    MetricKind,
    MetricName,
    MetricOptions,
    parse_metric_name,
    register_metric_kind,
)
from ganatomy.metrics.segmentation import (
    SegmentationConfusion,
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
    "KIDResult",
    "kernel_inception_distance",
    "PrecisionRecall",
    "knn_radii",
    "precision_recall",
    "METRIC_KINDS",
    "FeatureSet",
    "MetricKind",
    "MetricName",
    "MetricOptions",
    "parse_metric_name",
    "register_metric_kind",
    "SegmentationConfusion",
    "hungarian_mapping",
    "iou_matrix",
    "many_to_one_mapping",
    "mean_iou",
    "pixel_accuracy",
    "segmentation_scores",
]
