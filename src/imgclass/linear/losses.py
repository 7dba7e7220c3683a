"""Multiclass SVM and softmax losses for linear classifiers, with hand-written gradients.

Scores are ``S = X Wᵀ (+ b)``: ``W`` is (C, D), one row (a "template") per
class, ``X`` is (N, D), ``y`` is (N,). Each loss comes twice, as in the
cs231n assignments: a *naive* version with explicit Python loops over
samples and classes (readable, the test oracle) and a *vectorized* version
with no Python loops. Both accept NumPy arrays or PyTorch tensors (CPU or
CUDA) and return the same kind they were given.

The vectorized losses also take a stack of weights ``W`` (K, C, D) with a
regularization strength per stack entry ``reg`` (K,): K classifiers
evaluated in one batched computation (used by the hyperparameter sweeps).

Conventions (keyword arguments):

* ``average``: SVM only. ``"sum"`` sums the hinge terms over classes (the
  cs231n convention, initial loss ≈ C − 1); ``"classes"`` also divides by C
  (PyTorch's ``multi_margin_loss``).
* ``reg_convention``: ``"full"`` adds ``reg·||W||²`` (cs231n's linear
  classifiers, gradient ``2·reg·W``); ``"half"`` adds ``reg/2·||W||²``.
* ``b``: an explicit bias vector (C,) or (K, C), never regularized; the
  gradient ``db`` is then returned too. Without it, use the bias trick (a
  constant-1 column in X); that column's weights are regularized like the
  rest, as in the course assignments.
"""

from __future__ import annotations

import math

import numpy as np

from imgclass.errors import ImgclassError


def _is_torch(a) -> bool:
    return type(a).__module__.startswith("torch")


def _sum(a, axis=None, keepdims: bool = False):
    if _is_torch(a):
        return a.sum() if axis is None else a.sum(dim=axis, keepdim=keepdims)
    return a.sum(axis=axis, keepdims=keepdims)


def _amax(a, axis: int):
    if _is_torch(a):
        return a.amax(dim=axis, keepdim=True)
    return a.max(axis=axis, keepdims=True)


def _arange(n: int, like):
    if _is_torch(like):
        import torch

        return torch.arange(n, device=like.device)
    return np.arange(n)


def _check(W, X, y, b, reg, average: str, reg_convention: str) -> None:
    if W.ndim not in (2, 3) or X.ndim != 2 or W.shape[-1] != X.shape[1]:
        raise ImgclassError(f"need W (C, D) or (K, C, D) and X (N, D) with the same D; got W {tuple(W.shape)}, "
                            f"X {tuple(X.shape)}")
    if y.ndim != 1 or y.shape[0] != X.shape[0]:
        raise ImgclassError(f"y must be (N,) = ({X.shape[0]},), got {tuple(y.shape)}")
    if y.shape[0] and (int(y.min()) < 0 or int(y.max()) >= W.shape[-2]):  # one O(N) pass, next to O(NCD) work
        raise ImgclassError(f"labels must be in 0..{W.shape[-2] - 1} for {W.shape[-2]} classes, "
                            f"got {int(y.min())}..{int(y.max())}")
    if b is not None and tuple(b.shape) != tuple(W.shape[:-1]):
        raise ImgclassError(f"b must be {tuple(W.shape[:-1])} (one bias per class), got {tuple(b.shape)}")
    if average not in ("sum", "classes"):
        raise ImgclassError(f"average must be 'sum' or 'classes', got {average!r}")
    if reg_convention not in ("full", "half"):
        raise ImgclassError(f"reg_convention must be 'full' or 'half', got {reg_convention!r}")
    r = np.asarray(reg if not _is_torch(reg) else reg.detach().cpu())
    if r.ndim > 1 or (r.ndim == 1 and (W.ndim != 3 or r.shape[0] != W.shape[0])):
        want = f"a number or one per stack entry ({W.shape[0]},)" if W.ndim == 3 else "a number"
        raise ImgclassError(f"reg must be {want}, got shape {r.shape}")
    if np.any(r < 0):
        raise ImgclassError(f"regularization strength must be >= 0, got {reg}")


def _reg_terms(W, reg, reg_convention: str):
    """(penalty, gradient) of the L2 term; ``reg`` scalar or (K,) for stacked W (K, C, D)."""
    scale = 1.0 if reg_convention == "full" else 0.5
    if W.ndim == 3:  # one penalty per stack entry, also for a scalar reg
        r = reg.reshape(-1) if hasattr(reg, "reshape") else reg  # (K,), (1,) or a Python number
        r3 = reg.reshape(-1, 1, 1) if hasattr(reg, "reshape") else reg
        return scale * r * _sum(_sum(W * W, -1), -1), 2.0 * scale * r3 * W
    return scale * reg * _sum(W * W), 2.0 * scale * reg * W


def _scores(X, W):
    """``X Wᵀ``: (N, C) for W (C, D); (K, N, C) for a stack W (K, C, D), as ONE matrix product.

    ``X @ W.swapaxes(-1, -2)`` would run K small products; stacking the K*C
    templates as rows of one (K*C, D) matrix is one large GEMM (~2.5x faster
    for a 360-config sweep).
    """
    if W.ndim == 2:
        return X @ _swap(W)
    k, c, d = W.shape
    s = X @ _swap(W.reshape(k * c, d))  # (N, K*C)
    s = s.reshape(X.shape[0], k, c)
    return s.permute(1, 0, 2) if _is_torch(s) else s.transpose(1, 0, 2)  # (K, N, C)


