"""Predictors from run directories written by imgclass training commands.

:func:`load_run_predictor` reads ``RUN_DIR/config.json``, picks a loader by
the ``command`` that wrote the run (:data:`RUN_LOADERS`), and returns a
predictor (see :mod:`imgclass.pretrained.predict`) that applies the run's
own preprocessing and class names. New run layouts are one more entry in
:data:`RUN_LOADERS`; an unknown layout is an :class:`ImgclassError`.

Images for a run are converted to its channels and resized to its H x W
(the whole image, bilinear), which is how the folder loader prepared the
training images.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable

import numpy as np

from imgclass.errors import ImgclassError


class LinearRunPredictor:
    """A linear classifier (softmax or SVM) and its fitted :class:`~imgclass.data.Preprocessor`.

    Parameters
    ----------
    estimator : fitted SoftmaxClassifier or LinearSVM
    preprocessor : fitted Preprocessor (flattening)
    class_names : list of str
        Name of label k at position k.
    name : str

    ``predict_proba`` gives softmax probabilities; for an SVM it gives the
    softmax of the class scores, which ranks classes like the SVM does but is
    not a calibrated probability (``calibrated`` is False).
    """

    crop_fraction = None  # the whole image, resized to H x W as the folder loader did
    resample = "bilinear"

    def __init__(self, estimator, preprocessor, class_names: list[str], name: str = "linear run"):
        self.estimator = estimator
        self.preprocessor = preprocessor
        self.class_names = list(class_names)
        self.input_shape = tuple(int(v) for v in preprocessor.image_shape_)
        self.name = name
        self.calibrated = hasattr(estimator, "predict_proba")

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """uint8 images (N, C, H, W) -> (N, K) probabilities over ``class_names``."""
        feats = self.preprocessor.transform(x)  # (N, C*H*W), normalized as the training data was
        if self.calibrated:
            p = self.estimator.predict_proba(feats)
        else:
            s = self.estimator.decision_function(feats)
            if s.ndim == 1:  # two classes: scikit-learn returns s1 - s0
                s = np.stack([np.zeros_like(s), s], axis=1)
            from imgclass.evaluate.metrics import softmax

            p = softmax(s)
        full = np.zeros((len(x), len(self.class_names)), p.dtype)
        full[:, np.asarray(self.estimator.classes_, dtype=np.int64)] = p  # a class never seen in training stays 0
        return full


def _load_linear(run_dir: Path, config: dict, device: str) -> LinearRunPredictor:
    """``imgclass linear train`` / ``linear sweep``: model.npz + preprocessor.npz (NumPy; ``device`` unused)."""
    from imgclass.data.preprocess import Preprocessor
    from imgclass.linear.estimators import SoftmaxClassifier

    for f in ("model.npz", "preprocessor.npz"):
        if not (run_dir / f).is_file():
            raise ImgclassError(f"{run_dir}: {f} is missing; the run is incomplete (was training interrupted?)")
    est = SoftmaxClassifier.load(run_dir / "model.npz")  # returns the saved class, SVM or softmax
    pre = Preprocessor.load(run_dir / "preprocessor.npz")
    classes = config.get("classes")
    if not isinstance(classes, list) or not classes:
        raise ImgclassError(f"{run_dir}/config.json: no class names ('classes')")
    if est.n_features_in_ != int(np.prod(pre.image_shape_)) or int(np.max(est.classes_)) >= len(classes):
        raise ImgclassError(f"{run_dir}: model.npz, preprocessor.npz and config.json do not belong together")
    name = f"{config.get('loss', 'linear')} on {config.get('dataset', '?')} ({run_dir.name})"
    return LinearRunPredictor(est, pre, [str(c) for c in classes], name=name)


class TrainedRunPredictor:
    """A model trained by ``imgclass train`` (either engine), with its preprocessing and class names."""

    crop_fraction = None
    resample = "bilinear"
    calibrated = True  # softmax of the logits; for a hinge-trained model a ranking, not a calibrated probability

    def __init__(self, trained, name: str):
        self.trained = trained
        self.class_names = list(trained.classes)
        self.input_shape = tuple(trained.image_shape)
        self.name = name
        self.calibrated = trained.cfg.loss == "softmax"

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return self.trained.predict_proba(x)


def _load_trained(run_dir: Path, config: dict, device: str) -> TrainedRunPredictor:
    """``imgclass train`` (numpy or torch engine): config.json + data.json + model.npz/model.pt."""
    from imgclass.train.run import load_trained

    trained = load_trained(run_dir, device=device)
    return TrainedRunPredictor(trained, f"{trained.cfg.engine} {config.get('model')} on {config.get('dataset')} "
                                        f"({run_dir.name})")


#: config.json "command" -> loader(run_dir, config, device) returning a predictor.
#: ``imgclass train`` writes its TrainConfig, recognised by its "engine" key (command "train").
RUN_LOADERS: dict[str, Callable] = {
    "linear train": _load_linear,
    "linear sweep": _load_linear,
    "train": _load_trained,
}


def read_config(run_dir: str | os.PathLike) -> dict:
    """``RUN_DIR/config.json`` as a dict, with a clear error when it is not a run directory."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ImgclassError(f"{run_dir}: no such run directory")
    path = run_dir / "config.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ImgclassError(f"{run_dir}: not a run directory (no config.json); pass a directory that an "
                            "imgclass training command wrote") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ImgclassError(f"{path}: unreadable ({e})") from e
    if not isinstance(config, dict):
        raise ImgclassError(f"{path}: expected a JSON object")
    return config


def load_run_predictor(run_dir: str | os.PathLike, device: str = "auto"):
    """A predictor for the run in ``run_dir``, chosen by ``config.json``'s ``command``.

    Returns an object with ``class_names``, ``input_shape`` (C, H, W) and
    ``predict_proba(uint8 (N, C, H, W)) -> (N, K)``. ``device`` is passed to
    loaders of PyTorch runs. Raises :class:`ImgclassError` for a missing,
    incomplete or unknown run layout.
    """
    run_dir = Path(run_dir)
    config = read_config(run_dir)
    command = config.get("command", "train" if "engine" in config else None)
    loader = RUN_LOADERS.get(command) if isinstance(command, str) else None
    if loader is None:
        known = ", ".join(f"'imgclass {c}'" for c in RUN_LOADERS)
        raise ImgclassError(f"{run_dir}: unknown run layout (config.json command {command!r}); "
                            f"--run takes run directories written by {known}")
    return loader(run_dir, config, device)
