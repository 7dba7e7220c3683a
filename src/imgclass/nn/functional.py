"""Forward/backward pairs for the NumPy engine, written from scratch (no autograd).

Each op is two pure functions in the style of the cs231n assignments:
``op_forward(inputs..., hyperparameters) -> (out, cache)`` and
``op_backward(dout, cache) -> gradients`` (one per differentiable input, in
the same order). Convolution and pooling live in :mod:`imgclass.nn.conv` and
:mod:`imgclass.nn.pool` and are re-exported at the end of this module, so
``functional`` is the one place to look.
"""

from __future__ import annotations

import numpy as np

from imgclass.errors import ImgclassError


def affine_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, tuple]:
    """Fully connected layer ``out = x.reshape(N, D) @ w + b``.

    Parameters
    ----------
    x : (N, d_1, ..., d_k) with D = d_1 * ... * d_k
    w : (D, M)
    b : (M,)

    Returns
    -------
    out : (N, M)
    cache : (x, w)
    """
    if int(np.prod(x.shape[1:])) != w.shape[0]:
        raise ImgclassError(f"affine: input has {int(np.prod(x.shape[1:]))} features per sample, weights expect {w.shape[0]}")
    out = x.reshape(len(x), -1) @ w + b  # (N, D) @ (D, M) -> (N, M)
    return out, (x, w)