def _grad_w(dscores, X):
    """``dscoresᵀ X``: (C, D), or (K, C, D) for stacked dscores (K, N, C), as one matrix product."""
    if dscores.ndim == 2:
        return _swap(dscores) @ X  # (C, N) @ (N, D)
    k, n, c = dscores.shape
    flat = dscores.permute(1, 0, 2) if _is_torch(dscores) else dscores.transpose(1, 0, 2)  # (N, K, C)
    return (_swap(flat.reshape(n, k * c)) @ X).reshape(k, c, X.shape[1])  # (K*C, N) @ (N, D)


def _finish(loss, dscores, W, X, reg, b, reg_convention):
    """Add L2, turn dscores (…, N, C) into dW (…, C, D) and db (…, C)."""
    penalty, dreg = _reg_terms(W, reg, reg_convention)
    dW = _grad_w(dscores, X) + dreg
    loss = loss + penalty
    if b is None:
        return loss, dW
    return loss, dW, _sum(dscores, -2)


def _swap(a):
    return a.transpose(-1, -2) if _is_torch(a) else np.swapaxes(a, -1, -2)


# ----------------------------------------------------------------------------- SVM


def svm_loss_naive(W, X, y, reg: float, *, b=None, average: str = "sum", reg_convention: str = "full",
                   margin: float = 1.0):
    """Multiclass SVM loss with explicit loops over samples and classes.

    Returns ``(loss, dW)``, or ``(loss, dW, db)`` with an explicit bias ``b``.
    """
    _check(W, X, y, b, reg, average, reg_convention)
    if W.ndim != 2:
        raise ImgclassError("the naive loss takes one W (C, D); stacks are for the vectorized version")
    n, c = X.shape[0], W.shape[0]
    dW = W * 0
    db = None if b is None else b * 0
    loss = 0.0
    div = n * (c if average == "classes" else 1)
    for i in range(n):
        scores = [X[i] @ W[j] + (0 if b is None else b[j]) for j in range(c)]
        yi = int(y[i])
        for j in range(c):
            if j == yi:
                continue
            m = scores[j] - scores[yi] + margin
            if m > 0:
                loss = loss + m
                dW[j] += X[i] / div
                dW[yi] -= X[i] / div
                if db is not None:
                    db[j] += 1.0 / div
                    db[yi] -= 1.0 / div
    loss = loss / div
    penalty, dreg = _reg_terms(W, reg, reg_convention)
    loss, dW = loss + penalty, dW + dreg
    return (loss, dW) if b is None else (loss, dW, db)


def svm_loss_vectorized(W, X, y, reg, *, b=None, average: str = "sum", reg_convention: str = "full",
                        margin: float = 1.0):
    """Multiclass SVM loss without Python loops; W may be a stack (K, C, D) with reg (K,)."""
    _check(W, X, y, b, reg, average, reg_convention)
    n, c = X.shape[0], W.shape[-2]
    rows = _arange(n, X)
    scores = _scores(X, W)  # (…, N, C)
    if b is not None:
        scores = scores + b[..., None, :]
    correct = scores[..., rows, y][..., None]  # (…, N, 1)
    margins = scores - correct + margin
    margins = margins * (margins > 0)
    margins[..., rows, y] = 0
    div = n * (c if average == "classes" else 1)
    loss = _sum(_sum(margins, -1), -1) / div
    active = (margins > 0) * 1.0
    active = active.to(X.dtype) if _is_torch(active) else active.astype(X.dtype)
    active[..., rows, y] = -_sum(active, -1)
    return _finish(loss, active / div, W, X, reg, b, reg_convention)


# ------------------------------------------------------------------------- softmax


def softmax_loss_naive(W, X, y, reg: float, *, b=None, reg_convention: str = "full"):
    """Softmax cross-entropy with explicit loops; numerically stable (max subtracted per sample)."""
    _check(W, X, y, b, reg, "sum", reg_convention)
    if W.ndim != 2:
        raise ImgclassError("the naive loss takes one W (C, D); stacks are for the vectorized version")
    n, c = X.shape[0], W.shape[0]
    dW = W * 0
    db = None if b is None else b * 0
    loss = 0.0
    for i in range(n):
        scores = [X[i] @ W[j] + (0 if b is None else b[j]) for j in range(c)]
        top = max(float(s) for s in scores)
        exps = [math.exp(float(s) - top) for s in scores]
        total = sum(exps)
        yi = int(y[i])
        loss = loss + (math.log(total) - (float(scores[yi]) - top))
        for j in range(c):
            p = exps[j] / total - (1.0 if j == yi else 0.0)
            dW[j] += p * X[i] / n
            if db is not None:
                db[j] += p / n
    loss = loss / n
    penalty, dreg = _reg_terms(W, reg, reg_convention)
    loss, dW = loss + penalty, dW + dreg
    return (loss, dW) if b is None else (loss, dW, db)


def softmax_loss_vectorized(W, X, y, reg, *, b=None, reg_convention: str = "full"):
    """Softmax cross-entropy without Python loops; W may be a stack (K, C, D) with reg (K,)."""
    _check(W, X, y, b, reg, "sum", reg_convention)
    n = X.shape[0]
    rows = _arange(n, X)
    scores = _scores(X, W)  # (…, N, C)
    if b is not None:
        scores = scores + b[..., None, :]
    shifted = scores - _amax(scores, -1)
    exp = shifted.exp() if _is_torch(shifted) else np.exp(shifted)
    total = _sum(exp, -1, keepdims=True)
    logz = total.log() if _is_torch(total) else np.log(total)
    loss = _sum(logz[..., 0] - shifted[..., rows, y], -1) / n
    probs = exp / total
    probs[..., rows, y] -= 1.0
    return _finish(loss, probs / n, W, X, reg, b, reg_convention)
