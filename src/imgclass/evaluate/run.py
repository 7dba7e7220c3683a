"""``imgclass evaluate RUN_DIR``: test-split metrics and plots of a finished run, with the test use on record.

The test split is meant to be used once. A run's single test evaluation
happens when training ends (:func:`imgclass.runs.record_test`): its scores are
kept in the run and the event is logged. ``imgclass evaluate`` then reports
from those stored scores without touching the test images' labels again;
``--again`` recomputes them with the model and adds a second entry to the log,
so any repeated use of the test set is visible.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from imgclass.errors import ImgclassError
from imgclass.explain import explain_mistakes
from imgclass.runs import Run, load_model, rebuild_split, record_test, stored_scores, write_test_metrics
from imgclass.runs.models import MODEL_KINDS


def evaluate_run(run_dir: str | Path, *, again: bool = False) -> dict:
    """Metrics, per-class table, confusion matrix and plots on the test split of a finished train or linear run."""
    run = Run.open(run_dir, kind=MODEL_KINDS)
    with run.lock("trains or evaluates it"):
        return _evaluate(run, again)


def _evaluate(run: Run, again: bool) -> dict:
    model = load_model(run.path)
    split = rebuild_split(model.config)
    stored = None if again else stored_scores(run)
    if stored is None:
        scores = model.scores(split.x_test)
        m = record_test(run, scores, split.y_test, split.x_test, model.classes, by="evaluate",
                        loss=model.loss_of(scores, split.y_test))
    else:
        scores, y = stored
        if len(y) != len(split.y_test) or not np.array_equal(y, split.y_test):
            raise ImgclassError(f"{run.path}: the stored test scores do not match the dataset's test split; "
                                "use --again")
        m = write_test_metrics(run, scores, y, split.x_test, model.classes, model.loss_of(scores, y))
    explained = explain_mistakes(model, split.x_test, m["mistakes"], run.plots / "gradcam_mistakes.png")
    if explained is not None:
        m["plots"].append(str(explained))
    m["run_dir"] = str(run.path)
    m["test_log"] = run.test_log()
    return m
