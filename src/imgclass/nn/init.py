"""Weight initializers, written by hand in NumPy: normal, Glorot (Xavier), He (Kaiming), zeros.

Every initializer returns a new array and draws from an explicit
``rng: np.random.Generator`` (no global random state). Values are drawn in
float64 and then cast to ``dtype``, so the same seed gives the same numbers
(up to rounding) whatever the dtype.

Fan convention
--------------
Our affine weights are stored ``(D_in, D_out)`` (``out = x @ w``), the
transpose of ``torch.nn.Linear.weight`` ``(out, in)``. So for a 2-D shape
``fan_in, fan_out = shape[0], shape[1]``, which is the same *fan* PyTorch
computes for the same layer. For conv weights ``(F, C, KH, KW)`` (and any
shape with more than 2 dims) we follow PyTorch exactly:
``fan_in = C * KH * KW`` and ``fan_out = F * KH * KW``.
See :func:`fan_in_and_fan_out`.
"""

from __future__ import annotations

import math

import numpy as np

from imgclass.errors import ImgclassError


def _check_common(fn: str, shape, rng, dtype) -> tuple[tuple[int, ...], np.dtype]:
    if not isinstance(rng, np.random.Generator):
        raise ImgclassError(f"{fn}: rng must be a numpy Generator, got {type(rng).__name__}; "
                            "pass np.random.default_rng(seed)")
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise ImgclassError(f"{fn}: dtype must be a floating type, got {dtype}; use np.float32 or np.float64")
    return _shape(fn, shape), dtype


def _shape(fn: str, shape) -> tuple[int, ...]:
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    if any(isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 0 for d in shape):
        raise ImgclassError(f"{fn}: shape must be non-negative integers, got {shape}")
    return tuple(int(d) for d in shape)


def fan_in_and_fan_out(shape) -> tuple[int, int]:
    """Fans of a weight of this shape, in our layout.

    Parameters
    ----------
    shape : tuple of int
        ``(D_in, D_out)`` for an affine weight, or ``(F, C, KH, KW)`` for a
        conv weight (any ``(out, in, *kernel)`` shape with more than 2 dims).

    Returns
    -------
    fan_in, fan_out : int
        ``(D_in, D_out)`` for 2-D; ``(C * prod(kernel), F * prod(kernel))`` otherwise.
    """
    shape = _shape("fan_in_and_fan_out", shape)
    if len(shape) < 2:
        raise ImgclassError(f"fans need a weight with at least 2 dims, got shape {shape}; "
                            "initialize biases with zeros()")
    if len(shape) == 2:  # affine (D_in, D_out): transposed relative to torch's Linear (out, in)
        fan_in, fan_out = shape[0], shape[1]
    else:
        receptive = math.prod(shape[2:])  # KH * KW
        fan_in, fan_out = shape[1] * receptive, shape[0] * receptive
    if fan_in == 0 or fan_out == 0:
        raise ImgclassError(f"weight shape {shape} has no elements; every dimension must be >= 1")
    return fan_in, fan_out


def normal(shape, std: float, rng: np.random.Generator, dtype=np.float64) -> np.ndarray:
    """Draws from ``N(0, std**2)``.

    Parameters
    ----------
    shape : int or tuple of int
    std : float
        >= 0.
    rng : np.random.Generator
    dtype : floating dtype, default float64

    Returns
    -------
    ndarray of ``shape`` and ``dtype``
    """
    shape, dtype = _check_common("normal", shape, rng, dtype)
    std = float(std)
    if not (std >= 0 and math.isfinite(std)):
        raise ImgclassError(f"normal: std must be a finite number >= 0, got {std}")
    return (std * rng.standard_normal(shape)).astype(dtype, copy=False)


def _uniform(shape, bound: float, rng, dtype) -> np.ndarray:
    return rng.uniform(-bound, bound, size=shape).astype(dtype, copy=False)


def xavier_uniform(shape, rng: np.random.Generator, dtype=np.float64, gain: float = 1.0) -> np.ndarray:
    """Glorot uniform: ``U(-a, a)`` with ``a = gain * sqrt(6 / (fan_in + fan_out))``.

    Parameters
    ----------
    shape : tuple of int
        ``(D_in, D_out)`` or ``(F, C, KH, KW)``; fans as :func:`fan_in_and_fan_out`.
    rng : np.random.Generator
    dtype : floating dtype, default float64
    gain : float, default 1.0

    Returns
    -------
    ndarray of ``shape`` and ``dtype``
    """
    shape, dtype = _check_common("xavier_uniform", shape, rng, dtype)
    fan_in, fan_out = fan_in_and_fan_out(shape)
    return _uniform(shape, float(gain) * math.sqrt(6.0 / (fan_in + fan_out)), rng, dtype)


def xavier_normal(shape, rng: np.random.Generator, dtype=np.float64, gain: float = 1.0) -> np.ndarray:
    """Glorot normal: ``N(0, std**2)`` with ``std = gain * sqrt(2 / (fan_in + fan_out))``.

    Parameters as :func:`xavier_uniform`.
    """
    shape, dtype = _check_common("xavier_normal", shape, rng, dtype)
    fan_in, fan_out = fan_in_and_fan_out(shape)
    return normal(shape, float(gain) * math.sqrt(2.0 / (fan_in + fan_out)), rng, dtype)


def _kaiming_std(fn: str, shape, mode: str) -> float:
    if mode not in ("fan_in", "fan_out"):
        raise ImgclassError(f"{fn}: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = fan_in_and_fan_out(shape)
    return math.sqrt(2.0) / math.sqrt(fan_in if mode == "fan_in" else fan_out)  # ReLU gain sqrt(2)


def kaiming_normal(shape, rng: np.random.Generator, dtype=np.float64, mode: str = "fan_in") -> np.ndarray:
    """He normal for ReLU layers: ``N(0, std**2)`` with ``std = sqrt(2 / fan_in)``.

    Same as ``torch.nn.init.kaiming_normal_(w, mode='fan_in', nonlinearity='relu')``
    on the same layer.

    Parameters
    ----------
    shape : tuple of int
        ``(D_in, D_out)`` or ``(F, C, KH, KW)``; fans as :func:`fan_in_and_fan_out`.
    rng : np.random.Generator
    dtype : floating dtype, default float64
    mode : {'fan_in', 'fan_out'}, default 'fan_in'
        Preserve the variance of activations (fan_in) or of gradients (fan_out).

    Returns
    -------
    ndarray of ``shape`` and ``dtype``
    """
    shape, dtype = _check_common("kaiming_normal", shape, rng, dtype)
    return normal(shape, _kaiming_std("kaiming_normal", shape, mode), rng, dtype)


def kaiming_uniform(shape, rng: np.random.Generator, dtype=np.float64, mode: str = "fan_in") -> np.ndarray:
    """He uniform for ReLU layers: ``U(-a, a)`` with ``a = sqrt(6 / fan_in)`` (std ``sqrt(2 / fan_in)``).

    Parameters as :func:`kaiming_normal`.
    """
    shape, dtype = _check_common("kaiming_uniform", shape, rng, dtype)
    return _uniform(shape, math.sqrt(3.0) * _kaiming_std("kaiming_uniform", shape, mode), rng, dtype)


def zeros(shape, dtype=np.float64) -> np.ndarray:
    """A new array of zeros (biases, batchnorm shifts).

    Parameters
    ----------
    shape : int or tuple of int
    dtype : floating dtype, default float64
    """
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise ImgclassError(f"zeros: dtype must be a floating type, got {dtype}; use np.float32 or np.float64")
    return np.zeros(_shape("zeros", shape), dtype=dtype)
