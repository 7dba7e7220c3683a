"""``imgclass study``: small experiments made of several runs, each written to one study directory.

* :func:`train_fraction_study` trains the same configuration on 10%, 20%,
  50% and 100% of the training split (a stratified subset; validation and
  test splits unchanged) and plots test accuracy against the fraction.
* :func:`baselines_study` fits scikit-learn's ``LogisticRegression`` (lbfgs)
  and ``LinearSVC`` next to imgclass's ``SoftmaxClassifier`` and
  ``LinearSVM`` on the split and features ``imgclass linear`` uses, and
  times each fit.

A study directory holds ``study.json`` (``kind`` names the study), its
plot in ``plots/`` and, for the train-fraction study, one run directory
per fraction; ``imgclass report STUDY_DIR`` renders it.
"""

from __future__ import annotations

import math
import os
import platform
import time
import warnings
from pathlib import Path

import numpy as np

from imgclass.errors import ImgclassError
from imgclass.fileio import save_figure

FRACTIONS = (0.1, 0.2, 0.5, 1.0)


# --------------------------------------------------------------------------- train fraction


def check_fractions(fractions) -> list[float]:
    """Sorted, distinct fractions, each in (0, 1]."""
    try:
        fs = sorted({float(f) for f in fractions})
    except (TypeError, ValueError):
        raise ImgclassError(f"fractions must be numbers in (0, 1], got {fractions!r}") from None
    if not fs or not all(0 < f <= 1 and math.isfinite(f) for f in fs):
        raise ImgclassError(f"fractions must be numbers in (0, 1], e.g. 0.1,0.2,0.5,1; got {fractions!r}")
    return fs


def fraction_figure(rows: list[dict], title: str):
    """Test (and best validation) accuracy against the training fraction, log x axis, training sizes marked."""
    from imgclass.data.plots import _plt

    plt = _plt()
    f = [r["fraction"] for r in rows]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for key, label, style in (("test_accuracy", "test accuracy", "-o"),
                              ("best_val_accuracy", "best val accuracy", "--s")):
        pts = [(r["fraction"], r[key]) for r in rows if r.get(key) is not None]
        if pts:
            ax.plot(*zip(*pts), style, label=label)
    ax.set_xscale("log")
    ax.set_xticks(f, [f"{x:.0%}\n({r['train_size']})" for x, r in zip(f, rows)])
    ax.minorticks_off()
    ax.set_xlabel("fraction of the training split (training images)")
    ax.set_ylabel("accuracy")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def train_fraction_study(cfg, fractions=FRACTIONS, *, out_root: str | Path = "runs", name: str | None = None,
                         progress: bool = True) -> dict:
    """Train ``cfg`` once per training fraction into one study directory; return the summary (``study.json``).

    Parameters
    ----------
    cfg : TrainConfig
        Everything but ``train_fraction``, which each run sets.
    fractions : sequence of float in (0, 1]
    out_root : path
        Parent of the study directory ``<stamp>-<name>``.
    """
    from imgclass.train.run import default_name, new_run_dir, train, write_json

    fs = check_fractions(fractions)
    base = default_name(cfg.replace(name=""))
    study = new_run_dir(out_root, name or f"study-train-fraction-{base}")
    rows = []
    for f in fs:
        r = train(cfg.replace(train_fraction=f, name=f"fraction-{f:g}"), run_dir=study / f"fraction-{f:g}",
                  progress=progress)
        rows.append({"fraction": f, "train_size": r["train_size"], "test_accuracy": r["test_accuracy"],
                     "best_val_accuracy": r["best_val_accuracy"], "final_train_accuracy": r["final_train_accuracy"],
                     "train_seconds": r["train_seconds"], "run_dir": r["run_dir"]})
    plot = save_figure(fraction_figure(rows, f"{base}: accuracy against training data"),
                       study / "plots" / "train_fraction.png")
    summary = {"kind": "train-fraction-study", "run_dir": str(study), "dataset": cfg.dataset, "engine": cfg.engine,
               "model": cfg.model, "fractions": fs, "runs": rows, "plot": str(plot), "config": cfg.to_dict()}
    write_json(study / "study.json", summary)
    return summary


def format_train_fraction(s: dict) -> str:
    lines = [f"{'fraction':>8} {'train':>7} {'test acc':>9} {'best val':>9} {'train s':>8}"]
    lines += [f"{r['fraction']:>8.0%} {r['train_size']:>7} {_f(r['test_accuracy']):>9} {_f(r['best_val_accuracy']):>9} "
              f"{r['train_seconds']:>8.2f}" for r in s["runs"]]
    return "\n".join(lines + [f"plot {s['plot']}", f"study directory {s['run_dir']}"])


def _f(v) -> str:
    return "-" if v is None else f"{v:.4f}"


# -------------------------------------------------------------------------------- baselines


