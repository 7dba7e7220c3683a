"""Gaussian blur through the NumPy engine's convolution layer (weights set by hand, never trained).

The filter is applied **depthwise by folding the channels into the batch**:
``(N, C, H, W)`` becomes ``(N*C, 1, H, W)`` and goes through one
:class:`imgclass.nn.layers.Conv2d` with a single ``1 -> 1`` filter, the
``K x K`` Gaussian. This is the same arithmetic as a ``C -> C`` conv whose
weight tensor is diagonal (``w[c, c] = kernel``, zero elsewhere), at ``1/C``
of its cost.

'Same' output size: the input is padded by ``K // 2`` on every side and the
layer runs with ``padding=0``. ``border="constant"`` pads with zeros, which
is exactly what the layer's own ``padding=K//2`` does; ``border="reflect"``
repeats the edge pixels (``d c b a | a b c d | d c b a``, scipy's
``mode="reflect"``), which avoids the dark rim zero padding gives a photo.
Padding before the layer also lets a large image go through in row strips
(each with a ``K // 2`` halo), so im2col's ``K*K``-times-the-image columns
stay within a fixed memory budget.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

import numpy as np

from imgclass.data import load
from imgclass.data.images import GRAY_MODES, open_image, to_array
from imgclass.errors import ImgclassError
from imgclass.fileio import save_figure
from imgclass.filters.plots import blur_figure, blur_grid_figure
from imgclass.nn.layers import Conv2d

BORDERS = ("constant", "reflect")
_NUMPY_PAD_MODE = {"constant": "constant", "reflect": "symmetric"}  # scipy's names -> np.pad's
#: im2col's columns for one strip of rows stay under about this many bytes
_COLUMN_BUDGET_BYTES = 2 ** 26


def check_kernel_args(size, sigma) -> tuple[int, float]:
    """Validate a Gaussian kernel's size (odd, positive int) and sigma (finite, > 0); return them."""
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)):
        raise ImgclassError(f"kernel size must be an odd positive integer, got {size!r}; use e.g. --size 5")
    if size < 1 or size % 2 == 0:
        raise ImgclassError(f"kernel size must be odd and positive (1, 3, 5, ...) so the filter has a centre pixel, "
                            f"got {size}; use e.g. --size {max(1, size + 1) if size % 2 == 0 else 5}")
    try:
        sigma = float(sigma)
    except (TypeError, ValueError):
        raise ImgclassError(f"sigma must be a number > 0, got {sigma!r}; use e.g. --sigma 1.0") from None
    if not (sigma > 0 and math.isfinite(sigma)):
        raise ImgclassError(f"sigma must be a finite number > 0, got {sigma}; use e.g. --sigma 1.0")
    return int(size), sigma


def gaussian_kernel(size: int, sigma: float) -> np.ndarray:
    """The ``size x size`` Gaussian ``exp(-(i^2 + j^2) / (2 sigma^2))`` for offsets ``-K//2 .. K//2``, summing to 1.

    Returns
    -------
    ndarray of float64, shape (K, K)
        Equal to the outer product of scipy's 1-D Gaussian of radius ``K // 2``
        with itself (``gaussian_filter(..., truncate=(K // 2) / sigma)``).
    """
    size, sigma = check_kernel_args(size, sigma)
    r = np.arange(size, dtype=np.float64) - size // 2  # (K,) offsets from the centre
    g = np.exp(-0.5 * (r / sigma) ** 2)
    g /= g.sum()
    return np.outer(g, g)  # (K, K); sums to 1 because each factor does


def gaussian_layer(size: int, sigma: float) -> Conv2d:
    """A ``Conv2d(1, 1, K, padding=0, bias=False)`` in eval mode whose weight is :func:`gaussian_kernel`."""
    kernel = gaussian_kernel(size, sigma)
    # init=0.0 draws zeros from the (otherwise unused) rng; the weight is then set, not learned
    layer = Conv2d(1, 1, size, padding=0, bias=False, rng=np.random.default_rng(0), init=0.0)
    layer.params["w"][...] = kernel  # (1, 1, K, K)
    return layer.eval()


