"""``imgclass study baselines``: scikit-learn's linear classifiers next to imgclass's, on the same features.

:func:`baselines_study` fits scikit-learn's ``LogisticRegression`` (lbfgs) and ``LinearSVC``
next to imgclass's ``SoftmaxClassifier`` and ``LinearSVM`` on the split and features
``imgclass linear`` uses, and times each fit. The study directory (kind ``study``) holds
``config.json``, ``results.json`` (one row per model) and the plot.
"""

from __future__ import annotations

import math
import os
import platform
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC

from imgclass.data.plots import _plt
from imgclass.errors import ImgclassError
from imgclass.fileio import save_figure
from imgclass.linear.config import LinearConfig
from imgclass.linear.estimators import LinearSVM, SoftmaxClassifier
from imgclass.linear.run import prepare
from imgclass.runs import Run, results
from imgclass.runs.files import RESULTS


def _baseline_models(*, C: float, max_iter: int, lr: float, reg: float, iters: int, seed: int) -> list[tuple]:
    """(name, library, estimator) for the four linear classifiers, fitted on the same features."""
    sgd = dict(learning_rate=lr, reg=reg, num_iters=iters, batch_size=200, random_state=seed)
    return [("LogisticRegression (lbfgs)", "scikit-learn", LogisticRegression(C=C, solver="lbfgs", max_iter=max_iter)),
            ("LinearSVC (one-vs-rest)", "scikit-learn", LinearSVC(C=C, max_iter=max_iter, random_state=seed)),
            ("SoftmaxClassifier (SGD)", "imgclass", SoftmaxClassifier(**sgd)),
            ("LinearSVM (SGD)", "imgclass", LinearSVM(**sgd))]


