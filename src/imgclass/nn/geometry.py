"""Shape helpers shared by convolution and pooling (PyTorch's conventions)."""

from __future__ import annotations

import operator

import numpy as np

from imgclass.errors import ImgclassError

Pair = tuple[int, int]


def _pair(value, name: str, minimum: int) -> Pair:
    """``value`` (an int or an ``(h, w)`` pair) as a pair of ints ``>= minimum``."""
    try:
        h, w = (value, value) if np.ndim(value) == 0 else value
        pair = (operator.index(h), operator.index(w))
    except (TypeError, ValueError):
        raise ImgclassError(f"{name} must be an int or a pair of ints, got {value!r}") from None
    if min(pair) < minimum:
        raise ImgclassError(f"{name} must be >= {minimum}, got {value!r}")
    return pair


def _check_4d(x: np.ndarray, name: str) -> None:
    if np.ndim(x) != 4:
        raise ImgclassError(f"{name} must be 4-D (N, C, H, W), got shape {np.shape(x)}")


def _span(start: int, count: int, step: int) -> slice:
    """``count`` indices ``start, start + step, ...`` as a slice (``count >= 1``)."""
    return slice(start, start + (count - 1) * step + 1, step)
