"""``LinearSVM`` and ``SoftmaxClassifier``: scikit-learn estimators trained by minibatch SGD.

They follow the scikit-learn contract (``__init__`` only stores its
arguments; ``fit`` returns ``self``; learned attributes end in ``_``;
randomness comes from ``random_state``), so ``clone``, ``GridSearchCV``
and ``Pipeline`` work, and ``sklearn.utils.estimator_checks.check_estimator``
passes (see tests/linear/test_estimators.py). The loss, its gradient and the
SGD update are imgclass's own (:mod:`.losses`, :mod:`.sgd`); the forward pass
is ``S = X Wᵀ + b``.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from imgclass.errors import ImgclassError
from imgclass.fileio import atomic_write
from imgclass.linear.sgd import sgd_fit

BIAS = ("vector", "trick", "none")


class _LinearClassifier(ClassifierMixin, BaseEstimator):
    """Shared fit/predict/save for the two linear classifiers (see the subclasses)."""

    _loss = ""

    def _loss_kwargs(self) -> dict:
        return {"reg_convention": self.reg_convention}

    def _check_params(self) -> None:
        if self.bias not in BIAS:
            raise ValueError(f"bias must be one of {', '.join(BIAS)}, got {self.bias!r}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")
        if not self.reg >= 0:
            raise ValueError(f"reg must be >= 0, got {self.reg}")
        if self.num_iters < 1 or self.batch_size < 1:
            raise ValueError(f"num_iters and batch_size must be >= 1, got {self.num_iters}, {self.batch_size}")
        if self.averaging is not None and not 0 <= self.averaging < 1:
            raise ValueError(f"averaging must lie in [0, 1) or be None, got {self.averaging}")
        if not 0 < self.lr_decay <= 1:
            raise ValueError(f"lr_decay must lie in (0, 1], got {self.lr_decay}")
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be 'float32' or 'float64', got {self.dtype!r}")

    def _features(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=self.dtype)
        if self.bias == "trick":  # (N, D) -> (N, D + 1): the constant-1 column carries the bias
            X = np.hstack([X, np.ones((len(X), 1), X.dtype)])
        return X

    def fit(self, X, y):
        """Train on ``X`` (N, D) and labels ``y`` (N,) (any hashable class labels)."""
        self._check_params()
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32])
        check_classification_targets(y)
        self.classes_, y_idx = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"need samples of at least 2 classes to fit; got 1 class ({self.classes_[0]!r})")
        Xf = self._features(X)
        rng = np.random.default_rng(self.random_state if isinstance(self.random_state, (int, np.integer))
                                    else None if self.random_state is None else self.random_state.randint(2**31))
        W = (self.init_std * rng.standard_normal((len(self.classes_), Xf.shape[1]))).astype(self.dtype)
        b = np.zeros(len(self.classes_), self.dtype) if self.bias == "vector" else None
        try:
            self.loss_history_ = sgd_fit(
                W, Xf, y_idx, loss=self._loss, lr=self.learning_rate, reg=self.reg, num_iters=self.num_iters,
                batch_size=self.batch_size, seed=int(rng.integers(2**31)), sampling=self.sampling, b=b,
                loss_kwargs=self._loss_kwargs(), lr_decay=self.lr_decay, averaging=self.averaging,
                progress=self.verbose,
            )
        except ImgclassError as e:
            raise ValueError(str(e)) from e  # scikit-learn's convention for bad fits
        if self.bias == "trick":
            self.coef_, self.intercept_ = W[:, :-1].copy(), W[:, -1].copy()
        else:
            self.coef_, self.intercept_ = W, (b if b is not None else np.zeros(len(self.classes_), self.dtype))
        return self

    def decision_function(self, X) -> np.ndarray:
        """Class scores ``X @ coef_.T + intercept_``, shape (N, C) (or (N,) for 2 classes, as scikit-learn)."""
        scores = self._scores(X)
        return scores[:, 1] - scores[:, 0] if len(self.classes_) == 2 else scores

    def _scores(self, X) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        return X @ self.coef_.T + self.intercept_  # (N, D) @ (D, C)

    def predict(self, X) -> np.ndarray:
        """The class (from ``classes_``) with the highest score, shape (N,)."""
        check_is_fitted(self)
        return self.classes_[np.argmax(self._scores(X), axis=1)]

    # --- persistence --------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Parameters and learned weights in one ``.npz`` (no pickle), written atomically."""
        check_is_fitted(self)
        meta = {"estimator": type(self).__name__, "params": self.get_params()}
        buf = io.BytesIO()
        np.savez(buf, meta=json.dumps(meta), coef=self.coef_, intercept=self.intercept_, classes=self.classes_,
                 loss_history=self.loss_history_)
        with atomic_write(path) as f:
            f.write(buf.getvalue())
        return Path(path)

    @staticmethod
    def load(path: str | os.PathLike) -> "_LinearClassifier":
        try:
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
                arrays = {k: z[k] for k in ("coef", "intercept", "classes", "loss_history")}
        except FileNotFoundError:
            raise ImgclassError(f"{path}: no such model file") from None
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
            raise ImgclassError(f"{path}: not a saved imgclass linear model ({e})") from e
        cls = {"LinearSVM": LinearSVM, "SoftmaxClassifier": SoftmaxClassifier}.get(meta.get("estimator"))
        if cls is None:
            raise ImgclassError(f"{path}: unknown estimator {meta.get('estimator')!r}")
        est = cls(**meta["params"])
        est.coef_, est.intercept_, est.classes_ = arrays["coef"], arrays["intercept"], arrays["classes"]
        est.loss_history_, est.n_features_in_ = arrays["loss_history"], arrays["coef"].shape[1]
        return est


