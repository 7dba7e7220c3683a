"""The engine-agnostic training pipeline: config, Trainer, callbacks, checkpoints, run directories."""

from imgclass.train.config import TrainConfig

__all__ = ["TrainConfig"]
