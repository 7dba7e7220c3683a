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


def numerical_gradient(f: Callable[[np.ndarray], float], x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """Gradient of scalar ``f`` at ``x`` by ``(f(x + h) - f(x - h)) / 2h`` per element.

    ``x`` is perturbed in place and restored; ``f`` must read it afresh each call.
    """
    grad = np.zeros_like(x, dtype=np.float64)
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + h
        fp = float(f(x))
        x[i] = old - h
        fm = float(f(x))
        x[i] = old
        grad[i] = (fp - fm) / (2 * h)
    return grad


def numerical_gradient_array(f: Callable[[np.ndarray], np.ndarray], x: np.ndarray, dout: np.ndarray,
                             h: float = 1e-5) -> np.ndarray:
    """Gradient of ``sum(f(x) * dout)`` at ``x``: the backward pass of array-valued ``f`` for upstream ``dout``.

    The two perturbed outputs are subtracted elementwise *before* weighting
    with ``dout``, so the large unchanged part of the output cancels exactly
    and rounding error stays near machine precision.
    """
    grad = np.zeros_like(x, dtype=np.float64)
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + h
        pos = np.array(f(x), dtype=np.float64, copy=True)
        x[i] = old - h
        neg = np.array(f(x), dtype=np.float64, copy=True)
        x[i] = old
        grad[i] = np.sum((pos - neg) * dout) / (2 * h)
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
