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
from imgclass.nn.geometry import blas_threads


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
    with blas_threads():
        out = x.reshape(len(x), -1) @ w  # (N, D) @ (D, M) -> (N, M)
    out += b
    return out, (x, w)


def affine_backward(dout: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of :func:`affine_forward`: ``dx`` (shape of x), ``dw`` (D, M), ``db`` (M,)."""
    x, w = cache
    with blas_threads():
        dx = (dout @ w.T).reshape(x.shape)  # (N, M) @ (M, D) -> (N, D) -> x.shape
        dw = x.reshape(len(x), -1).T @ dout  # (D, N) @ (N, M)
    db = dout.sum(axis=0)
    return dx, dw, db


def _flat(a: np.ndarray) -> np.ndarray | None:
    """``a`` as a 1-D view in memory order when it is C-contiguous or (4-D) channels-last, else None."""
    if a.flags.c_contiguous:
        return a.reshape(-1)
    if a.ndim == 4 and a.transpose(0, 2, 3, 1).flags.c_contiguous:
        return a.transpose(0, 2, 3, 1).reshape(-1)
    return None


_BLOCK_BYTES = 2 ** 18  # elementwise passes go a block of about this many bytes at a time (L2-resident)


def relu_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``max(0, x)`` elementwise; the cache is the mask of positive inputs.

    Output and mask keep ``x``'s memory layout (channels-last stays channels-last); both are
    written in one blocked pass over ``x``.
    """
    out, mask = np.empty_like(x), np.empty_like(x, dtype=bool)
    xf, of, mf = _flat(x), _flat(out), _flat(mask)
    if xf is None or of is None or mf is None:
        np.greater(x, 0, out=mask)
        np.multiply(x, mask, out=out)
        return out, mask
    step = max(1, _BLOCK_BYTES // max(1, x.itemsize))
    for i in range(0, xf.size, step):
        xb, mb = xf[i:i + step], mf[i:i + step]
        np.greater(xb, 0, out=mb)
        np.multiply(xb, mb, out=of[i:i + step])  # x * mask, exactly as before (NaN stays NaN)
    return out, mask


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


class _Channels:
    """An (N, C, H, W) array as a 2-D matrix ``X`` whose columns each belong to one channel.

    Channels-last arrays become ``(N*H, W*C)`` (column ``j`` is channel ``j % C``), anything
    else a C-contiguous ``(N, C*H*W)`` (column ``j`` is channel ``j // (H*W)``): both without
    a copy when the array already has that layout. Per-channel vectors are tiled to the
    row length, so every elementwise pass runs over long contiguous rows, and column sums
    fold back to channels. Passes go a block of rows at a time, so that temporaries stay in
    cache and each pass reads (and writes) main memory once.
    """

    def __init__(self, x: np.ndarray, dtype, like: _Channels | None = None):
        n, c, h, w = x.shape
        self.shape, self.dtype = x.shape, dtype
        self.last = like.last if like is not None else (
            not x.flags.c_contiguous and x.transpose(0, 2, 3, 1).flags.c_contiguous)
        if self.last:
            self.X = np.ascontiguousarray(x.transpose(0, 2, 3, 1), dtype=dtype).reshape(n * h, w * c)
        else:
            self.X = np.ascontiguousarray(x, dtype=dtype).reshape(n, c * h * w)
        self.rows = max(1, _BLOCK_BYTES // max(1, self.X.shape[1] * self.X.itemsize))

    def blocks(self):
        return [slice(r, r + self.rows) for r in range(0, self.X.shape[0], self.rows)]

    def tile(self, v: np.ndarray) -> np.ndarray:
        """Per-channel ``v (C,)`` as a row ``(W*C,)`` or ``(C*H*W,)`` matching ``X``'s columns."""
        h, w = self.shape[2:]
        v = np.asarray(v, dtype=self.dtype)
        return np.tile(v, w) if self.last else np.repeat(v, h * w)

    def fold(self, colsum: np.ndarray) -> np.ndarray:
        """Column sums ``(W*C,)`` or ``(C*H*W,)`` -> per-channel sums ``(C,)``."""
        c, h, w = self.shape[1:]
        return colsum.reshape(w, c).sum(axis=0) if self.last else colsum.reshape(c, h * w).sum(axis=1)

    def empty(self) -> np.ndarray:
        return np.empty_like(self.X)

    def image(self, X: np.ndarray) -> np.ndarray:
        """A matrix laid out like ``X`` as the (N, C, H, W) array it stands for (a view)."""
        n, c, h, w = self.shape
        return X.reshape(n, h, w, c).transpose(0, 3, 1, 2) if self.last else X.reshape(n, c, h, w)


def spatial_batchnorm_forward(x: np.ndarray, gamma, beta, running_mean, running_var, train: bool,
                              momentum: float = 0.1, eps: float = 1e-5) -> tuple[np.ndarray, tuple]:
    """Batch normalization of images (N, C, H, W): statistics per channel over N, H, W.

    The same mathematics as :func:`batchnorm_forward` on the (N*H*W, C) matrix, in the
    input's memory layout (NCHW or channels-last, see :class:`_Channels`) and in two
    passes over ``x``: both moments at once, then ``out = (x - mean) * scale + beta``. The
    moments are taken around a shift (the first block's mean), so the variance has no
    cancellation problem in float32; they are accumulated in float64. The output has the
    input's layout, and the cache keeps ``x`` itself rather than a centred copy.
    """
    n, c, h, w = x.shape
    m = n * h * w
    dtype = np.result_type(x, np.float32)
    acc = np.result_type(dtype, np.float64)  # float64 (longdouble stays longdouble)
    ch = _Channels(x, dtype)
    X = ch.X
    if train:
        if m < 2:
            raise ImgclassError("batchnorm in training mode needs at least 2 values per channel")
        blocks = ch.blocks()
        first = X[blocks[0]]
        shift = ch.fold(first.sum(axis=0, dtype=acc)) / (first.size // c)  # (C,)
        shift_t = ch.tile(shift)
        s1, s2 = np.zeros(X.shape[1], acc), np.zeros(X.shape[1], acc)
        for rows in blocks:
            t = X[rows] - shift_t
            s1 += t.sum(axis=0)
            s2 += np.einsum("rj,rj->j", t, t)
        d1, d2 = ch.fold(s1) / m, ch.fold(s2) / m  # first and second moments around the shift
        mu, var = shift + d1, np.maximum(d2 - d1 * d1, 0.0)
        running_mean *= 1.0 - momentum
        running_mean += momentum * mu
        running_var *= 1.0 - momentum
        running_var += momentum * var * (m / (m - 1))
    else:
        mu, var = np.asarray(running_mean, acc), np.asarray(running_var, acc)
    inv_std = 1.0 / np.sqrt(var + eps)  # (C,), acc
    mu_t, scale_t, beta_t = ch.tile(mu), ch.tile(np.asarray(gamma, acc) * inv_std), ch.tile(beta)
    out = ch.empty()
    for rows in ch.blocks():
        o = out[rows]
        np.subtract(X[rows], mu_t, out=o)
        o *= scale_t
        o += beta_t
    return ch.image(out), (ch, mu_t, inv_std, np.asarray(gamma, acc), train)


def spatial_batchnorm_backward(dout: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of :func:`spatial_batchnorm_forward`: ``dx`` (N, C, H, W), ``dgamma``, ``dbeta`` (C,).

    With ``xhat = (x - mean) * inv_std`` and ``k = gamma * inv_std`` per channel, training mode gives
    ``dx = k * (dout - mean(dout) - xhat * mean(dout * xhat))`` (means over N, H, W): one pass
    for both sums, one for ``dx``, which has ``x``'s layout.
    """
    ch, mu_t, inv_std, gamma, train = cache
    n, _, h, w = ch.shape
    m = n * h * w
    D, X = _Channels(dout, ch.dtype, like=ch).X, ch.X
    s_d, s_dx = np.zeros(X.shape[1], inv_std.dtype), np.zeros(X.shape[1], inv_std.dtype)
    for rows in ch.blocks():
        d = D[rows]
        s_d += d.sum(axis=0)
        s_dx += np.einsum("rj,rj->j", d, X[rows] - mu_t)
    dbeta = ch.fold(s_d)
    dxc = ch.fold(s_dx)  # sum(dout * (x - mean)) = sum(dout * xhat) / inv_std
    dgamma = dxc * inv_std
    k = gamma * inv_std
    k_t = ch.tile(k)
    dx = ch.empty()
    if train:
        c_t, e_t = ch.tile(k * inv_std * inv_std * dxc / m), ch.tile(k * dbeta / m)
    for rows in ch.blocks():
        o = dx[rows]
        np.multiply(D[rows], k_t, out=o)
        if train:  # o -= (x - mean) * c + e
            t = X[rows] - mu_t
            t *= c_t
            t += e_t
            o -= t
    return ch.image(dx), dgamma.astype(ch.dtype), dbeta.astype(ch.dtype)


# Convolution and pooling: their own modules, re-exported so every op is reachable from here.
from imgclass.nn.conv import conv_backward, conv_backward_naive, conv_forward, conv_forward_naive  # noqa: E402, F401
from imgclass.nn.pool import (  # noqa: E402, F401
    avg_pool_backward, avg_pool_forward, max_pool_backward, max_pool_backward_naive, max_pool_forward,
    max_pool_forward_naive,
)
