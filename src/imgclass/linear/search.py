"""Search spaces of a linear sweep: a grid of (learning rate, regularization) pairs, or random pairs.

>>> grid([1e-3, 1e-2], [1e-4, 1e-2])        # 4 pairs, lr-major
>>> random_configs(50, seed=0)              # 50 log-uniform pairs
"""

from __future__ import annotations

import math

import numpy as np

from imgclass.errors import ImgclassError


def check_lr_reg(lr, reg) -> tuple[float, float]:
    try:
        lr, reg = float(lr), float(reg)
    except (TypeError, ValueError):
        raise ImgclassError(f"a config is (learning rate, regularization strength); got ({lr!r}, {reg!r})") from None
    if not (math.isfinite(lr) and lr > 0):
        raise ImgclassError(f"learning rates must be finite and > 0, got {lr}")
    if not (math.isfinite(reg) and reg >= 0):
        raise ImgclassError(f"regularization strengths must be finite and >= 0, got {reg}")
    return lr, reg


def check_pair(cf) -> tuple[float, float]:
    try:
        lr, reg = cf
    except (TypeError, ValueError):
        raise ImgclassError(f"each config must be a pair (lr, reg), got {cf!r}") from None
    return check_lr_reg(lr, reg)


def grid(learning_rates, regs) -> list[tuple[float, float]]:
    """Every (lr, reg) pair, lr-major: all regs for the first lr, then for the second, ...

    Parameters
    ----------
    learning_rates : sequence of float, each > 0
    regs : sequence of float, each >= 0

    Returns
    -------
    list of (lr, reg)
        ``len(learning_rates) * len(regs)`` pairs of plain floats.
    """
    lrs, rs = list(np.ravel(learning_rates)), list(np.ravel(regs))
    if not lrs or not rs:
        raise ImgclassError("a grid needs at least one learning rate and one regularization strength")
    return [check_lr_reg(lr, reg) for lr in lrs for reg in rs]


def _log_range(bounds, what: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in bounds)
    except (TypeError, ValueError):
        raise ImgclassError(f"{what} must be a pair (low, high), got {bounds!r}") from None
    if not (0 < lo <= hi < math.inf):
        raise ImgclassError(f"{what} must satisfy 0 < low <= high (sampled log-uniformly), got ({lo}, {hi}); "
                            "use grid() to include a regularization strength of 0")
    return math.log10(lo), math.log10(hi)


def random_configs(n: int, lr_range=(1e-7, 1e-1), reg_range=(1e-6, 1e4), seed: int = 0) -> list[tuple[float, float]]:
    """``n`` random (lr, reg) pairs, each log-uniform in its range (random search).

    Parameters
    ----------
    n : int >= 1
    lr_range, reg_range : (low, high) with 0 < low <= high
    seed : int
        Same seed, same configs (NumPy's PCG64).

    Returns
    -------
    list of (lr, reg)
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ImgclassError(f"the number of random configs must be an integer >= 1, got {n!r}")
    lr_lo, lr_hi = _log_range(lr_range, "lr_range")
    reg_lo, reg_hi = _log_range(reg_range, "reg_range")
    rng = np.random.default_rng(seed)
    lrs = 10.0 ** rng.uniform(lr_lo, lr_hi, size=n)
    regs = 10.0 ** rng.uniform(reg_lo, reg_hi, size=n)
    # clip: 10**log10(x) can land one ulp outside [low, high]
    lrs = np.clip(lrs, *(float(v) for v in lr_range))
    regs = np.clip(regs, *(float(v) for v in reg_range))
    return [(float(a), float(b)) for a, b in zip(lrs, regs)]
