"""Loading a finished run's model: weights, preprocessing and class names, ready to score new images.

:func:`load_model` works for every run that holds a model (train runs of either engine, linear
runs and linear sweeps) and needs no dataset: ``config.json``, ``data.json``,
``preprocessor.npz`` and the weights are enough. The :class:`TrainedModel` it returns is also
a predictor for :func:`imgclass.pretrained.predict.predict_images` (``class_names``,
``input_shape``, ``predict_proba``; images are resized whole to the run's H x W, as the folder
loader prepared the training images).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

from imgclass.data import Preprocessor
from imgclass.errors import ImgclassError
from imgclass.linear.estimators import SoftmaxClassifier
from imgclass.metrics import softmax
from imgclass.runs.files import MODEL_NPZ, PREPROCESSOR
from imgclass.runs.layout import Run
from imgclass.train.engines import build_engine, cuda_available

MODEL_KINDS = ("train", "linear", "linear-sweep")


@dataclass
class TrainedModel:
    """A run's model in evaluation use.

    Attributes
    ----------
    config : TrainConfig, LinearConfig or LinearSweepConfig
    scorer : an engine (train runs) or a :class:`LinearScorer`: ``scores(x)`` and ``loss_of(scores, y)``
        on preprocessed inputs
    pre : the fitted :class:`~imgclass.data.Preprocessor`
    classes : class names, label k at position k
    image_shape : (C, H, W) of the images it takes
    name : a short description for display
    calibrated : whether ``predict_proba`` is a probability (softmax-trained) or only a ranking (hinge)
    """

    config: object
    scorer: object
    pre: Preprocessor
    classes: list[str]
    image_shape: tuple[int, int, int]
    name: str
    calibrated: bool = True

    crop_fraction = None  # the predictor protocol: the whole image, resized
    resample = "bilinear"

    @property
    def class_names(self) -> list[str]:
        return self.classes

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return self.image_shape

    def scores(self, images: np.ndarray) -> np.ndarray:
        """Class scores (N, K) for uint8 images (N, C, H, W) of the run's image shape."""
        if tuple(images.shape[1:]) != self.image_shape:
            raise ImgclassError(f"this run takes images of shape {self.image_shape}, got {tuple(images.shape[1:])}")
        return self.scorer.scores(self.pre.transform(images))

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        """(N, K): softmax of the scores (for a hinge/SVM model a ranking, not a calibrated probability)."""
        return softmax(self.scores(images))

    def loss_of(self, scores: np.ndarray, y: np.ndarray) -> float | None:
        return self.scorer.loss_of(scores, y)


class LinearScorer:
    """A fitted linear estimator's scores over all K classes (a class never seen in training scores -inf)."""

    def __init__(self, estimator, num_classes: int):
        self.estimator, self.num_classes = estimator, num_classes

    def scores(self, x: np.ndarray) -> np.ndarray:
        s = self.estimator.decision_function(x)
        if s.ndim == 1:  # two classes: scikit-learn returns s1 - s0
            s = np.stack([np.zeros_like(s), s], axis=1)
        full = np.full((len(x), self.num_classes), -np.inf, np.float64)
        full[:, np.asarray(self.estimator.classes_, dtype=np.int64)] = s
        return full

    def loss_of(self, scores: np.ndarray, y: np.ndarray) -> None:
        return None  # the SGD objective includes its regularization; no data loss is reported for linear runs


def load_model(run_dir: str | os.PathLike, device: str | None = None) -> TrainedModel:
    """The model of a finished train, linear or linear-sweep run.

    ``device`` overrides a torch run's device; by default a CUDA run falls back to the CPU when no GPU is here.
    """
    run = Run.open(run_dir, kind=MODEL_KINDS)
    data = run.data()
    classes = data.get("classes")
    if not isinstance(classes, list) or not classes or not data.get("image_shape"):
        raise ImgclassError(f"{run.path}: no class names or image shape (data.json); the run is incomplete")
    classes, shape = [str(c) for c in classes], tuple(int(s) for s in data["image_shape"])
    if not run.has(PREPROCESSOR):
        raise ImgclassError(f"{run.path}: {PREPROCESSOR} is missing; the run is incomplete")
    pre = Preprocessor.load(run.file(PREPROCESSOR))
    cfg = run.model_config()
    if run.kind == "train":
        if device is not None and cfg.engine == "torch":
            cfg = cfg.replace(device=device)
        if cfg.device == "cuda" and not cuda_available():
            cfg = cfg.replace(device="cpu")
        engine = build_engine(cfg, shape, len(classes), total_steps=1)
        if not run.has(engine.weights_file):
            raise ImgclassError(f"{run.path}: no {engine.weights_file}; the run has not finished "
                                f"(continue it with imgclass train --resume {run.path})")
        engine.load_weights(run.file(engine.weights_file))
        return TrainedModel(cfg, engine, pre, classes, shape, f"{cfg.engine} {cfg.model} on {cfg.dataset} ({run.name})",
                            calibrated=cfg.loss == "softmax")
    if not run.has(MODEL_NPZ):
        raise ImgclassError(f"{run.path}: {MODEL_NPZ} is missing; the run is incomplete (was training interrupted?)")
    est = SoftmaxClassifier.load(run.file(MODEL_NPZ))  # returns the saved class, SVM or softmax
    if est.n_features_in_ != math.prod(pre.image_shape_) or int(np.max(est.classes_)) >= len(classes):
        raise ImgclassError(f"{run.path}: {MODEL_NPZ}, {PREPROCESSOR} and data.json do not belong together")
    return TrainedModel(cfg, LinearScorer(est, len(classes)), pre, classes, shape,
                        f"{cfg.loss} on {cfg.dataset} ({run.name})", calibrated=cfg.loss == "softmax")
