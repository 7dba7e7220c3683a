"""2-D convolution, written by hand in NumPy (pooling: :mod:`imgclass.nn.pool`).

No autograd, no torch, no scipy: every forward and backward pass below is
plain NumPy. Each op is a cs231n-style pair of pure functions,
``op_forward(x, ...) -> (out, cache)`` and ``op_backward(dout, cache) -> grads``,
on ``(N, C, H, W)`` arrays.

* ``conv_forward_naive`` / ``conv_backward_naive``
  loop over every output pixel: the readable reference and the test oracle.
* ``conv_forward`` / ``conv_backward`` are the fast path, im2col + GEMM,
  channels-last: the columns of an output pixel are its ``KH*KW*C`` input taps
  (plus a ones column for the bias), so the product ``cols @ w.T`` is the output
  in ``(N, H_out, W_out, F)`` memory order, returned as an ``(N, F, H_out, W_out)``
  view with channels-last strides (PyTorch's ``channels_last``). Batchnorm, ReLU
  and pooling keep that layout, and the next convolution reads it without a
  copy. Columns are built from one strided view of the padded input, a ~2 MiB
  block of samples at a time, multiplied while in cache and never kept: the
  backward pass rebuilds each block for ``dw`` and runs col2im on it right away.
  The products run on :data:`imgclass.nn.geometry.BLAS_THREADS` BLAS threads.
Geometry follows PyTorch: ``stride``, ``padding`` and ``dilation`` are an int or
an ``(h, w)`` pair, and ``H_out = (H + 2*pad_h - dil_h*(KH - 1) - 1) // stride_h + 1``.
float32 inputs stay float32; mixed inputs promote as NumPy does.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from imgclass.errors import ImgclassError
from imgclass.nn.geometry import Pair, _check_4d, _pair, _span, blas_threads, keep_freed_memory



# ----------------------------------------------------------------- geometry

def _conv_geometry(x, w, b, stride, padding, dilation) -> tuple[Pair, Pair, Pair, Pair]:
    """Validate a convolution's arguments; return ``stride, pad, dil, (H_out, W_out)``."""
    _check_4d(x, "x")
    if np.ndim(w) != 4:
        raise ImgclassError(f"w must be 4-D (F, C, KH, KW), got shape {np.shape(w)}")
    F, C, KH, KW = w.shape
    if x.shape[1] != C:
        raise ImgclassError(f"x has {x.shape[1]} channels but w expects {C} (w is (F, C, KH, KW) = {w.shape})")
    if np.shape(b) != (F,):
        raise ImgclassError(f"b must have shape ({F},), one bias per filter, got {np.shape(b)}")
    stride, pad, dil = _pair(stride, "stride", 1), _pair(padding, "padding", 0), _pair(dilation, "dilation", 1)
    out = tuple((size + 2 * p - d * (k - 1) - 1) // s + 1
                for size, k, s, p, d in zip(x.shape[2:], (KH, KW), stride, pad, dil))
    if min(out) < 1:
        raise ImgclassError(
            f"conv output would be empty: input {x.shape[2]}x{x.shape[3]} with padding {pad} is smaller than "
            f"the {KH}x{KW} kernel dilated by {dil}; use more padding or a smaller kernel/dilation")
    return stride, pad, dil, out


