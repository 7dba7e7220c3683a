"""A sweep's plots (matplotlib, PNG): optimization history, parameter importances, lr x regularization."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from imgclass.data.plots import _plt
from imgclass.fileio import save_figure


def _finished(study):
    trials = study.get_trials(deepcopy=False)
    return ([t for t in trials if t.state.name == "COMPLETE" and t.value is not None],
            [t for t in trials if t.state.name == "PRUNED" and t.intermediate_values])


def save_history(study, path: str | Path) -> Path | None:
    """Validation accuracy of each trial by trial number (pruned ones at their last report) and the best so far."""
    complete, pruned = _finished(study)
    if not complete:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4))
    n = np.array([t.number for t in complete])
    v = np.array([t.value for t in complete])
    ax.plot(n, v, "o", label="complete", color="tab:blue")
    if pruned:
        last = [t.intermediate_values[max(t.intermediate_values)] for t in pruned]
        ax.plot([t.number for t in pruned], last, "x", color="tab:gray", label="pruned (last report)")
    order = np.argsort(n)
    ax.step(n[order], np.maximum.accumulate(v[order]), where="post", color="tab:red", label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel("validation accuracy")
    ax.set_title("optimization history")
    ax.grid(alpha=0.3)
    ax.legend(loc="best")
    fig.tight_layout()
    return save_figure(fig, path)


def param_importances(study) -> dict[str, float]:
    """Optuna's default importance evaluator over the completed trials; empty when it cannot tell."""
    import optuna

    complete, _ = _finished(study)
    if len(complete) < 2:
        return {}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return dict(optuna.importance.get_param_importances(study))
    except (RuntimeError, ValueError, ZeroDivisionError):
        return {}


def save_importances(importances: dict[str, float], path: str | Path) -> Path | None:
    """Horizontal bars, most important on top."""
    if not importances:
        return None
    plt = _plt()
    names = list(importances)[::-1]
    fig, ax = plt.subplots(figsize=(6, 0.5 * len(names) + 1.5))
    ax.barh(names, [importances[k] for k in names], color="tab:blue")
    ax.set_xlabel("importance for validation accuracy (Optuna default evaluator, sums to 1)")
    ax.set_title("parameter importances")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, path)


def scatter_pair(space, importances: dict[str, float]) -> tuple | None:
    """The two numeric parameters to scatter: lr and weight_decay when both are searched, else the most important."""
    numeric = [p for p in space if p.kind != "categorical"]
    names = [p.name for p in numeric]
    if "lr" in names and "weight_decay" in names:
        pick = ["lr", "weight_decay"]
    else:
        pick = sorted(names, key=lambda k: -importances.get(k, 0.0))[:2]
    if len(pick) < 2:
        return None
    by_name = {p.name: p for p in numeric}
    return by_name[pick[0]], by_name[pick[1]]


def save_scatter(study, x, y, path: str | Path) -> Path | None:
    """Completed trials at (x, y) coloured by validation accuracy; pruned ones as grey crosses."""
    complete, pruned = _finished(study)
    complete = [t for t in complete if x.name in t.params and y.name in t.params]
    if not complete:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 5))
    pts = ax.scatter([t.params[x.name] for t in complete], [t.params[y.name] for t in complete],
                     c=[t.value for t in complete], cmap="viridis", s=50, edgecolors="k", linewidths=0.5)
    fig.colorbar(pts, ax=ax, label="validation accuracy")
    pruned = [t for t in pruned if x.name in t.params and y.name in t.params]
    if pruned:
        ax.scatter([t.params[x.name] for t in pruned], [t.params[y.name] for t in pruned], marker="x",
                   color="tab:gray", label="pruned")
        ax.legend(loc="best")
    best = max(complete, key=lambda t: t.value)
    ax.scatter([best.params[x.name]], [best.params[y.name]], marker="o", s=220, facecolors="none",
               edgecolors="tab:red", linewidths=2, zorder=3)
    for p, set_scale in ((x, ax.set_xscale), (y, ax.set_yscale)):
        if p.kind in ("loguniform", "logint"):
            set_scale("log")
    ax.set_xlabel(x.name)
    ax.set_ylabel(y.name)
    ax.set_title(f"{x.name} x {y.name} (best: red ring)")
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    return save_figure(fig, path)


def save_sweep_plots(study, space, plot_dir: str | Path) -> list[Path]:
    """``history.png``, ``importances.png`` and ``<x>_vs_<y>.png`` (those that can be drawn yet) in ``plot_dir``."""
    plot_dir = Path(plot_dir)
    importances = param_importances(study)
    paths = [save_history(study, plot_dir / "history.png"),
             save_importances(importances, plot_dir / "importances.png")]
    pair = scatter_pair(space, importances)
    if pair is not None:
        paths.append(save_scatter(study, *pair, plot_dir / f"{pair[0].name}_vs_{pair[1].name}.png"))
    return [p for p in paths if p is not None]
