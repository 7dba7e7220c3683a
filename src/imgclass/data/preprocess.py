"""Turn uint8 images into model inputs, with statistics from the training set only.

A :class:`Preprocessor` is fitted once on the training images and then
applied unchanged to validation, test and prediction inputs; its state is
saved with a model so that a photo at prediction time is normalized exactly
as the training data was.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np

from imgclass.errors import DataError
from imgclass.fileio import atomic_write

NORMALIZE = ("channel", "pixel", "none")
DTYPES = ("float32", "float64")
_CHUNK = 4096
_CHUNK_BYTES = 16 << 20  # float64 statistics in pieces of at most this much


class Preprocessor:
    """Scale to [0, 1], optionally raise to a power, normalize with training statistics, then reshape.

    Parameters
    ----------
    normalize : {"channel", "pixel", "none"}
        ``channel``: one mean/std per channel (over N, H, W). ``pixel``: one
        mean/std per pixel position and channel (the "mean image" of the
        cs231n assignments). ``none``: only scale to [0, 1].
    std : bool
        Divide by the standard deviation (True) or only subtract the mean.
    flatten : bool
        Return (N, C*H*W) rows instead of (N, C, H, W) images.
    bias : bool
        Append a constant-1 column ("bias trick", so a linear model needs no
        separate bias vector). Needs ``flatten``.
    dtype : {"float32", "float64"}
    gamma : float
        Power applied to the [0, 1] intensities before normalization,
        ``x ** gamma`` (1.0: unchanged). Below 1 it spreads out the dark
        and mid tones and compresses the bright ones, like a root
        ("power normalization" of features). For linear classifiers on
        Fashion-MNIST, 0.3-0.5 was about 1 point better in 5-fold
        cross-validation than raw intensities (see benchmarks/linear_gamma_cv.py).

    Attributes
    ----------
    mean_, scale_ : ndarray
        Broadcastable to one image (C, H, W); set by :meth:`fit`.
    image_shape_ : tuple
        (C, H, W) seen by :meth:`fit`; other shapes are refused.
    """

    def __init__(self, normalize: str = "channel", std: bool = True, flatten: bool = False,
                 bias: bool = False, dtype: str = "float32", gamma: float = 1.0):
        self.normalize = normalize
        self.std = std
        self.flatten = flatten
        self.bias = bias
        self.dtype = dtype
        self.gamma = gamma

    def _check_params(self) -> None:
        if self.normalize not in NORMALIZE:
            raise DataError(f"normalize must be one of {', '.join(NORMALIZE)}, got {self.normalize!r}")
        if self.dtype not in DTYPES:
            raise DataError(f"dtype must be float32 or float64, got {self.dtype!r}")
        if self.bias and not self.flatten:
            raise DataError("the bias column needs flatten=True (it is appended to flat rows)")
        g = self.gamma
        if isinstance(g, bool) or not isinstance(g, (int, float)) or not 0 < g <= 10:  # NaN fails the range
            raise DataError(f"gamma must be a number in (0, 10], got {self.gamma!r}")

    def _check_input(self, x: np.ndarray, fitted: bool) -> None:
        from imgclass.data.cache import DiskImages

        if not isinstance(x, (np.ndarray, DiskImages)) or x.ndim != 4:
            raise DataError(f"expected images as an array (N, C, H, W), got shape {getattr(x, 'shape', None)}")
        if fitted and tuple(x.shape[1:]) != self.image_shape_:
            raise DataError(
                f"images are {tuple(x.shape[1:])} (C, H, W) but the preprocessor was fitted on "
                f"{self.image_shape_}; resize them to match the training data"
            )

    def fit(self, x: np.ndarray) -> "Preprocessor":
        """Compute the statistics from training images ``x`` (N, C, H, W), uint8."""
        self._check_params()
        self._check_input(x, fitted=False)
        if len(x) == 0:
            raise DataError("cannot fit normalization statistics on an empty training set")
        s = np.zeros(x.shape[1:], np.float64)
        sq = np.zeros(x.shape[1:], np.float64)
        chunk = max(1, min(_CHUNK, _CHUNK_BYTES // (8 * int(np.prod(x.shape[1:])))))
        for i in range(0, len(x), chunk):  # chunked: float64 copies of 60k images are large
            c = x[i:i + chunk].astype(np.float64) / 255.0
            if self.gamma != 1:
                c **= self.gamma
            s += c.sum(axis=0)
            sq += (c * c).sum(axis=0)
        n = len(x)
        if self.normalize == "channel":
            n *= x.shape[2] * x.shape[3]
            s, sq = s.sum(axis=(1, 2), keepdims=True), sq.sum(axis=(1, 2), keepdims=True)
        mean = s / n
        var = np.maximum(sq / n - mean * mean, 0.0)
        sd = np.sqrt(var)
        sd[sd < 1e-8] = 1.0  # constant pixels (MNIST borders): leave unscaled, avoid 0/0
        if self.normalize == "none":
            mean, sd = np.zeros_like(mean[..., :1, :1]), np.ones_like(mean[..., :1, :1])
        elif not self.std:
            sd = np.ones_like(sd)
        self.mean_, self.scale_ = mean, sd
        self.image_shape_ = tuple(x.shape[1:])
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Apply the fitted transform to uint8 images ``x`` (N, C, H, W)."""
        if not hasattr(self, "mean_"):
            raise DataError("the preprocessor is not fitted; call fit(x_train) first")
        self._check_params()
        self._check_input(x, fitted=True)
        dt = np.dtype(self.dtype)
        out = np.asarray(x).astype(dt)  # DiskImages: read here
        out *= dt.type(1.0 / 255.0)
        if self.gamma != 1:
            out **= dt.type(self.gamma)
        out -= self.mean_.astype(dt)
        out /= self.scale_.astype(dt)
        if self.flatten:
            out = out.reshape(len(out), int(np.prod(out.shape[1:])))  # (N, C, H, W) -> (N, C*H*W); N may be 0
            if self.bias:
                out = np.hstack([out, np.ones((len(out), 1), dt)])  # (N, D) -> (N, D + 1)
        return out

    def fit_transform(self, x: np.ndarray) -> np.ndarray:
        return self.fit(x).transform(x)

    # --- persistence ------------------------------------------------------------

    def get_config(self) -> dict:
        return {"normalize": self.normalize, "std": self.std, "flatten": self.flatten,
                "bias": self.bias, "dtype": self.dtype, "gamma": self.gamma}

    def state_dict(self) -> dict:
        """Config and fitted statistics, as plain arrays (for checkpoints)."""
        if not hasattr(self, "mean_"):
            raise DataError("the preprocessor is not fitted; nothing to save")
        return {"config": self.get_config(), "mean": self.mean_, "scale": self.scale_,
                "image_shape": list(self.image_shape_)}

    @classmethod
    def from_state_dict(cls, state: dict) -> "Preprocessor":
        try:
            config = dict(state["config"])
            p = cls(**config)
            p.mean_ = np.asarray(state["mean"], np.float64)
            p.scale_ = np.asarray(state["scale"], np.float64)
            p.image_shape_ = tuple(int(v) for v in state["image_shape"])
        except (KeyError, TypeError, ValueError) as e:
            raise DataError(f"not a saved preprocessor state ({type(e).__name__}: {e})") from e
        p._check_params()
        return p

    def save(self, path: str | os.PathLike) -> Path:
        """Write the state to an ``.npz`` file atomically."""
        st = self.state_dict()
        buf = io.BytesIO()
        np.savez(buf, config=json.dumps(st["config"]), mean=st["mean"], scale=st["scale"],
                 image_shape=np.asarray(st["image_shape"]))
        with atomic_write(path) as f:
            f.write(buf.getvalue())
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Preprocessor":
        try:
            with np.load(path, allow_pickle=False) as z:
                state = {"config": json.loads(str(z["config"])), "mean": z["mean"],
                         "scale": z["scale"], "image_shape": z["image_shape"].tolist()}
        except FileNotFoundError:
            raise DataError(f"{path}: preprocessor file not found") from None
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
            raise DataError(f"{path}: not a saved preprocessor ({e})") from e
        return cls.from_state_dict(state)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"Preprocessor({args})"


