"""Numeric gradients by centered differences, and the relative error used to judge them.

Written from scratch: these are the oracles the hand-written backward passes
are checked against (in float64), in the tests and by ``imgclass gradcheck``.
"""

from __future__ import annotations

from typing import Callable

import numpy as np


def rel_error(a: np.ndarray, b: np.ndarray) -> float:
    """Largest elementwise ``|a - b| / max(1e-8, |a| + |b|)`` (0.0 for empty arrays)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))


def numerical_gradient(f: Callable[[np.ndarray], float], x: np.ndarray, h: float = 1e-5, order: int = 2) -> np.ndarray:
    """Gradient of scalar ``f`` at ``x`` by centered differences, element by element.

    ``order=2``: ``(f(x+h) - f(x-h)) / 2h`` (error O(h^2)). ``order=4``:
    ``(f(x-2h) - 8 f(x-h) + 8 f(x+h) - f(x+2h)) / 12h`` (error O(h^4)), which
    allows a larger ``h`` and so less rounding error. The arithmetic keeps
    the dtype of ``x`` and of ``f``'s result, so a model run in extended
    precision (``np.longdouble``) gives an extended-precision oracle.
    ``x`` is perturbed in place and restored; ``f`` must read it afresh each call.
    """
    if order not in (2, 4):
        raise ValueError(f"order must be 2 or 4, got {order}")
    grad = np.zeros(x.shape, dtype=np.result_type(x.dtype, np.float64))
    h = x.dtype.type(h) if np.issubdtype(x.dtype, np.floating) else h
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])
    for _ in it:
        i = it.multi_index
        old = x[i]
        values = {}
        for step in ((1, -1) if order == 2 else (2, 1, -1, -2)):
            x[i] = old + step * h
            values[step] = f(x)
        x[i] = old
        # differences of mirrored pairs first: an input that does not affect f gives exactly 0
        if order == 2:
            grad[i] = (values[1] - values[-1]) / (2 * h)
        else:
            grad[i] = (8 * (values[1] - values[-1]) - (values[2] - values[-2])) / (12 * h)
    return grad


def numerical_gradient_array(f: Callable[[np.ndarray], np.ndarray], x: np.ndarray, dout: np.ndarray,
                             h: float = 1e-5, order: int = 2) -> np.ndarray:
    """Gradient of ``sum(f(x) * dout)`` at ``x``: the backward pass of array-valued ``f`` for upstream ``dout``.

    The perturbed outputs are subtracted elementwise *before* weighting with
    ``dout``, so the unchanged part of the output cancels exactly and
    rounding error stays near machine precision. ``order`` as in
    :func:`numerical_gradient`.
    """
    def g(v):
        return np.array(f(v), copy=True)

    def weighted(diff):
        return np.sum(diff * dout)

    grad = np.zeros(x.shape, dtype=np.result_type(x.dtype, np.float64))
    h = x.dtype.type(h) if np.issubdtype(x.dtype, np.floating) else h
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])
    for _ in it:
        i = it.multi_index
        old = x[i]
        out = {}
        for step in ((1, -1) if order == 2 else (2, 1, -1, -2)):
            x[i] = old + step * h
            out[step] = g(x)
        x[i] = old
        if order == 2:
            grad[i] = weighted(out[1] - out[-1]) / (2 * h)
        else:
            grad[i] = (8 * weighted(out[1] - out[-1]) - weighted(out[2] - out[-2])) / (12 * h)
    return grad


def sparse_gradient_check(f: Callable[[np.ndarray], float], x: np.ndarray, analytic: np.ndarray,
                          num_checks: int = 10, h: float = 1e-5, seed: int = 0) -> float:
    """Compare ``analytic`` with the centered difference at ``num_checks`` random elements.

    For parameters too large to difference element by element (a 3073x10
    weight matrix). Returns the largest relative error over the checked elements.
    """
    rng = np.random.default_rng(seed)
    worst = 0.0
    for _ in range(num_checks):
        i = tuple(int(rng.integers(s)) for s in x.shape)
        old = x[i]
        x[i] = old + h
        fp = float(f(x))
        x[i] = old - h
        fm = float(f(x))
        x[i] = old
        num = (fp - fm) / (2 * h)
        worst = max(worst, abs(num - analytic[i]) / max(1e-8, abs(num) + abs(analytic[i])))
    return float(worst)
