"""Evaluation plots (matplotlib, PNG): confusion matrices, per-class accuracy, confident mistakes."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from imgclass.data.plots import _plt, to_display
from imgclass.fileio import save_figure


def confusion_figure(cm: np.ndarray, classes: list[str]):
    """Counts (left) and row-normalized rates (right); rows are true classes."""
    plt = _plt()
    cm = np.asarray(cm)
    rates = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    k = len(classes)
    size = max(5.0, 0.45 * k + 2)
    fig, axes = plt.subplots(1, 2, figsize=(2 * size + 1, size))
    for ax, m, title, fmt in ((axes[0], cm, "confusion matrix (counts)", "d"),
                              (axes[1], rates, "row-normalized (per true class)", ".2f")):
        im = ax.imshow(m, cmap="Blues")
        ax.set_title(title)
        ax.set_xticks(range(k), classes, rotation=60, ha="right", fontsize=8)
        ax.set_yticks(range(k), classes, fontsize=8)
        ax.set_xlabel("predicted class")
        ax.set_ylabel("true class")
        if k <= 20:
            hi = m.max() if m.size else 0
            for i in range(k):
                for j in range(k):
                    ax.text(j, i, format(m[i, j], fmt), ha="center", va="center", fontsize=6 if k > 10 else 8,
                            color="white" if m[i, j] > hi / 2 else "black")
        fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    return fig


def per_class_figure(per_class: list[dict], overall: float):
    plt = _plt()
    names = [r["class"] for r in per_class]
    acc = [r["accuracy"] for r in per_class]
    fig, ax = plt.subplots(figsize=(max(6, 0.5 * len(names) + 2), 4))
    colors = ["tab:red" if a == min(acc) else "tab:green" if a == max(acc) else "tab:blue" for a in acc]
    ax.bar(range(len(names)), acc, color=colors)
    ax.axhline(overall, color="black", linestyle="--", linewidth=1, label=f"overall {overall:.4f}")
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_ylabel("test accuracy")
    ax.set_ylim(max(0.0, min(acc) - 0.1), 1.0)
    ax.set_title("per-class test accuracy (red: worst, green: best)")
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def mistakes_figure(images: np.ndarray, mistakes: list[dict], classes: list[str], cols: int = 8):
    """The most confidently wrong test images, each titled 'true -> predicted (p)'."""
    plt = _plt()
    n = max(1, len(mistakes))
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 2.2 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, m in zip(axes.flat, mistakes):
        img = to_display(images[m["index"]])
        ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=255)
        ax.set_title(f"{classes[m['true']][:10]}\n→ {classes[m['pred']][:10]} ({m['prob']:.2f})", fontsize=7)
    fig.suptitle("most confident mistakes: true → predicted (probability)")
    fig.tight_layout()
    return fig


def save_evaluation_plots(metrics: dict, mistakes: list[dict], images: np.ndarray, classes: list[str],
                          out_dir: str | os.PathLike) -> dict[str, Path]:
    out = Path(out_dir)
    return {
        "confusion": save_figure(confusion_figure(np.array(metrics["confusion_matrix"]), classes), out / "confusion.png"),
        "per_class": save_figure(per_class_figure(metrics["per_class"], metrics["accuracy"]), out / "per_class.png"),
        "mistakes": save_figure(mistakes_figure(images, mistakes, classes), out / "mistakes.png"),
    }
