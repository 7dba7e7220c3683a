"""The end of a sweep: the best trial tested once, the trials as rows, the record written to the sweep directory.

:func:`summarize` reads every trial from the study's storage; with ``test`` (the one worker that ends
the sweep, see :mod:`imgclass.sweep.worker`) it evaluates the best trial on the test split once
(:func:`test_best`), draws the plots and writes ``sweep.json`` (every trial) and ``results.json``
(the one results schema). :func:`ranked` orders the rows for display.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from imgclass.modelspec import spec_text
from imgclass.runs import Run, hyperparameters, load_model, rebuild_split, record_test, results, stored_scores
from imgclass.runs.files import CONFIG, RESULTS, SWEEP
from imgclass.sweep import space as sp
from imgclass.sweep.plots import save_sweep_plots
from imgclass.sweep.storage import Study, public_url, sweep_config
from imgclass.train.config import TrainConfig
from imgclass.train.run import train


def counts(trials) -> dict[str, int]:
    counts: dict[str, int] = {}
    for t in trials:
        counts[t.state.name] = counts.get(t.state.name, 0) + 1
    return counts


def best_trial(trials):
    complete = [t for t in trials if t.state.name == "COMPLETE" and t.value is not None]
    return max(complete, key=lambda t: (t.value, -t.number)) if complete else None


def test_best(opened: Study, best) -> dict:
    """Evaluate the best trial on the test split, once: reuse its run's model if it is here, else retrain it."""
    recorded = opened.study.user_attrs.get("test")
    if recorded and recorded["number"] == best.number:
        return recorded
    path = Path(best.user_attrs.get("run_dir", ""))
    if (path / RESULTS).is_file():
        run = Run.open(path, kind="train")
        with run.lock("trains or tests it"):
            stored = stored_scores(run)
            if stored is not None:  # tested before (record lost): report the stored scores, no new test use
                scores, y = stored
                acc = round(float(np.mean(np.argmax(scores, axis=1) == y)), 4)
            else:
                model = load_model(run.path)
                split = rebuild_split(model.config)
                scores = model.scores(split.x_test)
                acc = record_test(run, scores, split.y_test, split.x_test, model.classes, by="sweep",
                                  loss=model.loss_of(scores, split.y_test))["accuracy"]
        how = "reused"
    else:
        cfg = sp.apply(TrainConfig.from_dict(opened.settings["config"]), best.params)
        path = opened.sweep_dir / f"best-trial-{best.number}"
        acc = train(cfg.replace(name=path.name), run_dir=path, progress=False, test=True)["test_accuracy"]
        how = "retrained"
    record = {"number": best.number, "test_accuracy": acc, "run_dir": str(path), "test_from": how}
    opened.study.set_user_attr("test", record)
    return record


def _trial_row(t) -> dict:
    note = t.user_attrs.get("surplus") or t.user_attrs.get("note")
    if t.state.name == "PRUNED" and not note and t.intermediate_values:
        k = max(t.intermediate_values)
        note = f"pruned at evaluation point {k + 1} (val acc {t.intermediate_values[k]:.4f})"
    if t.state.name == "FAIL" and not note:
        note = "failed (error or worker killed)"
    if "failed_trial" in t.system_attrs:
        note = f"retry of trial {t.system_attrs['failed_trial']}" + (f"; {note}" if note else "")
    value = t.value if t.state.name == "COMPLETE" else None  # a pruned trial's last report is in its note
    return {"number": t.number, "state": t.state.name, "params": dict(t.params), "value": value,
            "run_dir": t.user_attrs.get("run_dir"), "worker": t.user_attrs.get("worker"), "note": note}


def summarize(opened: Study, *, test: bool) -> dict:
    """The sweep's record from the storage; with ``test``, also test the best once, draw plots and write
    ``sweep.json`` and ``results.json``. Returns the results (the common schema, then the record)."""
    trials = opened.study.get_trials(deepcopy=False)
    best = best_trial(trials)
    record = None
    if best is not None:
        record = test_best(opened, best) if test else opened.study.user_attrs.get("test")
        if record and record["number"] != best.number:
            record = None
    space = sp.space_from_dict(opened.settings["space"])
    plots = save_sweep_plots(opened.study, space, opened.sweep_dir / "plots") if test else []
    rows = [_trial_row(t) for t in sorted(trials, key=lambda t: t.number)]
    sweep = {
        "kind": "optuna-sweep", "study": opened.name, "storage": public_url(opened.url), "direction": "maximize",
        "sweep_dir": str(opened.sweep_dir), "sampler": opened.settings["sampler"],
        "pruner": opened.settings["pruner"], "space": opened.settings["space"],
        "config": opened.settings["config"], "trials_requested": opened.settings["trials"],
        "counts": counts(trials), "trials": rows,
        "best": None if best is None else {
            "number": best.number, "params": dict(best.params), "value": best.value,
            "test_accuracy": record and record["test_accuracy"], "test_from": record and record["test_from"],
            "run_dir": record["run_dir"] if record else best.user_attrs.get("run_dir")},
        "plots": [str(p) for p in plots],
    }
    base = opened.settings["config"]
    seconds = [t.user_attrs["train_seconds"] for t in trials if "train_seconds" in t.user_attrs]
    out = results("sweep", opened.sweep_dir, dataset=base["dataset"],
                  model=f"{spec_text(base['model'])} (best of {len(trials)} trials)", engine=base["engine"],
                  seed=base["seed"], val_accuracy=best and best.value,
                  test_accuracy=record and record["test_accuracy"], train_seconds=sum(seconds) if seconds else None,
                  hyperparameters={**hyperparameters(base), **(dict(best.params) if best else {})},
                  tuned=list(best.params) if best else [], plots=plots, **{k: v for k, v in sweep.items()
                                                                          if k not in ("kind", "plots")})
    if test:
        run = Run(opened.sweep_dir, "sweep")
        run.write(CONFIG, {"kind": "sweep", **sweep_config(opened)})
        run.write(SWEEP, sweep)
        run.write(RESULTS, out)
    return out
