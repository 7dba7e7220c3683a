"""``imgclass study train-fraction``: the same configuration trained on growing fractions of the training split.

:func:`train_fraction_study` trains on 10%, 20%, 50% and 100% of the training
split (a stratified subset; validation and test splits unchanged) and plots test
accuracy against the fraction. The study directory (kind ``study``, see
:mod:`imgclass.runs`) holds its ``config.json``, ``results.json`` (one row per
fraction), the plot in ``plots/`` and one train run directory per fraction;
``imgclass report STUDY_DIR`` renders it.
"""

from __future__ import annotations

import math
from pathlib import Path

from imgclass.data.plots import _plt
from imgclass.errors import ImgclassError
from imgclass.fileio import save_figure
from imgclass.runs import Run, hyperparameters, results
from imgclass.runs.files import RESULTS
from imgclass.train.config import TrainConfig
from imgclass.train.run import default_name, train

FRACTIONS = (0.1, 0.2, 0.5, 1.0)


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
    plt = _plt()
    f = [r["fraction"] for r in rows]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for key, label, style in (("test_accuracy", "test accuracy", "-o"),
                              ("val_accuracy", "best val accuracy", "--s")):
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


def train_fraction_study(cfg: TrainConfig, fractions=FRACTIONS, *, out_root: str | Path = "runs",
                         name: str | None = None, progress: bool = True) -> dict:
    """Train ``cfg`` once per training fraction into one study directory; return its results.

    Parameters
    ----------
    cfg : TrainConfig
        Everything but ``train_fraction``, which each run sets.
    fractions : sequence of float in (0, 1]
    out_root : path
        Parent of the study directory ``<stamp>-<name>``.
    """
    fs = check_fractions(fractions)
    base = default_name(cfg.replace(name=""))
    study = Run.create("study", {"study": "train-fraction", "config": cfg.to_dict(), "fractions": fs},
                       root=out_root, name=name or f"study-train-fraction-{base}")
    rows = []
    for f in fs:
        r = train(cfg.replace(train_fraction=f, name=f"fraction-{f:g}"), run_dir=study.path / f"fraction-{f:g}",
                  progress=progress)
        rows.append({"fraction": f, **{k: r[k] for k in ("train_size", "test_accuracy", "val_accuracy",
                                                         "train_accuracy", "train_seconds", "run_dir")}})
    plot = save_figure(fraction_figure(rows, f"{base}: accuracy against training data"),
                       study.plots / "train_fraction.png")
    summary = results("study", study.path, dataset=cfg.dataset, model=str(cfg.model), engine=cfg.engine,
                      seed=cfg.seed, hyperparameters=hyperparameters(cfg.to_dict()), tuned=["train_fraction"],
                      plots=[plot], study="train-fraction", fractions=fs, rows=rows)
    study.write(RESULTS, summary)
    return summary


def format_train_fraction(s: dict) -> str:
    lines = [f"{'fraction':>8} {'train':>7} {'test acc':>9} {'best val':>9} {'train s':>8}"]
    lines += [f"{r['fraction']:>8.0%} {r['train_size']:>7} {_f(r['test_accuracy']):>9} {_f(r['val_accuracy']):>9} "
              f"{r['train_seconds']:>8.2f}" for r in s["rows"]]
    return "\n".join(lines + [f"plot {s['plots'][0]}", f"study directory {s['run_dir']}"])


def _f(v) -> str:
    return "-" if v is None else f"{v:.4f}"
