"""2-D max and average pooling, written by hand in NumPy.

No autograd, no torch: cs231n-style pairs ``op_forward(x, ...) -> (out, cache)``
and ``op_backward(dout, cache) -> dx`` on ``(N, C, H, W)`` arrays; ``kernel`` and
``stride`` are an int or an ``(h, w)`` pair, ``stride`` defaults to ``kernel``,
no padding.

Max pooling is a running maximum over the ``KH*KW`` window offsets, each one
strided view of the input (``x.reshape(N, C, H/kh, kh, W/kw, kw).max((3, 5))``
is simpler but ~10x slower: NumPy reduces short axes slowly), a block of
samples at a time so that the scratch arrays stay in cache. The index of the
first offset holding the maximum (row-major order) is kept: the one element per
window PyTorch routes the gradient to. Outputs and gradients keep the input's
memory layout, so channels-last activations (see :mod:`imgclass.nn.conv`) are
read along their contiguous channel axis. Average pooling is separable: a
window's sum is the sum over its rows of the sum over its columns.

``max_pool_forward_naive`` / ``max_pool_backward_naive`` loop over every window:
the readable reference and the test oracle.
"""

from __future__ import annotations

import numpy as np

from imgclass.errors import ImgclassError
from imgclass.nn.geometry import Pair, _check_4d, _pair, _span


