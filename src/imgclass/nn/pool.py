"""2-D max and average pooling, written by hand in NumPy.

No autograd, no torch: cs231n-style pairs ``op_forward(x, ...) -> (out, cache)``
and ``op_backward(dout, cache) -> dx`` on ``(N, C, H, W)`` arrays; ``kernel`` and
``stride`` are an int or an ``(h, w)`` pair, ``stride`` defaults to ``kernel``,
no padding.

Pooling is separable: a window's maximum (or sum) is the maximum over its
rows of the maximum over its columns, so both directions are a loop over
``KH + KW`` strided slices (``x.reshape(N, C, H/kh, kh, W/kw, kw).max((3, 5))``
is simpler but ~10x slower: NumPy reduces short axes slowly). Taking the
first maximum in each stage gives the first maximum in row-major order,
the one element per window PyTorch routes the gradient to.

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


def _running_max(views: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Elementwise maximum of same-shape ``views`` and the index of the first view holding it.

    Each strided view is first copied into one contiguous scratch array:
    copy + contiguous ``>``/``maximum`` is ~2x faster than ufuncs on strided views.
    """
    best = np.array(views[0], order="C")  # a contiguous copy
    arg = np.zeros(best.shape, dtype=np.uint8 if len(views) < 256 else np.intp)
    view_c, better = np.empty_like(best), np.empty(best.shape, dtype=bool)
    for k, view in enumerate(views[1:], start=1):
        np.copyto(view_c, view)
        np.greater(view_c, best, out=better)  # strictly greater: a tie keeps the earlier index
        np.maximum(best, view_c, out=best)
        # the first maximum is the last strict improvement, i.e. the largest k that improved
        np.maximum(arg, better.view(np.uint8) * arg.dtype.type(k), out=arg)
    return best, arg


def _unpool(grad: np.ndarray, arg: np.ndarray | None, axis: int, size: int, kernel: int, step: int) -> np.ndarray:
    """Adjoint of one pooling stage along ``axis``: window offset ``k`` gets ``grad * (arg == k)``.

    ``arg`` None sends all of ``grad`` to every offset (average pooling). The
    result has length ``size`` along ``axis``; disjoint windows are assigned,
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
        if step >= kernel and arg is not None:
            np.multiply(grad, arg == k, out=view)
        elif step >= kernel:
            view[...] = grad
        else:
            view += grad if arg is None else grad * (arg == k)
    return dst


def max_pool_forward(x, kernel=2, stride=None):
    """Max pooling without padding, separably: maximum over columns, then over rows.

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
    (kh, kw), (sh, sw), (Ho, Wo) = _pool_geometry(x, kernel, stride)
    rows, col_arg = _running_max([x[..., _span(b, Wo, sw)] for b in range(kw)])  # (N, C, H, Wo)
    out, row_arg = _running_max([rows[:, :, _span(a, Ho, sh)] for a in range(kh)])  # (N, C, Ho, Wo)
    return out, (x.shape, (kh, kw), (sh, sw), row_arg, col_arg)


def max_pool_backward(dout, cache):
    """Gradient of :func:`max_pool_forward`: each window's ``dout`` goes to its first maximum only.

    Parameters
    ----------
    dout : ndarray, shape (N, C, H_out, W_out)
    cache : from :func:`max_pool_forward`

    Returns
    -------
    dx : ndarray, shape (N, C, H, W)
    """
    (N, C, H, W), (kh, kw), (sh, sw), row_arg, col_arg = cache
    drows = _unpool(dout, row_arg, 2, H, kh, sh)  # (N, C, H, W_out): undo the row stage
    return _unpool(drows, col_arg, 3, W, kw, sw)  # (N, C, H, W): undo the column stage


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
    return _unpool(_unpool(share, None, 2, H, kh, sh), None, 3, W, kw, sw)


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
