"""Fitting small supervised networks (oracles, regressors, encoders, segmenters): one trainer for all."""

from ganatomy.fit.trainer import CHECKPOINT_FILE, LossFunction, Trainer, TrainerSettings, warmup_cosine

__all__ = ["CHECKPOINT_FILE", "LossFunction", "Trainer", "TrainerSettings", "warmup_cosine"]
