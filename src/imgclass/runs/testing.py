"""The test split is used once: its scores are stored when a run ends, and every use is logged.

A run's one test evaluation happens when training ends (:func:`record_test`): the scores go to
``test_scores.npz``, the event is appended to ``test_log.json``, and the metrics and plots are
written (``test_metrics.json``, ``plots/confusion.png`` ...). Reports are then made from the stored
scores (:func:`stored_scores`, :func:`write_test_metrics`) without looking at the test labels again;
recomputing them is another entry in the log, so any repeated use is visible.
"""

from __future__ import annotations

import io
import time
import zipfile

import numpy as np

from imgclass.errors import ImgclassError
from imgclass.fileio import atomic_write
from imgclass.metrics import classification_metrics, confident_mistakes
from imgclass.metrics.plots import save_evaluation_plots
from imgclass.runs.files import TEST_LOG, TEST_METRICS, TEST_SCORES
from imgclass.runs.layout import Run


def write_test_metrics(run: Run, scores: np.ndarray, y: np.ndarray, images: np.ndarray, classes: list[str],
                       loss: float | None = None) -> dict:
    """Metrics, confident mistakes and plots of test scores; ``test_metrics.json`` written; returns the metrics."""
    m = classification_metrics(y, scores, classes)
    mistakes = confident_mistakes(y, scores, k=24)
    plots = save_evaluation_plots(m, mistakes, images, classes, run.plots)
    m["mistakes"] = mistakes
    m["plots"] = [str(p) for p in plots.values()]
    m["loss"] = loss
    run.write(TEST_METRICS, m)
    m["test_uses"] = len(run.test_log())
    return m


def record_test(run: Run, scores: np.ndarray, y: np.ndarray, images: np.ndarray, classes: list[str], *, by: str,
                loss: float | None = None) -> dict:
    """Store the test scores (N, K), log this use of the test split, write the metrics and plots."""
    buf = io.BytesIO()
    np.savez(buf, scores=np.asarray(scores, np.float32), y=np.asarray(y))
    with atomic_write(run.file(TEST_SCORES)) as f:
        f.write(buf.getvalue())
    log = run.test_log() + [{"by": by, "time": time.strftime("%Y-%m-%dT%H:%M:%S"), "images": int(len(y))}]
    run.write(TEST_LOG, log)
    return write_test_metrics(run, scores, y, images, classes, loss)


def stored_scores(run: Run) -> tuple[np.ndarray, np.ndarray] | None:
    """The stored (scores, labels) of the run's test evaluation, or None if it was never tested."""
    if not run.has(TEST_SCORES):
        return None
    try:
        with np.load(run.file(TEST_SCORES), allow_pickle=False) as z:
            return z["scores"], z["y"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
        raise ImgclassError(f"{run.file(TEST_SCORES)}: the stored test scores are damaged ({e}); they cannot be "
                            "recomputed without using the test split again: restore the file, or train a new run") \
            from None
