"""The end of a sweep: the best trial tested once, the trials as rows, the record written to ``sweep.json``.

:func:`summarize` reads every trial from the study's storage; with ``test`` (the one worker that ends
the sweep, see :mod:`imgclass.sweep.study`) it evaluates the best trial on the test split once
(:func:`test_best`), draws the plots and writes ``sweep.json``. :func:`ranked` orders the rows for display;
:func:`public_url` is the storage URL as recorded and shown, without its password.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from imgclass.fileio import atomic_write
from imgclass.sweep import space as sp

if TYPE_CHECKING:
    from imgclass.sweep.study import Study

SWEEP_JSON = "sweep.json"


def public_url(url: str) -> str:
    """The URL with any password replaced by ``***``."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _counts(trials) -> dict[str, int]:
    counts: dict[str, int] = {}
    for t in trials:
        counts[t.state.name] = counts.get(t.state.name, 0) + 1
    return counts


def best_trial(trials):
    complete = [t for t in trials if t.state.name == "COMPLETE" and t.value is not None]
    return max(complete, key=lambda t: (t.value, -t.number)) if complete else None


def test_best(opened: Study, best) -> dict:
    """Evaluate the best trial on the test split, once: reuse its run's model if it is here, else retrain it."""
    from imgclass.evaluate.run import SCORES, evaluate_run, record_test_evaluation
    from imgclass.train.config import TrainConfig
    from imgclass.train.run import load_trained, train

    recorded = opened.study.user_attrs.get("test")
    if recorded and recorded["number"] == best.number:
        return recorded
    run = Path(best.user_attrs.get("run_dir", ""))
    if (run / "results.json").is_file():
        if (run / SCORES).is_file():  # tested before (record lost): report the stored scores, no new test use
            acc = evaluate_run(run)["accuracy"]
        else:
            from imgclass.data import load, make_split

            trained = load_trained(run)
            c = trained.cfg
            split = make_split(load(c.dataset, **c.data_options), val=c.val, seed=c.seed,
                               train_fraction=c.train_fraction)
            acc = record_test_evaluation(run, trained.engine, trained.pre.transform(split.x_test), split.y_test,
                                         split.x_test, trained.classes, by="sweep")["accuracy"]
        how = "reused"
    else:
        cfg = sp.apply(TrainConfig.from_dict(opened.settings["config"]), best.params)
        run = opened.sweep_dir / f"best-trial-{best.number}"
        acc = train(cfg.replace(name=run.name), run_dir=run, progress=False, test=True)["test_accuracy"]
        how = "retrained"
    record = {"number": best.number, "test_accuracy": acc, "run_dir": str(run), "test_from": how}
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


def ranked(rows: list[dict]) -> list[dict]:
    """Rows sorted best first: completed by val accuracy, then pruned, then the rest, each by trial number."""
    order = {"COMPLETE": 0, "PRUNED": 1, "RUNNING": 2, "WAITING": 3, "FAIL": 4}
    return sorted(rows, key=lambda r: (order.get(r["state"], 5), -(r["value"] or 0.0), r["number"]))


def summarize(opened: Study, *, test: bool) -> dict:
    """The sweep's record from the storage; with ``test``, also test the best once, draw plots, write sweep.json."""
    from imgclass.sweep.plots import save_sweep_plots

    trials = opened.study.get_trials(deepcopy=False)
    best = best_trial(trials)
    record = None
    if best is not None:
        record = test_best(opened, best) if test else opened.study.user_attrs.get("test")
        if record and record["number"] != best.number:
            record = None
    space = sp.space_from_dict(opened.settings["space"])
    plots = save_sweep_plots(opened.study, space, opened.sweep_dir / "plots") if test else []
    result = {
        "kind": "optuna-sweep", "study": opened.name, "storage": public_url(opened.url), "direction": "maximize",
        "sweep_dir": str(opened.sweep_dir), "sampler": opened.settings["sampler"],
        "pruner": opened.settings["pruner"], "space": opened.settings["space"],
        "config": opened.settings["config"], "trials_requested": opened.settings["trials"],
        "counts": _counts(trials), "trials": [_trial_row(t) for t in sorted(trials, key=lambda t: t.number)],
        "best": None if best is None else {
            "number": best.number, "params": dict(best.params), "value": best.value,
            "test_accuracy": record and record["test_accuracy"], "test_from": record and record["test_from"],
            "run_dir": record["run_dir"] if record else best.user_attrs.get("run_dir")},
        "plots": [str(p) for p in plots],
    }
    if test:
        with atomic_write(opened.sweep_dir / SWEEP_JSON, "w") as f:
            json.dump(result, f, indent=2)
    return result