class Transformed:
    """``pre.transform(images)``, computed for the rows asked for, when they are asked for.

    What a run trains on when its images stay on disk (:class:`~imgclass.data.cache.DiskImages`):
    indexing with rows, a slice or an int array returns those rows transformed, so memory holds one
    batch of floats, never the dataset.
    """

    def __init__(self, pre: Preprocessor, images):
        if not hasattr(pre, "mean_"):
            raise DataError("the preprocessor is not fitted; call fit(x_train) first")
        self.pre, self.images = pre, images
        self.dtype = np.dtype(pre.dtype)
        probe = pre.transform(np.zeros((0, *images.shape[1:]), np.uint8))
        self.shape = (len(images), *probe.shape[1:])
        self.ndim = len(self.shape)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, key) -> np.ndarray:
        if isinstance(key, (int, np.integer)):
            return self.pre.transform(self.images[[int(key)]])[0]
        return self.pre.transform(self.images[key])

    def __repr__(self) -> str:
        return f"Transformed({self.pre!r}, {self.images!r})"


def zca_matrix(x: np.ndarray, eps: float) -> np.ndarray:
    """The symmetric ZCA whitening matrix of the rows ``x`` (N, D): ``x @ Z`` has decorrelated features.

    ``Z = V diag(1 / sqrt(λ + eps·λ_max)) Vᵀ`` from the eigendecomposition ``V diag(λ) Vᵀ`` of ``xᵀx / N``
    (the covariance, as the rows are centred after ``normalize="pixel"``), scaled so that the whitened
    features keep a mean variance of 1. ``eps`` (> 0, relative to the largest eigenvalue) keeps the
    directions of almost no variance (pixel noise, JPEG artefacts) from being blown up. As ``Z`` is linear,
    a linear model ``w`` trained on ``x @ Z`` is the model ``Z @ w`` on ``x``.
    """
    eps = float(eps)
    if not (np.isfinite(eps) and eps > 0):
        raise DataError(f"the whitening eps must be a finite number > 0, got {eps!r}")
    if x.ndim != 2 or len(x) < 2:
        raise DataError(f"whitening needs at least 2 rows of features (N, D), got shape {x.shape}")
    cov = np.zeros((x.shape[1], x.shape[1]), np.float64)
    for i in range(0, len(x), _CHUNK):
        part = x[i:i + _CHUNK]
        cov += (part.T @ part).astype(np.float64)  # float32 products, summed in float64
    lam, V = np.linalg.eigh(cov / len(x))
    lam = np.clip(lam, 0.0, None)
    floor = eps * max(float(lam[-1]), np.finfo(np.float64).tiny)
    scale = np.sqrt(np.mean(lam / (lam + floor)))  # the whitened variances' mean, made 1
    return ((V / (np.sqrt(lam + floor) * max(scale, 1e-12))) @ V.T).astype(x.dtype)
