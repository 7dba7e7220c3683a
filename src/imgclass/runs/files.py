"""The names of a run directory's files, and reading them (:func:`read_json`).

Only :mod:`imgclass.runs` uses these names; everything else opens a run through
:class:`imgclass.runs.Run`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from imgclass.errors import ImgclassError

CONFIG = "config.json"  # what was asked for, with "kind"
RESULTS = "results.json"  # the figures, one schema for every kind (imgclass.runs.schema)
DATA = "data.json"  # dataset name, class names, image shape (C, H, W), split sizes
PREPROCESSOR = "preprocessor.npz"  # the normalization fitted on the training split
METRICS = "metrics.csv"  # one row per evaluation point
CHECKPOINT = "checkpoint.pt"  # everything needed to resume
MODEL_NPZ, MODEL_PT = "model.npz", "model.pt"  # the final weights (numpy engine and linear runs; torch engine)
TEST_SCORES, TEST_LOG, TEST_METRICS = "test_scores.npz", "test_log.json", "test_metrics.json"
SWEEP = "sweep.json"  # a sweep's record: every trial (Optuna) or every (lr, reg) config (linear)
SWEEP_WEIGHTS = "best_weights.npz"  # a linear sweep's best weights
PLOTS = "plots"
REPORT = "report.html"
LOCK = ".lock"  # held (flock) by the process that trains or tests the run; holds its pid

KINDS = ("train", "seeds", "linear", "linear-sweep", "sweep", "study")
STUDIES = ("train-fraction", "baselines")


def read_json(path: str | os.PathLike, required: bool = False):
    """The parsed file, or None if it is absent (an error if ``required``); bad JSON is an ImgclassError."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        if required:
            raise ImgclassError(f"{path} is missing; was the run interrupted? (rerun the command that wrote it)") \
                from None
        return None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ImgclassError(f"{path}: not valid JSON ({e}); rerun the command that wrote it") from None
    except OSError as e:
        raise ImgclassError(f"{path}: unreadable ({e.strerror or e})") from None


def resolve(parent: str | os.PathLike, path: str | None) -> Path | None:
    """A path recorded in a run file, found again under ``parent`` if the directory tree was moved.

    ``/old/place/sweep/trials/trial-3`` is looked for as ``parent/trial-3``, then ``parent/trials/trial-3``, ...
    """
    if not path:
        return None
    p = Path(path)
    if p.exists():
        return p
    for k in range(1, len(p.parts)):
        moved = Path(parent).joinpath(*p.parts[-k:])
        if moved.exists():
            return moved
    return p
