"""Oracles: networks trained on ground truth that judge any image, generated ones included.

* The world oracle (:class:`WorldOracle`, one per resolution: ``load_oracle("world32")``,
  ``load_oracle("world64")``) reads every continuous factor, every categorical factor and the part
  mask off a world image, and gives a 256-d feature vector for Fréchet distances (extractor
  ``oracle``). Factor names, kinds and ranges come from the world registry (``spec.py``).
* The Fashion-MNIST classifier (:class:`FashionClassifier`, ``load_oracle("fmnist")``) judges
  classes and gives penultimate features (extractor ``fmnist``).

Both ship inside the package (``ganatomy/assets/oracle-*.safetensors``), so evaluation needs no
training; ``ganatomy oracle train`` / ``train-fmnist`` make new ones and ``ganatomy bench oracle``
measures the shipped ones on held-out data. Importing this package registers both as judges of the
metrics (``oracle`` and ``fmnist``, see ``ganatomy.oracle.judges``).
"""

from ganatomy.oracle.evaluation import (
    EVAL_DATA_SEED,
    TRAIN_DATA_SEED,
    WorldOracleScores,
    evaluate_fashion_classifier,
    evaluate_world_oracle,
)
from ganatomy.oracle.judges import FashionExtractor, OracleExtractor, world_oracle_name
from ganatomy.oracle.network import FashionNet, WorldOracleNet
from ganatomy.oracle.predictor import FashionClassifier, OraclePrediction, WorldOracle, load_oracle
from ganatomy.oracle.spec import OracleSpec, is_circular, r2_scores
from ganatomy.oracle.store import SHIPPED, asset_path, read_oracle, save_oracle
from ganatomy.oracle.train import (
    FashionTraining,
    WorldOracleTraining,
    train_fashion_classifier,
    train_world_oracle,
)

__all__ = [
    "EVAL_DATA_SEED",
    "TRAIN_DATA_SEED",
    "WorldOracleScores",
    "evaluate_fashion_classifier",
    "evaluate_world_oracle",
    "FashionExtractor",
    "OracleExtractor",
    "world_oracle_name",
    "FashionNet",
    "WorldOracleNet",
    "FashionClassifier",
    "OraclePrediction",
    "WorldOracle",
    "load_oracle",
    "OracleSpec",
    "is_circular",
    "r2_scores",
    "SHIPPED",
    "asset_path",
    "read_oracle",
    "save_oracle",
    "FashionTraining",
    "WorldOracleTraining",
    "train_fashion_classifier",
    "train_world_oracle",
]
