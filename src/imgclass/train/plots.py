"""Loss and accuracy curves of a run (matplotlib, PNG)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from imgclass.data.plots import _plt
from imgclass.fileio import save_figure
from imgclass.linear.plots import templates_figure


def save_curves(history: list[dict], path: str | Path, title: str = "") -> Path:
    """Two panels over epochs: training and validation loss; training and validation accuracy."""
    plt = _plt()
    epoch = np.array([r["epoch"] for r in history])
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key, label in ((ax_loss, "loss", "loss"), (ax_acc, "acc", "accuracy")):
        for part, style in (("train", "-o"), ("val", "-s")):
            values = np.array([r[f"{part}_{key}"] for r in history], dtype=float)
            if np.isfinite(values).any():
                ax.plot(epoch, values, style, markersize=3, label=f"{'training' if part == 'train' else 'validation'}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    ax_loss.set_title("loss")
    ax_acc.set_title("accuracy")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path)


def save_templates(model_state: dict, image_shape: tuple[int, int, int], classes: list[str], path: str | Path) -> Path:
    """A linear model's class weights shown as images (one template per class), from either engine's state."""
    d, k = int(np.prod(image_shape)), len(classes)
    weights = [np.asarray(v.numpy() if hasattr(v, "numpy") else v, dtype=np.float64) for v in model_state.values()]
    w = next(v for v in weights if v.ndim == 2 and v.shape in ((k, d), (d, k)))
    coef = w if w.shape == (k, d) else w.T  # (K, D): torch keeps (out, in), the NumPy engine (in, out)
    return save_figure(templates_figure(coef, tuple(image_shape), classes), path)
