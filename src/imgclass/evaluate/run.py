"""``imgclass evaluate RUN_DIR``: test-split metrics and plots of a finished run, with the test use on record.

The test split is meant to be used once. A run's single test evaluation
happens when training ends (:func:`record_test_evaluation`): its scores are
kept in ``test_scores.npz`` and the event is appended to ``test_log.json``.
``imgclass evaluate`` then reports from those stored scores without touching
the test images' labels again; ``--again`` recomputes them with the model and
adds a second entry to the log, so any repeated use of the test set is visible.
"""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import numpy as np

from imgclass.errors import ImgclassError
from imgclass.evaluate.metrics import classification_metrics, confident_mistakes
from imgclass.evaluate.plots import save_evaluation_plots
from imgclass.fileio import atomic_write, write_json

SCORES, LOG, METRICS = "test_scores.npz", "test_log.json", "test_metrics.json"


def test_log(run: Path) -> list[dict]:
    """Every use of the test split recorded for this run (empty if never tested)."""
    try:
        return json.loads((Path(run) / LOG).read_text())
    except FileNotFoundError:
        return []


def _finish(run: Path, scores: np.ndarray, y: np.ndarray, images: np.ndarray, classes: list[str]) -> dict:
    m = classification_metrics(y, scores, classes)
    mistakes = confident_mistakes(y, scores, k=24)
    plots = save_evaluation_plots(m, mistakes, images, classes, run / "plots")
    m["mistakes"] = mistakes
    m["plots"] = [str(p) for p in plots.values()]
    write_json(run / METRICS, m)
    return m


def record_test_evaluation(run: str | Path, engine, x_test: np.ndarray, y_test: np.ndarray, images: np.ndarray,
                           classes: list[str], *, by: str) -> dict:
    """Score the test split with ``engine``, store the scores, log the use, write metrics and plots."""
    run = Path(run)
    scores = engine.scores(x_test)
    buf = io.BytesIO()
    np.savez(buf, scores=scores.astype(np.float32), y=np.asarray(y_test))
    with atomic_write(run / SCORES) as f:
        f.write(buf.getvalue())
    log = test_log(run) + [{"by": by, "time": time.strftime("%Y-%m-%dT%H:%M:%S"), "images": int(len(y_test))}]
    write_json(run / LOG, log)
    m = _finish(run, scores, y_test, images, classes)
    m["loss"] = engine.loss_of(scores, y_test)
    m["test_uses"] = len(log)
    return m


def evaluate_run(run_dir: str | Path, *, again: bool = False) -> dict:
    """Metrics, per-class table, confusion matrix and plots on the test split of a finished ``imgclass train`` run."""
    from imgclass.data import load, make_split
    from imgclass.train.run import load_trained

    run = Path(run_dir)
    trained = load_trained(run)
    cfg = trained.cfg
    split = make_split(load(cfg.dataset, **cfg.data_options), val=cfg.val, seed=cfg.seed,
                       train_fraction=cfg.train_fraction)
    if again or not (run / SCORES).exists():
        m = record_test_evaluation(run, trained.engine, trained.pre.transform(split.x_test), split.y_test,
                                   split.x_test, trained.classes, by="evaluate")
    else:
        with np.load(run / SCORES) as z:
            scores, y = z["scores"], z["y"]
        if len(y) != len(split.y_test) or not np.array_equal(y, split.y_test):
            raise ImgclassError(f"{run / SCORES} does not match the dataset's test split; use --again")
        m = _finish(run, scores, y, split.x_test, trained.classes)
        m["loss"] = trained.engine.loss_of(scores, y)
        m["test_uses"] = len(test_log(run))
    m["run_dir"] = str(run)
    m["test_log"] = test_log(run)
    return m