def _clip(k: int, dil: int, pad: int, stride: int, size: int, out: int) -> tuple[int, int, int]:
    """Outputs ``[lo, hi)`` whose kernel offset ``k`` lands inside the input, and the first input index.

    Output ``i`` reads input ``i*stride + k*dil - pad``; the rest read zero padding.
    """
    first = k * dil - pad
    lo = min(out, max(0, -(first // stride)))  # ceil(-first / stride)
    hi = max(lo, min(out, (size - 1 - first) // stride + 1))
    return lo, hi, first + lo * stride


def _offsets(kernel: Pair, stride: Pair, pad: Pair, dil: Pair, in_hw: tuple, out_hw: Pair):
    """For each kernel offset ``(kh, kw)``: its output window and the input slices it reads.

    Yields ``kh, kw, (out_rows, out_cols), (in_rows, in_cols)`` as slices, or
    ``(None, None)`` for both when the offset only ever reads padding.
    """
    for kh in range(kernel[0]):
        i0, i1, h0 = _clip(kh, dil[0], pad[0], stride[0], in_hw[0], out_hw[0])
        for kw in range(kernel[1]):
            j0, j1, w0 = _clip(kw, dil[1], pad[1], stride[1], in_hw[1], out_hw[1])
            if i1 == i0 or j1 == j0:
                yield kh, kw, (None, None), (None, None)
            else:
                in_slices = (_span(h0, i1 - i0, stride[0]), _span(w0, j1 - j0, stride[1]))
                yield kh, kw, (slice(i0, i1), slice(j0, j1)), in_slices


# ------------------------------------------------------- naive convolution

def conv_forward_naive(x, w, b, stride=1, padding=0, dilation=1):
    """Convolution (cross-correlation, as PyTorch) by explicit loops over samples and output pixels.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
    w : ndarray, shape (F, C, KH, KW)
    b : ndarray, shape (F,)
    stride, padding, dilation : int or (h, w) pair

    Returns
    -------
    out : ndarray, shape (N, F, H_out, W_out)
    cache : tuple for :func:`conv_backward_naive`
    """
    (sh, sw), (ph, pw), (dh, dw), (Ho, Wo) = _conv_geometry(x, w, b, stride, padding, dilation)
    N, F, (KH, KW) = x.shape[0], w.shape[0], w.shape[2:]
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))  # (N, C, H + 2ph, W + 2pw)
    out = np.zeros((N, F, Ho, Wo), dtype=np.result_type(x, w, b))
    for n in range(N):
        for i in range(Ho):
            for j in range(Wo):
                window = xp[n, :, _span(i * sh, KH, dh), _span(j * sw, KW, dw)]  # (C, KH, KW)
                out[n, :, i, j] = np.sum(w * window, axis=(1, 2, 3)) + b  # every filter (F,)
    return out, (x, w, (sh, sw), (ph, pw), (dh, dw))


def conv_backward_naive(dout, cache):
    """Gradients of :func:`conv_forward_naive` by the same loops.

    Parameters
    ----------
    dout : ndarray, shape (N, F, H_out, W_out)
    cache : from :func:`conv_forward_naive`

    Returns
    -------
    dx : ndarray, shape (N, C, H, W)
    dw : ndarray, shape (F, C, KH, KW)
    db : ndarray, shape (F,)
    """
    x, w, (sh, sw), (ph, pw), (dh, dw_) = cache
    N, _, Ho, Wo = dout.shape
    H, W, (KH, KW) = x.shape[2], x.shape[3], w.shape[2:]
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))  # (N, C, H + 2ph, W + 2pw)
    dxp = np.zeros(xp.shape, dtype=np.result_type(dout, x, w))
    dw = np.zeros(w.shape, dtype=dxp.dtype)
    for n in range(N):
        for i in range(Ho):
            for j in range(Wo):
                rows, cols = _span(i * sh, KH, dh), _span(j * sw, KW, dw_)
                g = dout[n, :, i, j, None, None, None]  # (F, 1, 1, 1)
                dw += g * xp[n, :, rows, cols]  # (F, C, KH, KW)
                dxp[n, :, rows, cols] += np.sum(g * w, axis=0)  # (C, KH, KW)
    db = dout.sum(axis=(0, 2, 3))
    return dxp[:, :, ph:ph + H, pw:pw + W], dw, db


# -------------------------------------------------- fast convolution (GEMM)

# The fast path goes a block of samples at a time, each block's columns about this many
# bytes: they are built, multiplied and (backward) turned back into pixels while still in
# cache, and no array the size of all the columns is ever allocated. The columns are not
# kept for the backward pass either: rebuilding a block from the cached input is cheaper
# than writing all of them to memory and reading them back (measured on 2 busy cores:
# main memory moved only ~2-4 GB/s, and a whole-batch columns array cost ~10 ms in page
# faults alone on every step).
_DCOLS_BLOCK_BYTES = 2 ** 21


class _Im2col:
    """im2col for one convolution's geometry, a block of samples at a time, channels-last.

    The columns of a block of ``n`` samples are ``(n*H_out*W_out, KH*KW*C + 1)``: row
    ``(n, i, j)`` is output pixel ``(i, j)``, column ``(kh, kw, c)`` the input under that
    tap and the last column ones, which carry the bias. They are copied from a strided
    view of the zero-padded input, whose inner ``(KW, C)`` block is contiguous when
    ``dil_w == 1``: runs of ``KW*C`` values, not single elements.
    """

    def __init__(self, xh: np.ndarray, kernel: Pair, stride: Pair, pad: Pair, dil: Pair, out_hw: Pair, dtype):
        N, H, W, C = xh.shape
        self.xh, self.kernel, self.stride, self.pad, self.dil, self.out_hw = xh, kernel, stride, pad, dil, out_hw
        self.K = kernel[0] * kernel[1] * C
        self.P = out_hw[0] * out_hw[1]
        step = max(1, _DCOLS_BLOCK_BYTES // (self.P * (self.K + 1) * np.dtype(dtype).itemsize))
        self.blocks = [(n0, min(N, n0 + step)) for n0 in range(0, N, step)]
        n = min(N, step)
        self.cols = np.empty((n, *out_hw, self.K + 1), dtype=dtype)  # scratch, reused by every block
        self.cols[..., self.K] = 1
        (ph, pw) = pad
        self.xp = np.zeros((n, H + 2 * ph, W + 2 * pw, C), dtype=dtype) if ph or pw else None

    def __call__(self, n0: int, n1: int) -> np.ndarray:
        """The columns of samples ``[n0, n1)``, ``((n1-n0)*H_out*W_out, KH*KW*C + 1)`` (a scratch view)."""
        n, (ph, pw), (sh, sw), (dh, dw) = n1 - n0, self.pad, self.stride, self.dil
        H, W, C = self.xh.shape[1:]
        if self.xp is None:
            xp = np.ascontiguousarray(self.xh[n0:n1], dtype=self.cols.dtype)
        else:  # the border stays zero from allocation
            xp = self.xp[:n]
            xp[:, ph:ph + H, pw:pw + W] = self.xh[n0:n1]
        s0, s1, s2, s3 = xp.strides
        taps = as_strided(xp, (n, *self.out_hw, *self.kernel, C), (s0, s1 * sh, s2 * sw, s1 * dh, s2 * dw, s3),
                          writeable=False)
        cols = self.cols[:n]
        np.copyto(cols[..., :self.K].reshape(taps.shape), taps)
        return cols.reshape(n * self.P, self.K + 1)

    def input_grad(self, d: np.ndarray, w_taps: np.ndarray, dxh: np.ndarray) -> None:
        """Overwrite ``dxh (n, H, W, C)`` with the input gradient of a block: col2im of ``d @ w_taps``.

        ``d`` is the block's ``(n*H_out*W_out, F)`` output gradient, ``w_taps`` the ``(F, KH*KW*C)``
        weights. col2im adds one strided slice per kernel offset, clipped to the input (padding is
        dropped). Its innermost runs are the ``C`` channels of a pixel; with fewer channels than
        output columns (an RGB input layer) the columns are built transposed instead,
        ``(KH*KW*C, n*H_out*W_out)``, summed channels-first along image rows, and the block
        transposed back at the end (measured: about 2x faster for C = 3 than runs of 3 values).
        """
        n, H, W, C = dxh.shape
        offsets = _offsets(self.kernel, self.stride, self.pad, self.dil, (H, W), self.out_hw)
        if C < self.out_hw[1]:
            dcols = (w_taps.T @ d.T).reshape(*self.kernel, C, n, *self.out_hw)  # (KH, KW, C, n, H_out, W_out)
            dxt = np.zeros((C, n, H, W), dtype=dxh.dtype)
            for kh, kw, (oi, oj), (ii, ij) in offsets:
                if oi is not None:
                    dxt[:, :, ii, ij] += dcols[kh, kw, :, :, oi, oj]
            dxh[...] = dxt.transpose(1, 2, 3, 0)
            return
        dcols = (d @ w_taps).reshape(n, *self.out_hw, *self.kernel, C)  # (n, H_out, W_out, KH, KW, C)
        dxh[...] = 0
        for kh, kw, (oi, oj), (ii, ij) in offsets:
            if oi is not None:
                dxh[:, ii, ij] += dcols[:, oi, oj, kh, kw]


def conv_forward(x, w, b, stride=1, padding=0, dilation=1):
    """Convolution by im2col and matrix products: the fast path models use.

    Same arguments, output and errors as :func:`conv_forward_naive`.

    The work is done channels-last, a block of samples at a time (see :class:`_Im2col`):
    each block's product ``(n*H_out*W_out, F)`` *is* its output in ``(n, H_out, W_out, F)``
    memory order. ``out`` is returned as the ``(N, F, H_out, W_out)`` transposed view of
    that array (channels-last strides, as PyTorch's ``channels_last``): no transpose
    pass, and the next layers read it along its contiguous channel axis.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W), any memory layout (channels-last is read without a copy)
    w : ndarray, shape (F, C, KH, KW)
    b : ndarray, shape (F,)
    stride, padding, dilation : int or (h, w) pair

    Returns
    -------
    out : ndarray, shape (N, F, H_out, W_out), channels-last in memory
    cache : tuple for :func:`conv_backward`; holds ``x`` (channels-last), not the columns
    """
    stride, pad, dil, out_hw = _conv_geometry(x, w, b, stride, padding, dilation)
    keep_freed_memory()
    dtype = np.result_type(x, w, b, np.float32)
    N, F = x.shape[0], w.shape[0]
    xh = np.ascontiguousarray(x.transpose(0, 2, 3, 1), dtype=dtype)  # (N, H, W, C): a view if channels-last
    im2col = _Im2col(xh, w.shape[2:], stride, pad, dil, out_hw, dtype)
    K = im2col.K
    w2 = np.empty((F, K + 1), dtype=dtype)  # (F, KH*KW*C + 1): the taps channels-last, then the bias
    w2[:, :K] = w.transpose(0, 2, 3, 1).reshape(F, K)
    w2[:, K] = b
    out = np.empty((N, *out_hw, F), dtype=dtype)  # (N, H_out, W_out, F)
    with blas_threads():
        for n0, n1 in im2col.blocks:
            np.matmul(im2col(n0, n1), w2.T, out=out[n0:n1].reshape(-1, F))
    return out.transpose(0, 3, 1, 2), (xh, w.shape, w2, (stride, pad, dil, out_hw))


def conv_backward(dout, cache, input_grad: bool = True):
    """Gradients of :func:`conv_forward`, a block of samples at a time.

    Each block's columns are rebuilt from the cached input; ``[dw | db] += dout_block.T @ cols``
    (the ones column gives ``db``) and ``dx_block = col2im(dout_block @ w)`` (see :meth:`_Im2col.input_grad`).

    Parameters
    ----------
    dout : ndarray, shape (N, F, H_out, W_out), any memory layout (channels-last is read without a copy)
        Cast to the forward pass's dtype (float32 stays float32).
    cache : from :func:`conv_forward`
    input_grad : bool
        False skips ``dx`` (returned as None): a network's first layer needs no input gradient,
        and for an RGB input ``dx`` is about half of that layer's backward pass.

    Returns
    -------
    dx : ndarray, shape (N, C, H, W), channels-last in memory; None without ``input_grad``
    dw : ndarray, shape (F, C, KH, KW), C-contiguous
    db : ndarray, shape (F,)
    """
    xh, w_shape, w2, (stride, pad, dil, out_hw) = cache
    F, C, KH, KW = w_shape
    im2col = _Im2col(xh, (KH, KW), stride, pad, dil, out_hw, w2.dtype)
    K, P = im2col.K, im2col.P
    d2 = np.ascontiguousarray(dout.transpose(0, 2, 3, 1), dtype=w2.dtype).reshape(-1, F)  # (N*H_out*W_out, F)
    dxh = np.empty(xh.shape, dtype=w2.dtype) if input_grad else None
    dwb = np.zeros((F, K + 1), dtype=w2.dtype)  # [dw | db]
    with blas_threads():
        for n0, n1 in im2col.blocks:
            d = d2[n0 * P:n1 * P]
            dwb += d.T @ im2col(n0, n1)
            if input_grad:
                im2col.input_grad(d, w2[:, :K], dxh[n0:n1])
    dw = np.ascontiguousarray(dwb[:, :K].reshape(F, KH, KW, C).transpose(0, 3, 1, 2))
    return (dxh.transpose(0, 3, 1, 2) if input_grad else None), dw, dwb[:, K].copy()


# ------------------------------------------------------------------ pooling