def _baseline_models(*, C: float, max_iter: int, lr: float, reg: float, iters: int, seed: int) -> list[tuple]:
    """(name, library, estimator) for the four linear classifiers, fitted on the same features."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import LinearSVC

    from imgclass.linear.estimators import LinearSVM, SoftmaxClassifier

    sgd = dict(learning_rate=lr, reg=reg, num_iters=iters, batch_size=200, random_state=seed)
    return [("LogisticRegression (lbfgs)", "scikit-learn", LogisticRegression(C=C, solver="lbfgs", max_iter=max_iter)),
            ("LinearSVC (one-vs-rest)", "scikit-learn", LinearSVC(C=C, max_iter=max_iter, random_state=seed)),
            ("SoftmaxClassifier (SGD)", "imgclass", SoftmaxClassifier(**sgd)),
            ("LinearSVM (SGD)", "imgclass", LinearSVM(**sgd))]


def baselines_figure(rows: list[dict], title: str):
    """Validation and test accuracy per model (left) and fit time (right)."""
    from imgclass.data.plots import _plt

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
    bars = ax_t.bar(x, [r["fit_seconds"] for r in rows], color=colors)
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
    from imgclass.linear.run import new_run_dir, prepare, write_json

    if C <= 0 or max_iter < 1 or iters < 1 or lr <= 0 or (reg is not None and reg < 0) or repeats < 1:
        raise ImgclassError(f"need C > 0, max_iter >= 1, iters >= 1, lr > 0, reg >= 0, repeats >= 1; got C={C}, "
                            f"max_iter={max_iter}, iters={iters}, lr={lr}, reg={reg}, repeats={repeats}")
    ds, split, _, xtr, xval, xte = prepare(dataset, val=val, seed=seed, normalize=normalize, dtype="float64",
                                           gamma=gamma, data_options=data_options)
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
        rows.append({"model": name, "library": library, "fit_seconds": round(seconds, 4),
                     "val_accuracy": round(float(est.score(xval, split.y_val)), 4), "converged": converged,
                     "params": params})
        fitted.append(est)
    for row, est in zip(rows, fitted):  # the test split, once per model, after every fit
        row["test_accuracy"] = round(float(est.score(xte, split.y_test)), 4)
    study = new_run_dir(out_root, f"study-baselines-{ds.name.replace(':', '_').replace('/', '_')}")
    plot = save_figure(baselines_figure(rows, f"linear classifiers on {ds.name} ({len(ytr)} training images, "
                                              f"{xtr.shape[1]} features)"), study / "plots" / "baselines.png")
    summary = {"kind": "baselines-study", "run_dir": str(study), "dataset": ds.name, "train_size": len(ytr),
               "val_size": len(split.y_val), "test_size": len(split.y_test), "features": int(xtr.shape[1]),
               "settings": {"val": val, "seed": seed, "normalize": normalize, "gamma": gamma, "C": C,
                            "max_iter": max_iter, "lr": lr, "reg": reg, "iters": iters, "subset": subset,
                            "repeats": repeats},
               "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                           "python": platform.python_version()},
               "rows": rows, "plot": str(plot)}
    write_json(study / "study.json", summary)
    return summary


def format_baselines(s: dict) -> str:
    width = max(len(r["model"]) for r in s["rows"]) + 2
    lines = [f"{s['dataset']}: {s['train_size']} train / {s['val_size']} val / {s['test_size']} test images, "
             f"{s['features']} features", "",
             f"{'model':<{width}}{'library':<14}{'fit s':>9}{'val acc':>10}{'test acc':>10}"]
    lines += [f"{r['model']:<{width}}{r['library']:<14}{r['fit_seconds']:>9.3f}{r['val_accuracy']:>10.4f}"
              f"{r['test_accuracy']:>10.4f}{'' if r['converged'] else '  (did not converge: raise --max-iter)'}"
              for r in s["rows"]]
    m = s.get("machine", {})
    note = (f"fit s: fastest of {s['settings']['repeats']} fits on {m.get('cores')} cores ({m.get('cpu')})"
            if m else "")
    return "\n".join(lines + ["", note, f"plot {s['plot']}", f"study directory {s['run_dir']}"])


# ----------------------------------------------------------------------------------- report


def study_report(run: Path) -> tuple[str, str, list[str]]:
    """The report page of a study directory (called by :func:`imgclass.evaluate.report.build_report`)."""
    from imgclass.evaluate.html import cards, figure, fmt, grid, kv_table, section, table
    from imgclass.evaluate.report import model_text, read_json, resolve

    s = read_json(run / "study.json", required=True)
    plots = run / "plots"
    if s["kind"] == "baselines-study":
        rows = [[r["model"], r["library"], r["fit_seconds"], r["val_accuracy"], r.get("test_accuracy"),
                 r["converged"], ", ".join(f"{k}={fmt(v)}" for k, v in r["params"].items())] for r in s["rows"]]
        best = max(range(len(rows)), key=lambda i: rows[i][3]) if rows else None
        body = [cards({"training images": s.get("train_size"), "features": s.get("features"),
                       "validation images": s.get("val_size"), "test images": s.get("test_size")}),
                section("Accuracy and fit time", table(["model", "library", "fit seconds", "val acc", "test acc",
                                                        "converged", "parameters"], rows, highlight=best),
                        figure(plots / "baselines.png", "accuracy per model (left) and fit time (right)")),
                section("Settings", kv_table(s.get("settings", {})),
                        f"<h3>Machine</h3>{kv_table(s['machine'])}" if s.get("machine") else "")]
        return f"linear baselines on {s.get('dataset')}", f"imgclass study baselines {run.resolve().name}", body
    runs = s.get("runs", [])
    rows = [[r["fraction"], r["train_size"], r["test_accuracy"], r["best_val_accuracy"], r["final_train_accuracy"],
             r["train_seconds"], Path(r["run_dir"]).name] for r in runs]
    cfg = s.get("config", {})
    figs = [figure(resolve(run, r["run_dir"]) / "plots" / "curves.png", f"{r['fraction']:.0%} of the training data")
            for r in runs]
    body = [section("Test accuracy against the training fraction",
                    figure(plots / "train_fraction.png", "log x axis; training images in brackets"),
                    table(["fraction", "train images", "test acc", "best val acc", "final train acc", "train s",
                           "run"], rows)),
            section("Configuration (train_fraction varies)", kv_table({**cfg, "model": model_text(cfg.get("model"))})),
            section("Curves of each run", grid(*figs, two=True))]
    title = f"{s.get('engine')} {model_text(s.get('model'))} on {s.get('dataset')}: accuracy against training data"
    return title, f"imgclass study train-fraction {run.resolve().name}", body
