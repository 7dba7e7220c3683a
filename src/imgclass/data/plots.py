"""Pictures of a dataset: a sample grid per class and a class histogram."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from imgclass.data.dataset import Dataset
from imgclass.fileio import save_figure


def _plt():
    import os
    import sys

    import matplotlib

    if "ipykernel" not in sys.modules and not os.environ.get("MPLBACKEND"):
        matplotlib.use("Agg")  # files only; never needs a display (a notebook keeps its inline backend)
    # Text is drawn as given: class names and run names come from users' folders, and two '$' in one
    # (``cost $x^$ usd``) would otherwise go to the math parser and fail, or draw something else.
    matplotlib.rcParams["text.parse_math"] = False
    import matplotlib.pyplot as plt

    return plt


def to_display(img: np.ndarray) -> np.ndarray:
    """(C, H, W) uint8 -> (H, W) for gray or (H, W, 3) for RGB."""
    return img[0] if img.shape[0] == 1 else img.transpose(1, 2, 0)


def sample_grid(ds: Dataset, per_class: int = 8, seed: int = 0, max_classes: int = 20):
    """A figure with one row per class and ``per_class`` random training images in it."""
    plt = _plt()
    rng = np.random.default_rng(seed)
    classes = list(range(min(ds.num_classes, max_classes)))
    fig, axes = plt.subplots(len(classes), per_class, figsize=(per_class * 1.0 + 1.6, len(classes) * 1.0 + 0.4),
                             squeeze=False)
    for row, k in enumerate(classes):
        idx = np.flatnonzero(ds.y_train == k)
        pick = rng.choice(idx, size=min(per_class, len(idx)), replace=False) if len(idx) else []
        for col in range(per_class):
            ax = axes[row, col]
            ax.set_xticks([])
            ax.set_yticks([])
            for s in ax.spines.values():
                s.set_visible(False)
            if col < len(pick):
                ax.imshow(to_display(ds.x_train[pick[col]]), cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        axes[row, 0].set_ylabel(ds.classes[k], rotation=0, ha="right", va="center", fontsize=9)
    title = f"{ds.name}: {per_class} training samples per class"
    if ds.num_classes > max_classes:
        title += f" (first {max_classes} of {ds.num_classes} classes)"
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def class_histogram(ds: Dataset):
    """A bar chart of the number of images per class in train and test."""
    plt = _plt()
    k = np.arange(ds.num_classes)
    train = np.bincount(ds.y_train, minlength=ds.num_classes)
    test = np.bincount(ds.y_test, minlength=ds.num_classes)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.55 * ds.num_classes + 2), 4))
    ax.bar(k - 0.2, train, width=0.4, label=f"train ({train.sum()})")
    ax.bar(k + 0.2, test, width=0.4, label=f"test ({test.sum()})")
    ax.set_xticks(k, ds.classes, rotation=45 if ds.num_classes > 5 else 0, ha="right" if ds.num_classes > 5 else "center")
    ax.set_ylabel("images")
    ax.set_ylim(0, max(1, train.max(), test.max()) * 1.25)  # headroom for the legend
    ax.set_title(f"{ds.name}: images per class")
    ax.legend(loc="upper right", ncol=2)
    fig.tight_layout()
    return fig


def save_dataset_plots(ds: Dataset, out_dir: str | os.PathLike, per_class: int = 8, seed: int = 0) -> dict[str, Path]:
    """Write ``<name>_samples.png`` and ``<name>_classes.png`` into ``out_dir``."""
    out_dir = Path(out_dir)
    stem = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in ds.name).strip("_")[:60]
    return {
        "samples": save_figure(sample_grid(ds, per_class, seed), out_dir / f"{stem}_samples.png", dpi=100),
        "classes": save_figure(class_histogram(ds), out_dir / f"{stem}_classes.png", dpi=100),
    }
