"""Pictures of linear classifiers: the loss history and each class's weights as an image."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from imgclass.data.plots import _plt
from imgclass.errors import ImgclassError
from imgclass.fileio import save_figure


def loss_history_figure(history: np.ndarray, title: str = "training loss"):
    """Loss per SGD iteration, with a moving average over ~2% of the run."""
    plt = _plt()
    h = np.asarray(history, dtype=np.float64)
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(np.arange(1, len(h) + 1), h, lw=0.6, alpha=0.5, label="minibatch loss")
    k = max(1, len(h) // 50)
    if k > 1:
        smooth = np.convolve(h, np.ones(k) / k, mode="valid")
        ax.plot(np.arange(k, len(h) + 1), smooth, lw=1.8, label=f"moving average ({k} iterations)")
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    return fig


def templates(coef: np.ndarray, image_shape: tuple[int, int, int]) -> np.ndarray:
    """Class weight rows (C, C*H*W) -> displayable uint8 images (C, H, W[, 3]).

    Each template is rescaled on its own to 0..255, as in the course
    assignments, so that its pattern (not its scale) is visible.
    """
    c, h, w = image_shape
    if coef.shape[1] != c * h * w:
        raise ImgclassError(f"weights have {coef.shape[1]} features per class, images {image_shape} have {c * h * w}; "
                            "drop the bias column first")
    t = coef.reshape(len(coef), c, h, w).astype(np.float64)  # (K, C*H*W) -> (K, C, H, W)
    lo = t.min(axis=(1, 2, 3), keepdims=True)
    hi = t.max(axis=(1, 2, 3), keepdims=True)
    t = 255.0 * (t - lo) / np.maximum(hi - lo, 1e-12)
    t = np.rint(t).astype(np.uint8)
    return t[:, 0] if c == 1 else t.transpose(0, 2, 3, 1)  # gray (K, H, W) or RGB (K, H, W, 3)


def templates_figure(coef: np.ndarray, image_shape: tuple[int, int, int], classes: list[str], title: str = ""):
    """One panel per class showing its weights as an image."""
    plt = _plt()
    imgs = templates(coef, image_shape)
    k = len(imgs)
    cols = min(k, 10)
    rows = -(-k // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.3 * cols + 0.4, 1.5 * rows + 0.5), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, (ax, img) in enumerate(zip(axes.flat, imgs)):
        ax.imshow(img, cmap="gray" if img.ndim == 2 else None, interpolation="nearest")
        ax.set_title(classes[i], fontsize=8)
    fig.suptitle(title or "learned weights per class (each rescaled to its own range)", fontsize=10)
    fig.tight_layout()
    return fig


def save_linear_plots(estimator, image_shape, classes, out_dir: str | os.PathLike, name: str = "") -> dict[str, Path]:
    """Write ``loss.png`` and ``templates.png`` for a fitted estimator into ``out_dir``."""
    out = Path(out_dir)
    label = f"{name}: " if name else ""
    return {
        "loss_plot": save_figure(loss_history_figure(estimator.loss_history_, f"{label}training loss"),
                                 out / "loss.png", dpi=100),
        "templates_plot": save_figure(templates_figure(estimator.coef_, image_shape, list(classes),
                                                       f"{label}learned class templates"),
                                      out / "templates.png", dpi=100),
    }


def plot_sweep(result, out_dir: str | os.PathLike) -> dict[str, Path]:
    """Two scatter plots of the sweep, log10(lr) by log10(reg), coloured by train and by validation accuracy.

    The best config is ringed; diverged configs are grey crosses. A
    regularization strength of 0 is drawn one decade below the smallest
    positive one.

    Returns
    -------
    dict
        ``{"train": path, "val": path}`` of ``sweep_train_acc.png`` and ``sweep_val_acc.png`` in ``out_dir``.
    """
    plt = _plt()
    out_dir = Path(out_dir)
    lr = np.array([r["lr"] for r in result.records], np.float64)
    reg = np.array([r["reg"] for r in result.records], np.float64)
    pos = reg[reg > 0]
    zero_at = math.log10(pos.min()) - 1 if pos.size else 0.0
    x = np.log10(lr)
    y = np.where(reg > 0, np.log10(np.where(reg > 0, reg, 1.0)), zero_at)
    best = result.best_index
    paths = {}
    for key, label in (("train", "training accuracy"), ("val", "validation accuracy")):
        acc = np.array([r[f"{key}_acc"] for r in result.records], np.float64)
        ok = np.isfinite(acc)
        fig, ax = plt.subplots(figsize=(7.0, 5.2))
        sc = ax.scatter(x[ok], y[ok], c=acc[ok], cmap="viridis", s=90, marker="s", edgecolors="none")
        fig.colorbar(sc, ax=ax, label=label)
        if (~ok).any():
            ax.scatter(x[~ok], y[~ok], marker="x", color="0.6", s=40, label="diverged")
        ax.scatter([x[best]], [y[best]], s=260, facecolors="none", edgecolors="red", linewidths=2,
                   label=f"best val: lr={lr[best]:.3g}, reg={reg[best]:.3g}")
        ax.set_xlabel("log10 learning rate")
        ax.set_ylabel("log10 regularization strength" + (f" (0 drawn at {zero_at:g})" if (reg == 0).any() else ""))
        ax.set_title(f"{result.loss} sweep, {len(acc)} configs: {label} "
                     f"(best {acc[best]:.3f})")
        ax.legend(loc="best", fontsize=8)
        fig.tight_layout()
        paths[key] = save_figure(fig, out_dir / f"sweep_{key}_acc.png", dpi=110)
    return paths
