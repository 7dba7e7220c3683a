"""Pictures for :mod:`imgclass.filters`: a filter as a heatmap, blurred images, filter banks, a loss curve.

Every function returns a matplotlib figure; the caller saves it with
:func:`imgclass.fileio.save_figure`. matplotlib is imported only here.
"""

from __future__ import annotations

import math

import numpy as np

from imgclass.data.plots import _plt, to_display


def _image(ax, img: np.ndarray, title: str) -> None:
    """Show a uint8 (C, H, W) image without axes."""
    ax.imshow(to_display(img), cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.axis("off")


def filter_heatmap(ax, kernel: np.ndarray, title: str = "filter") -> None:
    """Draw a (K, K) filter as a heatmap; write each value in its cell when K <= 9."""
    k = kernel.shape[0]
    im = ax.imshow(kernel, cmap="viridis", interpolation="nearest")
    ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    if k <= 9:
        mid = (kernel.max() + kernel.min()) / 2
        for (i, j), v in np.ndenumerate(kernel):
            ax.text(j, i, f"{v:.3f}", ha="center", va="center", fontsize=max(5, 12 - k),
                    color="black" if v > mid else "white")
    ax.set_xticks(range(k), [str(d - k // 2) for d in range(k)], fontsize=7)
    ax.set_yticks(range(k), [str(d - k // 2) for d in range(k)], fontsize=7)
    ax.set_title(f"{title} ({k}x{k}, sum {kernel.sum():.3f})", fontsize=9)


def blur_figure(x: np.ndarray, y: np.ndarray, kernel: np.ndarray, title: str = ""):
    """Input | blurred | filter, side by side; ``x`` and ``y`` are uint8 (C, H, W)."""
    plt = _plt()
    h, w = x.shape[1:]
    img_w = 4.0 * min(2.5, max(0.4, w / h))
    fig, axes = plt.subplots(1, 3, figsize=(2 * img_w + 4.6, 4.6), width_ratios=(img_w, img_w, 4.0))
    _image(axes[0], x, f"input {w}x{h}")
    _image(axes[1], y, "blurred (engine conv)")
    filter_heatmap(axes[2], kernel, "Gaussian filter")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def blur_grid_figure(xs: np.ndarray, ys: np.ndarray, kernel: np.ndarray, title: str = ""):
    """Originals in the top row, blurred images below, the filter at the right; uint8 (n, C, H, W)."""
    plt = _plt()
    n = len(xs)
    fig = plt.figure(figsize=(1.3 * n + 4.0, 3.4))
    grid = fig.add_gridspec(2, n + 1, width_ratios=(*([1.0] * n), 2.6))
    for i in range(n):
        _image(fig.add_subplot(grid[0, i]), xs[i], "original" if i == 0 else "")
        _image(fig.add_subplot(grid[1, i]), ys[i], "blurred" if i == 0 else "")
    filter_heatmap(fig.add_subplot(grid[:, n]), kernel, "filter")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def filter_tiles(w: np.ndarray, cols: int = 5) -> np.ndarray:
    """A filter bank (F, C, KH, KW) as one RGB mosaic in [0, 1], each filter rescaled to its own range.

    3-channel filters are shown as colour; any other channel count as the
    channel mean in gray. Tiles are separated by a 1-pixel white line.
    """
    w = np.asarray(w, dtype=np.float64)
    f, c, kh, kw = w.shape
    tiles = w if c == 3 else np.repeat(w.mean(axis=1, keepdims=True), 3, axis=1)  # (F, 3, KH, KW)
    lo = tiles.min(axis=(1, 2, 3), keepdims=True)
    hi = tiles.max(axis=(1, 2, 3), keepdims=True)
    tiles = (tiles - lo) / np.maximum(hi - lo, 1e-12)
    cols = min(cols, f)
    rows = math.ceil(f / cols)
    mosaic = np.ones((rows * (kh + 1) - 1, cols * (kw + 1) - 1, 3))
    for i in range(f):
        r, q = divmod(i, cols)
        mosaic[r * (kh + 1):r * (kh + 1) + kh, q * (kw + 1):q * (kw + 1) + kw] = tiles[i].transpose(1, 2, 0)
    return mosaic


def filter_banks_figure(banks: list[tuple[str, np.ndarray]], title: str = ""):
    """One panel per ``(label, weights (F, C, KH, KW))`` showing the bank's filters as tiles."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(banks), figsize=(3.6 * len(banks), 3.6), squeeze=False)
    for ax, (label, w) in zip(axes[0], banks):
        ax.imshow(filter_tiles(w), interpolation="nearest")
        ax.set_title(label, fontsize=9)
        ax.axis("off")
    fig.suptitle(title or "filters, each rescaled to its own range", fontsize=10)
    fig.tight_layout()
    return fig


def loss_figure(history: np.ndarray, title: str = "loss"):
    """Loss against the step on a log scale."""
    plt = _plt()
    h = np.asarray(history, dtype=np.float64)
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.semilogy(np.arange(len(h)), np.maximum(h, np.finfo(np.float64).tiny), lw=1.4)
    ax.set_xlabel("step")
    ax.set_ylabel("mean squared error of the outputs")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="major", alpha=0.3)
    fig.tight_layout()
    return fig