def affine_backward(dout: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of :func:`affine_forward`: ``dx`` (shape of x), ``dw`` (D, M), ``db`` (M,)."""
    x, w = cache
    dx = (dout @ w.T).reshape(x.shape)  # (N, M) @ (M, D) -> (N, D) -> x.shape
    dw = x.reshape(len(x), -1).T @ dout  # (D, N) @ (N, M)
    db = dout.sum(axis=0)
    return dx, dw, db


def relu_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``max(0, x)`` elementwise; the cache is the mask of positive inputs."""
    mask = x > 0
    return x * mask, mask


def relu_backward(dout: np.ndarray, cache: np.ndarray) -> np.ndarray:
    """Pass the gradient where the input was positive (0 at exactly 0, as PyTorch)."""
    return dout * cache


def flatten_forward(x: np.ndarray) -> tuple[np.ndarray, tuple]:
    """(N, C, H, W) -> (N, C*H*W)."""
    return x.reshape(len(x), -1), x.shape


def flatten_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    return dout.reshape(cache)


def dropout_forward(x: np.ndarray, p: float, train: bool, rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Inverted dropout: in training, zero each unit with probability ``p`` and scale the rest by ``1/(1-p)``.

    In evaluation (``train=False``) it is the identity, so no rescaling is
    needed at test time. ``rng`` is required in training: randomness is explicit.
    """
    if not 0.0 <= p < 1.0:
        raise ImgclassError(f"dropout probability must lie in [0, 1), got {p}")
    if not train or p == 0.0:
        return x, None
    if rng is None:
        raise ImgclassError("dropout in training mode needs an explicit rng (np.random.Generator)")
    mask = (rng.random(x.shape) >= p).astype(x.dtype) / x.dtype.type(1.0 - p)
    return x * mask, mask


def dropout_backward(dout: np.ndarray, cache: np.ndarray | None) -> np.ndarray:
    return dout if cache is None else dout * cache


def batchnorm_forward(
    x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, running_mean: np.ndarray, running_var: np.ndarray,
    train: bool, momentum: float = 0.1, eps: float = 1e-5,
) -> tuple[np.ndarray, tuple]:
    """Batch normalization of (N, D) features.

    Training: normalize with the batch mean and (biased) variance and update
    the running statistics **in place** as PyTorch does:
    ``running = (1 - momentum) * running + momentum * batch_stat``, with the
    unbiased variance ``var * N / (N - 1)`` going into ``running_var``.
    Evaluation: normalize with the running statistics.

    Parameters
    ----------
    x : (N, D); gamma, beta, running_mean, running_var : (D,)

    Returns
    -------
    out : (N, D)
    cache : for :func:`batchnorm_backward`
    """
    if train:
        n = len(x)
        if n < 2:
            raise ImgclassError("batchnorm in training mode needs at least 2 values per channel (batch size >= 2)")
        mu = x.mean(axis=0)
        var = x.var(axis=0)
        running_mean *= 1.0 - momentum
        running_mean += momentum * mu
        running_var *= 1.0 - momentum
        running_var += momentum * var * (n / (n - 1))
    else:
        mu, var = running_mean, running_var
    inv_std = 1.0 / np.sqrt(var + eps)
    xhat = (x - mu) * inv_std
    return gamma * xhat + beta, (xhat, gamma, inv_std, train)


def batchnorm_backward(dout: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of :func:`batchnorm_forward`: ``dx`` (N, D), ``dgamma`` (D,), ``dbeta`` (D,).

    In training mode the batch statistics depend on every sample, which gives
    the compact form ``dx = inv_std / N * (N*dxhat - sum(dxhat) - xhat*sum(dxhat*xhat))``.
    """
    xhat, gamma, inv_std, train = cache
    dgamma = (dout * xhat).sum(axis=0)
    dbeta = dout.sum(axis=0)
    dxhat = dout * gamma
    if not train:
        return dxhat * inv_std, dgamma, dbeta
    n = len(dout)
    dx = (inv_std / n) * (n * dxhat - dxhat.sum(axis=0) - xhat * (dxhat * xhat).sum(axis=0))
    return dx, dgamma, dbeta


def _channel_sum(a: np.ndarray) -> np.ndarray:
    """Sum of (N, C, H, W) over N, H, W -> (C,), reducing the contiguous H*W axis first (fast)."""
    n, c = a.shape[:2]
    return a.reshape(n, c, -1).sum(axis=2).sum(axis=0)


def spatial_batchnorm_forward(x: np.ndarray, gamma, beta, running_mean, running_var, train: bool,
                              momentum: float = 0.1, eps: float = 1e-5) -> tuple[np.ndarray, tuple]:
    """Batch normalization of images (N, C, H, W): statistics per channel over N, H, W.

    The same mathematics as :func:`batchnorm_forward` on the (N*H*W, C)
    matrix, computed in place in NCHW layout (no transposes, and the output
    is a contiguous array, which keeps the following layers fast).
    """
    n, c, h, w = x.shape
    m = n * h * w
    if train:
        if m < 2:
            raise ImgclassError("batchnorm in training mode needs at least 2 values per channel")
        mu = _channel_sum(x) / m
        xc = x - mu.reshape(1, c, 1, 1)
        var = _channel_sum(xc * xc) / m
        running_mean *= 1.0 - momentum
        running_mean += momentum * mu
        running_var *= 1.0 - momentum
        running_var += momentum * var * (m / (m - 1))
    else:
        xc, var = x - running_mean.reshape(1, c, 1, 1), running_var
    inv_std = (1.0 / np.sqrt(var + eps)).astype(x.dtype, copy=False)
    scale = (gamma * inv_std).reshape(1, c, 1, 1)
    out = xc * scale
    out += beta.reshape(1, c, 1, 1)
    return out, (xc, gamma, inv_std, train)


def spatial_batchnorm_backward(dout: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of :func:`spatial_batchnorm_forward`: ``dx`` (N, C, H, W), ``dgamma``, ``dbeta`` (C,).

    With ``xhat = xc * inv_std`` and ``k = gamma * inv_std`` per channel, training mode gives
    ``dx = k * (dout - mean(dout) - xhat * mean(dout * xhat))`` (means over N, H, W).
    """
    xc, gamma, inv_std, train = cache
    n, c, h, w = dout.shape
    m = n * h * w
    dbeta = _channel_sum(dout)
    dxc = _channel_sum(dout * xc)  # sum(dout * xhat) = dxc * inv_std
    dgamma = dxc * inv_std
    k = gamma * inv_std
    if not train:
        return dout * k.reshape(1, c, 1, 1), dgamma, dbeta
    dx = dout * k.reshape(1, c, 1, 1)
    dx -= (k * dbeta / m).reshape(1, c, 1, 1)
    dx -= xc * (k * inv_std * inv_std * dxc / m).reshape(1, c, 1, 1)
    return dx, dgamma, dbeta


# Convolution and pooling: their own modules, re-exported so every op is reachable from here.
from imgclass.nn.conv import conv_backward, conv_backward_naive, conv_forward, conv_forward_naive  # noqa: E402
from imgclass.nn.pool import (  # noqa: E402
    avg_pool_backward, avg_pool_forward, max_pool_backward, max_pool_backward_naive, max_pool_forward,
    max_pool_forward_naive,
)
