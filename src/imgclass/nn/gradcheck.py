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


def _centered(x: np.ndarray, h: float, order: int, value: Callable, diff: Callable) -> np.ndarray:
    """The stencil loop shared by both numeric gradients.

    ``value(x)`` is evaluated at mirrored steps around each element; ``diff(a, b)``
    turns a mirrored pair into a number. Pairs are differenced *first*, so an
    element that does not affect the result gives exactly 0.
    """
    if order not in (2, 4):
        raise ValueError(f"order must be 2 or 4, got {order}")
    grad = np.zeros(x.shape, dtype=np.result_type(x.dtype, np.float64))
    h = x.dtype.type(h) if np.issubdtype(x.dtype, np.floating) else h
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])
    for _ in it:
        i = it.multi_index
        old = x[i]
        at = {}
        for step in ((1, -1) if order == 2 else (2, 1, -1, -2)):
            x[i] = old + step * h
            at[step] = value(x)
        x[i] = old
        if order == 2:
            grad[i] = diff(at[1], at[-1]) / (2 * h)
        else:
            grad[i] = (8 * diff(at[1], at[-1]) - diff(at[2], at[-2])) / (12 * h)
    return grad


def numerical_gradient(f: Callable[[np.ndarray], float], x: np.ndarray, h: float = 1e-5, order: int = 2) -> np.ndarray:
    """Gradient of scalar ``f`` at ``x`` by centered differences, element by element.

    ``order=2``: ``(f(x+h) - f(x-h)) / 2h`` (error O(h^2)). ``order=4``:
    ``(8 (f(x+h) - f(x-h)) - (f(x+2h) - f(x-2h))) / 12h`` (error O(h^4)), which
    allows a larger ``h`` and so less rounding error. The arithmetic keeps the
    dtype of ``x`` and of ``f``'s result, so a model run in extended precision
    (``np.longdouble``) gives an extended-precision oracle. ``x`` is perturbed
    in place and restored; ``f`` must read it afresh each call.
    """
    return _centered(x, h, order, f, lambda a, b: a - b)


def numerical_gradient_array(f: Callable[[np.ndarray], np.ndarray], x: np.ndarray, dout: np.ndarray,
                             h: float = 1e-5, order: int = 2) -> np.ndarray:
    """Gradient of ``sum(f(x) * dout)`` at ``x``: the backward pass of array-valued ``f`` for upstream ``dout``.

    The perturbed outputs are subtracted elementwise *before* weighting with
    ``dout``, so the unchanged part of the output cancels exactly and rounding
    error stays near machine precision. ``order`` as in :func:`numerical_gradient`.
    """
    return _centered(x, h, order, lambda v: np.array(f(v), copy=True), lambda a, b: np.sum((a - b) * dout))


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