class LinearSVM(_LinearClassifier):
    """Multiclass linear SVM (hinge loss, margin 1) trained by minibatch SGD.

    Parameters
    ----------
    learning_rate : float
    reg : float
        L2 strength on the weights (the intercept is not regularized unless
        ``bias="trick"``, where it is a weight like the others).
    num_iters, batch_size : int
    sampling : {"replacement", "epochs"}
        Minibatches drawn with replacement (the course assignments) or shuffled epochs.
    lr_decay : float
        Multiply the learning rate by this after each epoch's worth of iterations.
    averaging : float in [0, 1) or None
        Polyak-Ruppert averaging: the model is the mean of the SGD iterates
        after this fraction of the iterations (None: the last iterate).
    bias : {"vector", "trick", "none"}
        An explicit intercept vector, a constant-1 feature, or no bias.
    average : {"sum", "classes"}
        Hinge terms summed over classes (cs231n) or averaged (PyTorch's multi_margin_loss).
    reg_convention : {"full", "half"}
        ``reg * ||W||^2`` or ``reg / 2 * ||W||^2``.
    init_std : float
        Standard deviation of the initial weights.
    dtype : {"float64", "float32"}
    random_state : int, RandomState or None
    verbose : bool
        Show a progress bar while fitting.
    """

    _loss = "svm"

    def __init__(self, learning_rate=1e-3, reg=1e-5, num_iters=1500, batch_size=200, sampling="replacement",
                 lr_decay=1.0, averaging=None, bias="vector", average="sum", reg_convention="full",
                 init_std=1e-4, dtype="float64", random_state=None, verbose=False):
        self.learning_rate = learning_rate
        self.reg = reg
        self.num_iters = num_iters
        self.batch_size = batch_size
        self.sampling = sampling
        self.lr_decay = lr_decay
        self.averaging = averaging
        self.bias = bias
        self.average = average
        self.reg_convention = reg_convention
        self.init_std = init_std
        self.dtype = dtype
        self.random_state = random_state
        self.verbose = verbose

    def _loss_kwargs(self) -> dict:
        return {"reg_convention": self.reg_convention, "average": self.average}


class SoftmaxClassifier(_LinearClassifier):
    """Multinomial logistic regression (softmax cross-entropy) trained by minibatch SGD.

    Parameters as :class:`LinearSVM` (without ``average``); adds :meth:`predict_proba`.
    """

    _loss = "softmax"

    def __init__(self, learning_rate=1e-3, reg=1e-5, num_iters=1500, batch_size=200, sampling="replacement",
                 lr_decay=1.0, averaging=None, bias="vector", reg_convention="full", init_std=1e-4,
                 dtype="float64", random_state=None, verbose=False):
        self.learning_rate = learning_rate
        self.reg = reg
        self.num_iters = num_iters
        self.batch_size = batch_size
        self.sampling = sampling
        self.lr_decay = lr_decay
        self.averaging = averaging
        self.bias = bias
        self.reg_convention = reg_convention
        self.init_std = init_std
        self.dtype = dtype
        self.random_state = random_state
        self.verbose = verbose

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities (N, C), rows summing to 1, columns in the order of ``classes_``."""
        s = self._scores(X)
        s = s - s.max(axis=1, keepdims=True)
        e = np.exp(s)
        return e / e.sum(axis=1, keepdims=True)

    def predict_log_proba(self, X) -> np.ndarray:
        s = self._scores(X)
        s = s - s.max(axis=1, keepdims=True)
        return s - np.log(np.exp(s).sum(axis=1, keepdims=True))