def gaussian_blur(images: np.ndarray, size: int, sigma: float, border: str = "constant") -> np.ndarray:
    """Blur every channel of every image with a ``size x size`` Gaussian through the engine's conv layer.

    Parameters
    ----------
    images : ndarray, shape (N, C, H, W) or (C, H, W)
        Any real dtype (uint8 images keep their 0..255 scale).
    size : int
        Kernel size K, odd and positive.
    sigma : float
        Standard deviation of the Gaussian in pixels, > 0.
    border : {"constant", "reflect"}
        How the ``K // 2`` pixels beyond each edge are filled: zeros, or the
        edge pixels mirrored (scipy's names for the two modes).

    Returns
    -------
    ndarray of float64, same shape as ``images``
    """
    x = np.asarray(images)
    if x.ndim not in (3, 4) or x.dtype.kind not in "uif" or min(x.shape, default=0) < 1:
        raise ImgclassError(f"images must be a non-empty real array (N, C, H, W) or (C, H, W), "
                            f"got shape {x.shape} and dtype {x.dtype}")
    if border not in BORDERS:
        raise ImgclassError(f"unknown border {border!r}; choose one of {', '.join(BORDERS)}")
    layer = gaussian_layer(size, sigma)
    p = size // 2
    batch = x.reshape(-1, 1, *x.shape[-2:]).astype(np.float64)  # (N*C, 1, H, W): channels folded into the batch
    padded = np.pad(batch, ((0, 0), (0, 0), (p, p), (p, p)), mode=_NUMPY_PAD_MODE[border])  # (N*C, 1, H+2p, W+2p)
    return _valid_conv_in_strips(layer, padded, batch.shape[-2:]).reshape(x.shape)


def _valid_conv_in_strips(layer: Conv2d, padded: np.ndarray, out_hw: tuple[int, int]) -> np.ndarray:
    """``layer(padded)`` for a ``padding=0`` layer, a block of samples or a strip of rows at a time.

    ``padded`` is (M, 1, H + K - 1, W + K - 1); the result is (M, 1, H, W).
    Output rows ``r0:r1`` need input rows ``r0 : r1 + K - 1``.
    """
    (H, W), k = out_hw, layer.kernel[0]
    bytes_per_row = k * k * W * 8  # im2col columns of one output row of one sample
    rows = int(min(H, max(1, _COLUMN_BUDGET_BYTES // bytes_per_row)))
    per_block = max(1, _COLUMN_BUDGET_BYTES // (bytes_per_row * H)) if rows == H else 1
    out = np.empty((len(padded), 1, H, W))
    for m0 in range(0, len(padded), per_block):
        for r0 in range(0, H, rows):
            r1 = min(H, r0 + rows)
            out[m0:m0 + per_block, :, r0:r1] = layer(padded[m0:m0 + per_block, :, r0:r1 + k - 1])
    return out


def to_uint8(x: np.ndarray) -> np.ndarray:
    """Round and clip to 0..255 as uint8 (for pictures)."""
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def _read_keep_gray(path: str | os.PathLike) -> np.ndarray:
    """One image file as uint8 (C, H, W): C = 1 for grayscale files, else 3 (RGB)."""

    with open_image(path) as img:
        return to_array(img, None, 1 if img.mode in GRAY_MODES else 3, str(path))


def blur_image(path: str | os.PathLike, size: int, sigma: float, out: str | os.PathLike = "blur.png",
               border: str = "constant") -> dict:
    """Blur one image file; write ``out`` (PNG): input | blurred | the filter as a heatmap.

    Returns
    -------
    dict
        JSON-ready summary: input, shape (C, H, W), size, sigma, border,
        kernel_sum, out, seconds.
    """

    size, sigma = check_kernel_args(size, sigma)
    x = _read_keep_gray(path)  # (C, H, W) uint8
    t0 = time.perf_counter()
    y = gaussian_blur(x, size, sigma, border)
    seconds = time.perf_counter() - t0
    kernel = gaussian_kernel(size, sigma)
    written = save_figure(blur_figure(x, to_uint8(y), kernel, title=f"{Path(path).name}: Gaussian blur "
                                      f"K={size}, sigma={sigma:g}, border={border}"), out, dpi=100)
    return {"mode": "image", "input": str(path), "shape": list(x.shape), "size": size, "sigma": sigma,
            "border": border, "kernel_sum": float(kernel.sum()), "out": str(written), "seconds": seconds}


def blur_dataset(name: str, count: int, size: int, sigma: float, out: str | os.PathLike = "blur.png",
                 border: str = "constant", data_options: dict | None = None) -> dict:
    """Blur the first ``count`` training images of a dataset; write a grid (originals row, blurred row, filter).

    ``data_options`` go to :func:`imgclass.data.load` (e.g. ``data_dir``, ``download``).
    """

    size, sigma = check_kernel_args(size, sigma)
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or not 1 <= count <= 64:
        raise ImgclassError(f"count must be an integer from 1 to 64 (images in the grid), got {count!r}")
    ds = load(name, **(data_options or {}))
    x = ds.x_train[:count]  # (n, C, H, W) uint8
    t0 = time.perf_counter()
    y = gaussian_blur(x, size, sigma, border)
    seconds = time.perf_counter() - t0
    kernel = gaussian_kernel(size, sigma)
    title = f"{ds.name}: first {len(x)} training images, Gaussian blur K={size}, sigma={sigma:g}, border={border}"
    written = save_figure(blur_grid_figure(x, to_uint8(y), kernel, title=title), out, dpi=100)
    return {"mode": "dataset", "input": ds.name, "count": len(x), "shape": list(x.shape[1:]), "size": size,
            "sigma": sigma, "border": border, "kernel_sum": float(kernel.sum()), "out": str(written),
            "seconds": seconds}
