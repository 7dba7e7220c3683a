"""``imgclass study ablation``: a ladder of training changes, each step one run, the last over several seeds.

The default ladder is the USI assignment's, on its network (the ``cifar-classic`` preset:
3 x (conv 3x3 - ReLU - maxpool 2) with 32, 64, 128 filters, then fc 256 and the classifier)::

    baseline -> + weight decay -> + dropout -> + flip / colour jitter -> no bias -> + batchnorm

Each step keeps every change before it. All steps share the rest of the training recipe
(optimizer, schedule, epochs, label smoothing: the ``cnn`` on ``cifar10`` recipe with the named
recipe ``usi`` on top, 40 epochs, which the command uses; or what the caller gives); the first
step turns off what later steps add. The last step is trained with
``final_seeds`` seeds and reported as mean ± std. The study directory (kind ``study``) holds
``config.json``, ``results.json`` (one row per step), ``plots/ablation.png`` and one run
directory per step (the last a ``seeds`` run); ``imgclass report STUDY_DIR`` renders it.
"""

from __future__ import annotations

from pathlib import Path

from imgclass.data.plots import _plt
from imgclass.errors import ImgclassError
from imgclass.fileio import save_figure
from imgclass.modelspec import ModelSpec
from imgclass.runs import Run, hyperparameters, results
from imgclass.runs.files import RESULTS
from imgclass.studies.ladders import LADDERS, Step
from imgclass.train.config import TrainConfig
from imgclass.train.run import default_name, train, train_seeds


def ladder_configs(cfg: TrainConfig, ladder: str = "usi") -> list[tuple[Step, TrainConfig]]:
    """Each step of ``ladder`` with its TrainConfig: ``cfg`` plus every change up to and including that step."""
    if ladder not in LADDERS:
        raise ImgclassError(f"unknown ladder {ladder!r}; ladders: {', '.join(LADDERS)}")
    model, changes, out = cfg.model.to_dict(), {}, []
    for step in LADDERS[ladder]:
        model.update(step.model)
        changes.update(step.train)
        spec = ModelSpec.from_dict({k: v for k, v in model.items()})
        out.append((step, cfg.replace(**changes, model=spec.to_dict(), name=_slug(step.name))))
    return out


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-").replace("--", "-")


def ablation_figure(rows: list[dict], title: str):
    """Test accuracy per step (the last with its spread over seeds), validation accuracy marked."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(1.3 * len(rows) + 3, 4.5))
    x = list(range(len(rows)))
    acc = [r["test_accuracy"] for r in rows]
    err = [r.get("test_accuracy_std") or 0.0 for r in rows]
    bars = ax.bar(x, acc, color="tab:blue", label="test accuracy")
    spread = [(i, a, e) for i, (a, e) in enumerate(zip(acc, err)) if e]  # caps only where seeds give a spread
    if spread:
        ax.errorbar(*zip(*spread), fmt="none", ecolor="black", capsize=4)
    ax.bar_label(bars, labels=[f"{a:.4f}" + (f"\n± {e:.4f}" if e else "") for a, e in zip(acc, err)], fontsize=8)
    val = [(i, r["val_accuracy"]) for i, r in enumerate(rows) if r.get("val_accuracy") is not None]
    if val:
        ax.plot(*zip(*val), "s", color="tab:orange", label="best val accuracy")
    ax.set_xticks(x, [r["step"] for r in rows], rotation=15, ha="right")
    ax.set_ylim(max(0.0, min(acc) - 0.1), min(1.0, max(acc) + 0.05))
    ax.set_ylabel("accuracy")
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def ablation_study(cfg: TrainConfig, ladder: str = "usi", *, final_seeds: int = 10, out_root: str | Path = "runs",
                   name: str | None = None, progress: bool = True) -> dict:
    """Train every step of ``ladder`` from ``cfg`` into one study directory; return its results.

    Parameters
    ----------
    cfg : TrainConfig
        The network and training recipe the ladder changes; ``imgclass study ablation``'s defaults are
        ``TrainConfig(dataset="cifar10", model="cifar-classic", recipe="usi")``.
    final_seeds : int
        Seeds of the last step (``cfg.seed``, ``cfg.seed + 1``, ...): mean ± std of its test accuracy.
    """
    if isinstance(final_seeds, bool) or not isinstance(final_seeds, int) or final_seeds < 1:
        raise ImgclassError(f"--final-seeds must be an integer >= 1, got {final_seeds!r}")
    steps = ladder_configs(cfg, ladder)
    study = Run.create("study", {"study": "ablation", "ladder": ladder, "config": cfg.to_dict(),
                                 "final_seeds": final_seeds}, root=out_root,
                       name=name or f"study-ablation-{ladder}-{default_name(cfg.replace(name=''))}")
    rows = []
    for i, (step, step_cfg) in enumerate(steps):
        last = i == len(steps) - 1
        where = study.path / f"{i}-{_slug(step.name)}"
        if last and final_seeds > 1:
            r = train_seeds(step_cfg, final_seeds, path=where, progress=progress)
        else:
            r = train(step_cfg, run_dir=where, progress=progress)
        rows.append({"step": step.name, "what": step.what, "changes": {**step.model, **step.train},
                     **{k: r.get(k) for k in ("test_accuracy", "test_accuracy_std", "val_accuracy", "train_accuracy",
                                              "train_seconds", "parameters", "run_dir")},
                     "seeds": r.get("seeds"), "test_accuracies": r.get("test_accuracies")})
    plot = save_figure(ablation_figure(rows, f"{ladder} ladder: {cfg.model} on {cfg.dataset}"),
                       study.plots / "ablation.png")
    final = rows[-1]
    summary = results("study", study.path, dataset=cfg.dataset, model=f"{steps[-1][1].model} (last step)",
                      engine=cfg.engine, parameters=final["parameters"], seed=cfg.seed,
                      val_accuracy=final["val_accuracy"], test_accuracy=final["test_accuracy"],
                      test_accuracy_std=final["test_accuracy_std"], train_seconds=sum(r["train_seconds"] for r in rows),
                      hyperparameters=hyperparameters(steps[-1][1].to_dict()), tuned=[], plots=[plot],
                      study="ablation", ladder=ladder, rows=rows)
    study.write(RESULTS, summary)
    return summary


def format_ablation(s: dict) -> str:
    """The ladder as a terminal table."""
    width = max(len(r["step"]) for r in s["rows"]) + 2
    lines = [f"{'step':<{width}}{'test acc':>18}{'best val':>10}{'train s':>9}"]
    for r in s["rows"]:
        acc = f"{r['test_accuracy']:.4f}" + (f" ± {r['test_accuracy_std']:.4f}" if r.get("test_accuracy_std") else "")
        val = "-" if r["val_accuracy"] is None else f"{r['val_accuracy']:.4f}"
        lines.append(f"{r['step']:<{width}}{acc:>18}{val:>10}{r['train_seconds']:>9.1f}")
    seeds = s["rows"][-1].get("seeds") or []
    note = f"last step: mean ± std over {len(seeds)} seeds" if len(seeds) > 1 else ""
    return "\n".join(lines + ([note] if note else []) + [f"plot {s['plots'][0]}", f"study directory {s['run_dir']}"])