def baselines_figure(rows: list[dict], title: str):
    """Validation and test accuracy per model (left) and fit time (right)."""
    plt = _plt()
    names = [r["model"] for r in rows]
    x = np.arange(len(rows))
    fig, (ax, ax_t) = plt.subplots(1, 2, figsize=(12, 4.5))
    for dx, key, label, color in ((-0.2, "val_accuracy", "validation", "tab:gray"),
                                  (0.2, "test_accuracy", "test", "tab:green")):
        bars = ax.bar(x + dx, [r[key] for r in rows], width=0.4, label=label, color=color)
        ax.bar_label(bars, fmt="%.3f", fontsize=7)
    lo = min(min(r["val_accuracy"], r["test_accuracy"]) for r in rows)
    ax.set_ylim(max(0.0, lo - 0.1), 1.0)
    ax.set_ylabel("accuracy")
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, frameon=False)
    colors = ["tab:blue" if r["library"] == "scikit-learn" else "tab:orange" for r in rows]
    bars = ax_t.bar(x, [r["train_seconds"] for r in rows], color=colors)
    ax_t.bar_label(bars, fmt="%.3f s", fontsize=7)
    ax_t.set_ylabel("fit seconds (blue: scikit-learn, orange: imgclass)")
    for a in (ax, ax_t):
        a.set_xticks(x, names, rotation=20, ha="right", fontsize=8)
        a.grid(axis="y", alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def baselines_study(dataset: str = "digits", *, val: float | int = 0.1, seed: int = 0, normalize: str = "pixel",
                    gamma: float = 1.0, C: float = 1.0, max_iter: int = 1000, lr: float = 0.03,
                    reg: float | None = None, iters: int = 1500, subset: int | None = None, repeats: int = 3,
                    out_root: str | Path = "runs", data_options: dict | None = None) -> dict:
    """Fit the four linear classifiers on ``imgclass linear``'s split and features; time each fit.

    Parameters
    ----------
    gamma : power of the [0, 1] intensities before normalization (the same features for all four models).
    C, max_iter : scikit-learn's inverse regularization strength and iteration limit.
    lr, reg, iters : imgclass's SGD learning rate, L2 strength and iterations. ``reg=None`` uses
        ``1 / (2 C N)``, which makes the softmax objective (mean loss + reg ||W||^2) the one
        LogisticRegression minimizes (C * summed loss + ||W||^2 / 2) up to a constant factor.
    subset : int, optional
        Fit on this many training images (a seeded random subset) to keep the study fast.
    repeats : int
        Fit each model this many times (same seed, same result) and keep the fastest time, so that
        one-time costs (lazy imports, cold caches) do not count.
    """
    if C <= 0 or max_iter < 1 or iters < 1 or lr <= 0 or (reg is not None and reg < 0) or repeats < 1:
        raise ImgclassError(f"need C > 0, max_iter >= 1, iters >= 1, lr > 0, reg >= 0, repeats >= 1; got C={C}, "
                            f"max_iter={max_iter}, iters={iters}, lr={lr}, reg={reg}, repeats={repeats}")
    features = LinearConfig(dataset=dataset, data_options=dict(data_options or {}), val=val, seed=seed,
                            normalize=normalize, gamma=gamma, dtype="float64")
    split, _, xtr, xval, xte = prepare(features)
    if not len(split.y_val):
        raise ImgclassError("the baselines study compares validation accuracies: use --val > 0")
    ytr = split.y_train
    if subset is not None:
        if not split.num_classes <= subset:
            raise ImgclassError(f"--subset must be at least the number of classes ({split.num_classes}), got {subset}")
        keep = np.sort(np.random.default_rng(seed).permutation(len(ytr))[:subset])
        xtr, ytr = xtr[keep], ytr[keep]
    reg = 1.0 / (2 * C * len(ytr)) if reg is None else reg
    rows, fitted = [], []
    for name, library, est in _baseline_models(C=C, max_iter=max_iter, lr=lr, reg=reg, iters=iters, seed=seed):
        seconds = math.inf
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for _ in range(repeats):
                t0 = time.perf_counter()
                est.fit(xtr, ytr)
                seconds = min(seconds, time.perf_counter() - t0)
        converged = not any("converge" in str(w.message).lower() for w in caught)
        params = {k: v for k, v in est.get_params().items()
                  if k in ("C", "max_iter", "solver", "learning_rate", "reg", "num_iters", "batch_size")}
        rows.append({"model": name, "library": library, "train_seconds": round(seconds, 4),
                     "val_accuracy": round(float(est.score(xval, split.y_val)), 4), "converged": converged,
                     "params": params})
        fitted.append(est)
    for row, est in zip(rows, fitted):  # the test split, once per model, after every fit
        row["test_accuracy"] = round(float(est.score(xte, split.y_test)), 4)
    settings = {"val": val, "seed": seed, "normalize": normalize, "gamma": gamma, "C": C, "max_iter": max_iter,
                "lr": lr, "reg": reg, "iters": iters, "subset": subset, "repeats": repeats}
    study = Run.create("study", {"study": "baselines", "dataset": split.name, "data_options": features.data_options,
                                 **settings}, root=out_root,
                       name=f"study-baselines-{split.name.replace(':', '_').replace('/', '_')}")
    plot = save_figure(baselines_figure(rows, f"linear classifiers on {split.name} ({len(ytr)} training images, "
                                              f"{xtr.shape[1]} features)"), study.plots / "baselines.png")
    best = max(rows, key=lambda r: r["val_accuracy"])
    summary = results("study", study.path, dataset=split.name, model=best["model"], seed=seed,
                      train_size=len(ytr), val_size=len(split.y_val), test_size=len(split.y_test),
                      val_accuracy=best["val_accuracy"], test_accuracy=best["test_accuracy"],
                      hyperparameters=settings, plots=[plot], study="baselines", features=int(xtr.shape[1]),
                      machine={"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                               "python": platform.python_version()}, rows=rows)
    study.write(RESULTS, summary)
    return summary


def format_baselines(s: dict) -> str:
    width = max(len(r["model"]) for r in s["rows"]) + 2
    lines = [f"{s['dataset']}: {s['train_size']} train / {s['val_size']} val / {s['test_size']} test images, "
             f"{s['features']} features", "",
             f"{'model':<{width}}{'library':<14}{'fit s':>9}{'val acc':>10}{'test acc':>10}"]
    lines += [f"{r['model']:<{width}}{r['library']:<14}{r['train_seconds']:>9.3f}{r['val_accuracy']:>10.4f}"
              f"{r['test_accuracy']:>10.4f}{'' if r['converged'] else '  (did not converge: raise --max-iter)'}"
              for r in s["rows"]]
    m = s.get("machine", {})
    note = (f"fit s: fastest of {s['hyperparameters']['repeats']} fits on {m.get('cores')} cores ({m.get('cpu')})"
            if m else "")
    return "\n".join(lines + ["", note, f"plot {s['plots'][0]}", f"study directory {s['run_dir']}"])
