"""2-D convolution, written by hand in NumPy (pooling: :mod:`imgclass.nn.pool`).

No autograd, no torch, no scipy: every forward and backward pass below is
plain NumPy. Each op is a cs231n-style pair of pure functions,
``op_forward(x, ...) -> (out, cache)`` and ``op_backward(dout, cache) -> grads``,
on ``(N, C, H, W)`` arrays.

* ``conv_forward_naive`` / ``conv_backward_naive``
  loop over every output pixel: the readable reference and the test oracle.
* ``conv_forward`` / ``conv_backward`` are the fast path, im2col + GEMM. The
  columns are laid out ``(C*KH*KW, N*H_out*W_out)`` so that the forward
  product and ``dw`` are each one BLAS call with no large transpose, and
  ``dcols`` one per ~2 MiB block of samples (col2im then reads it from cache,
  and the backward pass never allocates a second array the size of the columns).
  im2col and col2im loop over the ``KH*KW`` kernel offsets only, copying (or
  adding) one strided slice each, and handle zero padding by clipping the
  slices instead of copying into a padded array.
Geometry follows PyTorch: ``stride``, ``padding`` and ``dilation`` are an int or
an ``(h, w)`` pair, and ``H_out = (H + 2*pad_h - dil_h*(KH - 1) - 1) // stride_h + 1``.
float32 inputs stay float32; mixed inputs promote as NumPy does.
"""

from __future__ import annotations


import numpy as np

from imgclass.errors import ImgclassError
from imgclass.nn.geometry import Pair, _check_4d, _pair, _span



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

# conv_backward builds dcols in blocks of about this many bytes. Besides cache reuse,
# this keeps the peak small enough that glibc reuses freed memory instead of
# returning it to the OS and page-faulting it back on the next step (measured:
# a whole-batch dcols made the benchmark's forward+backward ~1.5x slower).
_DCOLS_BLOCK_BYTES = 2 ** 21


def _im2col(x: np.ndarray, kernel: Pair, stride: Pair, pad: Pair, dil: Pair, out_hw: Pair, dtype) -> np.ndarray:
    """Columns ``(C*KH*KW, N*H_out*W_out)``: row ``(c, kh, kw)``, column ``(n, i, j)`` is the input under that tap.

    One strided copy per kernel offset; taps that fall in the padding are set to zero.
    """
    N, C, H, W = x.shape
    cols = np.empty((C, *kernel, N, *out_hw), dtype=dtype)
    xt = x.transpose(1, 0, 2, 3)  # (C, N, H, W) view
    for kh, kw, (oi, oj), (ii, ij) in _offsets(kernel, stride, pad, dil, (H, W), out_hw):
        slab = cols[:, kh, kw]  # (C, N, H_out, W_out) view
        if oi is None:
            slab[...] = 0
            continue
        slab[:, :, :oi.start] = 0
        slab[:, :, oi.stop:] = 0
        slab[:, :, oi, :oj.start] = 0
        slab[:, :, oi, oj.stop:] = 0
        slab[:, :, oi, oj] = xt[:, :, ii, ij]
    return cols.reshape(C * kernel[0] * kernel[1], -1)  # (C*KH*KW, N*H_out*W_out)


def _col2im(dcols: np.ndarray, dx: np.ndarray, kernel: Pair, stride: Pair, pad: Pair, dil: Pair,
            out_hw: Pair) -> None:
    """Adjoint of :func:`_im2col`: overwrite ``dx (N, C, H, W)`` with ``dcols`` summed over the taps.

    ``dcols`` has shape ``(C*KH*KW, N*H_out*W_out)``; adds one strided slice per kernel offset.
    """
    N, C, H, W = dx.shape
    dcols = dcols.reshape(C, *kernel, N, *out_hw)  # (C, KH, KW, N, H_out, W_out)
    dx[...] = 0
    dxt = dx.transpose(1, 0, 2, 3)  # (C, N, H, W) view
    for kh, kw, (oi, oj), (ii, ij) in _offsets(kernel, stride, pad, dil, (H, W), out_hw):
        if oi is not None:
            dxt[:, :, ii, ij] += dcols[:, kh, kw, :, oi, oj]


def conv_forward(x, w, b, stride=1, padding=0, dilation=1):
    """Convolution by im2col and one matrix product: the fast path models use.

    Same arguments, output and errors as :func:`conv_forward_naive`.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
    w : ndarray, shape (F, C, KH, KW)
    b : ndarray, shape (F,)
    stride, padding, dilation : int or (h, w) pair

    Returns
    -------
    out : ndarray, shape (N, F, H_out, W_out), C-contiguous
    cache : tuple for :func:`conv_backward`; holds the columns, ``(C*KH*KW, N*H_out*W_out)``
    """
    stride, pad, dil, out_hw = _conv_geometry(x, w, b, stride, padding, dilation)
    dtype = np.result_type(x, w, b, np.float32)
    N, F, kernel = x.shape[0], w.shape[0], w.shape[2:]
    geometry = (kernel, stride, pad, dil, out_hw)
    cols = _im2col(x, *geometry, dtype)  # (C*KH*KW, N*H_out*W_out)
    w2 = w.reshape(F, -1).astype(dtype, copy=False)  # (F, C*KH*KW)
    prod = (w2 @ cols).reshape(F, N, *out_hw)  # (F, N, H_out, W_out)
    out = np.empty((N, F, *out_hw), dtype=dtype)
    # add the bias while transposing to (N, F, H_out, W_out): one pass
    np.add(prod.transpose(1, 0, 2, 3), b.astype(dtype, copy=False)[:, None, None], out=out)
    return out, (x.shape, w.shape, w2, cols, geometry)


def conv_backward(dout, cache):
    """Gradients of :func:`conv_forward`: two matrix products and col2im.

    Parameters
    ----------
    dout : ndarray, shape (N, F, H_out, W_out)
        Cast to the forward pass's dtype (float32 stays float32).
    cache : from :func:`conv_forward`

    Returns
    -------
    dx : ndarray, shape (N, C, H, W)
    dw : ndarray, shape (F, C, KH, KW)
    db : ndarray, shape (F,)
    """
    x_shape, w_shape, w2, cols, geometry = cache
    N, F, Ho, Wo = dout.shape
    dout_t = np.empty((F, N, Ho, Wo), dtype=cols.dtype)
    dout_t[...] = dout.transpose(1, 0, 2, 3)
    dout_t = dout_t.reshape(F, N * Ho * Wo)  # (F, N*Ho*Wo)
    db = dout_t.sum(axis=1)
    dw = (dout_t @ cols.T).reshape(w_shape)  # (F, C*KH*KW) -> (F, C, KH, KW)
    # dcols = w2.T @ dout_t, (C*KH*KW, N*Ho*Wo), a block of samples at a time: the block
    # is still in cache for col2im, and no second array the size of ``cols`` is allocated
    dx = np.empty(x_shape, dtype=cols.dtype)
    P = Ho * Wo
    step = max(1, _DCOLS_BLOCK_BYTES // (cols.shape[0] * P * cols.itemsize))
    for n0 in range(0, N, step):
        n1 = min(N, n0 + step)
        _col2im(w2.T @ dout_t[:, n0 * P:n1 * P], dx[n0:n1], *geometry)
    return dx, dw, db


# ------------------------------------------------------------------ pooling