def _pool_geometry(x, kernel, stride) -> tuple[Pair, Pair, Pair]:
    """Validate a pooling's arguments; return ``kernel, stride, (H_out, W_out)`` (no padding)."""
    _check_4d(x, "x")
    kernel = _pair(kernel, "kernel", 1)
    stride = kernel if stride is None else _pair(stride, "stride", 1)
    if kernel[0] > x.shape[2] or kernel[1] > x.shape[3]:
        raise ImgclassError(f"pooling kernel {kernel} is larger than the {x.shape[2]}x{x.shape[3]} input; "
                            f"use a smaller kernel")
    out = tuple((size - k) // s + 1 for size, k, s in zip(x.shape[2:], kernel, stride))
    return kernel, stride, out


_BLOCK_BYTES = 2 ** 18  # pooling goes a block of samples of about this many input bytes at a time


def _channels_last(x: np.ndarray) -> bool:
    return not x.flags.c_contiguous and x.transpose(0, 2, 3, 1).flags.c_contiguous


def _empty(shape: tuple, dtype, channels_last: bool) -> np.ndarray:
    """An uninitialized (N, C, H, W) array, channels-last in memory if asked."""
    if channels_last:
        n, c, h, w = shape
        return np.empty((n, h, w, c), dtype=dtype).transpose(0, 3, 1, 2)
    return np.empty(shape, dtype=dtype)


def _sample_blocks(n: int, sample_bytes: int) -> list[slice]:
    step = max(1, _BLOCK_BYTES // max(1, sample_bytes))
    return [slice(i, i + step) for i in range(0, n, step)]


def _taps(x: np.ndarray, kernel: Pair, stride: Pair, out_hw: Pair) -> list[np.ndarray]:
    """The window's ``KH*KW`` offsets ``(a, b)`` in row-major order, each a strided (N, C, H_out, W_out) view."""
    return [x[:, :, _span(a, out_hw[0], stride[0]), _span(b, out_hw[1], stride[1])]
            for a in range(kernel[0]) for b in range(kernel[1])]


def _unpool(grad: np.ndarray, axis: int, size: int, kernel: int, step: int) -> np.ndarray:
    """Adjoint of one average-pooling stage along ``axis``: every window offset gets all of ``grad``.

    The result has length ``size`` along ``axis``; disjoint windows are assigned,
    overlapping ones (``step < kernel``) accumulated.
    """
    count = grad.shape[axis]
    shape = grad.shape[:axis] + (size,) + grad.shape[axis + 1:]
    covered = step == kernel and size == count * step
    dst = np.empty(shape, dtype=grad.dtype) if covered else np.zeros(shape, dtype=grad.dtype)
    index = [slice(None)] * grad.ndim
    for k in range(kernel):
        index[axis] = _span(k, count, step)
        view = dst[tuple(index)]
        if step >= kernel:
            view[...] = grad
        else:
            view += grad
    return dst


def max_pool_forward(x, kernel=2, stride=None):
    """Max pooling without padding: a running maximum over the window's offsets.

    Each offset ``(a, b)`` of the window is one strided view of ``x``; the maximum and the
    index of the first offset holding it (row-major order, as PyTorch: a tie keeps the
    earlier offset) are built a block of samples at a time, in cache. The output keeps
    ``x``'s memory layout (channels-last stays channels-last).

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
    kernel : int or (h, w) pair
    stride : int or (h, w) pair, default ``kernel``

    Returns
    -------
    out : ndarray, shape (N, C, H_out, W_out), ``H_out = (H - KH) // stride_h + 1``
    cache : tuple for :func:`max_pool_backward`
    """
    kernel, stride, (Ho, Wo) = _pool_geometry(x, kernel, stride)
    N, C, H, W = x.shape
    last = _channels_last(x)
    n_taps = kernel[0] * kernel[1]
    out = _empty((N, C, Ho, Wo), x.dtype, last)
    arg = _empty((N, C, Ho, Wo), np.uint8 if n_taps < 256 else np.intp, last)
    for block in _sample_blocks(N, C * H * W * x.itemsize):
        best, index = out[block], arg[block]
        taps = _taps(x[block], kernel, stride, (Ho, Wo))
        best[...] = taps[0]
        index[...] = 0
        better = np.empty_like(best, dtype=bool)  # same memory layout as best: ufuncs then run along it
        for k, tap in enumerate(taps[1:], start=1):
            np.greater(tap, best, out=better)  # strictly greater: a tie keeps the earlier offset
            np.maximum(best, tap, out=best)
            # the first maximum is the last strict improvement, i.e. the largest k that improved
            np.maximum(index, better.view(np.uint8) * index.dtype.type(k), out=index)
    return out, (x.shape, kernel, stride, arg, last)


def max_pool_backward(dout, cache):
    """Gradient of :func:`max_pool_forward`: each window's ``dout`` goes to its first maximum only.

    Parameters
    ----------
    dout : ndarray, shape (N, C, H_out, W_out)
    cache : from :func:`max_pool_forward`

    Returns
    -------
    dx : ndarray, shape (N, C, H, W), in the memory layout of the forward pass's input
    """
    (N, C, H, W), kernel, stride, arg, last = cache
    Ho, Wo = arg.shape[2:]
    disjoint = stride[0] >= kernel[0] and stride[1] >= kernel[1]
    covered = stride == kernel and H == Ho * kernel[0] and W == Wo * kernel[1]  # every input in one window
    if last and not _channels_last(dout):  # e.g. from a flatten: one small copy, then every pass runs along C
        dout = np.ascontiguousarray(dout.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    dx = _empty((N, C, H, W), dout.dtype, last)
    if not covered:
        dx[...] = 0
    for block in _sample_blocks(N, C * H * W * dout.itemsize):
        d, index = dout[block], arg[block]
        hit = np.empty_like(index, dtype=bool)
        for k, tap in enumerate(_taps(dx[block], kernel, stride, (Ho, Wo))):
            np.equal(index, k, out=hit)
            if disjoint:
                np.multiply(d, hit, out=tap)
            else:
                tap += d * hit
    return dx


def avg_pool_forward(x, kernel=2, stride=None):
    """Average pooling without padding (every window divides by ``KH*KW``), separably.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
    kernel : int or (h, w) pair
    stride : int or (h, w) pair, default ``kernel``

    Returns
    -------
    out : ndarray, shape (N, C, H_out, W_out)
    cache : tuple for :func:`avg_pool_backward`
    """
    (kh, kw), (sh, sw), (Ho, Wo) = _pool_geometry(x, kernel, stride)
    rows = np.array(x[..., _span(0, Wo, sw)], dtype=np.result_type(x, np.float32))  # (N, C, H, W_out)
    for b in range(1, kw):
        rows += x[..., _span(b, Wo, sw)]
    out = rows[:, :, _span(0, Ho, sh)].copy()  # (N, C, H_out, W_out)
    for a in range(1, kh):
        out += rows[:, :, _span(a, Ho, sh)]
    out /= kh * kw
    return out, (x.shape, (kh, kw), (sh, sw))


def avg_pool_backward(dout, cache):
    """Gradient of :func:`avg_pool_forward`: ``dout / (KH*KW)`` spread over each window.

    Parameters
    ----------
    dout : ndarray, shape (N, C, H_out, W_out)
    cache : from :func:`avg_pool_forward`

    Returns
    -------
    dx : ndarray, shape (N, C, H, W)
    """
    (N, C, H, W), (kh, kw), (sh, sw) = cache
    share = dout / np.asarray(kh * kw, dtype=dout.dtype)  # (N, C, H_out, W_out)
    return _unpool(_unpool(share, 2, H, kh, sh), 3, W, kw, sw)


def max_pool_forward_naive(x, kernel=2, stride=None):
    """Max pooling by explicit loops over every window: the reference for :func:`max_pool_forward`.

    Same arguments and output as :func:`max_pool_forward`.
    """
    (kh, kw), (sh, sw), (Ho, Wo) = _pool_geometry(x, kernel, stride)
    N, C = x.shape[:2]
    out = np.zeros((N, C, Ho, Wo), dtype=x.dtype)
    for n in range(N):
        for c in range(C):
            for i in range(Ho):
                for j in range(Wo):
                    out[n, c, i, j] = x[n, c, i * sh:i * sh + kh, j * sw:j * sw + kw].max()
    return out, (x, (kh, kw), (sh, sw))


def max_pool_backward_naive(dout, cache):
    """Gradient of :func:`max_pool_forward_naive`: ``dout`` goes to each window's first argmax.

    Returns
    -------
    dx : ndarray, shape (N, C, H, W)
    """
    x, (kh, kw), (sh, sw) = cache
    N, C, Ho, Wo = dout.shape
    dx = np.zeros(x.shape, dtype=np.result_type(x, dout))
    for n in range(N):
        for c in range(C):
            for i in range(Ho):
                for j in range(Wo):
                    a, b = divmod(int(np.argmax(x[n, c, i * sh:i * sh + kh, j * sw:j * sw + kw])), kw)
                    dx[n, c, i * sh + a, j * sw + b] += dout[n, c, i, j]
    return dx
