"""Classification losses and L2 regularization, with hand-written gradients.

Losses take raw class scores and return ``(loss, dscores)``: the mean loss
over the batch and its gradient with respect to the scores.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

from imgclass.errors import ImgclassError


def _check(scores: np.ndarray, y: np.ndarray) -> None:
    if scores.ndim != 2 or y.shape != (len(scores),):
        raise ImgclassError(f"scores must be (N, C) and labels (N,), got {scores.shape} and {y.shape}")


def softmax_loss(scores: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy of ``softmax(scores)`` against labels ``y``.

    Numerically stable: the row maximum is subtracted before ``exp`` and the
    log-probabilities come from log-sum-exp, so logits of any size give a
    finite loss and gradient.

    Parameters
    ----------
    scores : (N, C)
    y : (N,) integer labels in 0..C-1

    Returns
    -------
    loss : scalar of the scores' dtype (a float for float64)
    dscores : (N, C), ``(softmax(scores) - onehot(y)) / N``
    """
    _check(scores, y)
    n = len(y)
    shifted = scores - scores.max(axis=1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -logp[np.arange(n), y].mean()  # a scalar of the scores' dtype: no rounding to float64
    dscores = np.exp(logp)
    dscores[np.arange(n), y] -= 1.0
    dscores /= n
    return loss, dscores


def hinge_loss(scores: np.ndarray, y: np.ndarray, margin: float = 1.0, average: str = "sum") -> tuple[float, np.ndarray]:
    """Multiclass SVM loss ``sum_{j != y} max(0, s_j - s_y + margin)``, averaged over the batch.

    Parameters
    ----------
    average : {"sum", "classes"}
        ``sum``: the per-sample sum over classes (the cs231n convention).
        ``classes``: also divided by the number of classes C, as PyTorch's
        ``multi_margin_loss``.

    Returns
    -------
    loss : float
    dscores : (N, C)
    """
    _check(scores, y)
    if average not in ("sum", "classes"):
        raise ImgclassError(f"hinge average must be 'sum' or 'classes', got {average!r}")
    n, c = scores.shape
    rows = np.arange(n)
    margins = np.maximum(0.0, scores - scores[rows, y][:, None] + margin)  # (N, C)
    margins[rows, y] = 0.0
    div = n * (c if average == "classes" else 1)
    loss = margins.sum() / div
    active = (margins > 0).astype(scores.dtype)
    active[rows, y] = -active.sum(axis=1)  # the true class is pulled down once per violating class
    return loss, active / div


def l2_regularization(weights: Iterable[np.ndarray], reg: float, convention: str = "half") -> tuple[float, list[np.ndarray]]:
    """L2 penalty on ``weights`` and its gradient for each.

    Parameters
    ----------
    convention : {"half", "full"}
        ``half``: ``reg/2 * ||W||^2`` (gradient ``reg * W``, the weight-decay
        form); ``full``: ``reg * ||W||^2`` (gradient ``2 * reg * W``, the
        cs231n linear-classifier form).

    Biases are not passed here by the models: only weights are regularized by default.
    """
    if reg < 0:
        raise ImgclassError(f"regularization strength must be >= 0, got {reg}")
    if convention not in ("half", "full"):
        raise ImgclassError(f"L2 convention must be 'half' or 'full', got {convention!r}")
    scale = 0.5 if convention == "half" else 1.0
    weights = list(weights)
    loss = scale * reg * sum(np.sum(w * w) for w in weights)
    return loss, [2.0 * scale * reg * w for w in weights]
