"""Choose ``--gamma`` for the linear classifiers by 5-fold cross-validation on Fashion-MNIST's training images.

Run by hand (not part of the tests)::

    python benchmarks/linear_gamma_cv.py [--gammas 1,0.5,0.4,0.3,0.25] [--folds 5]

The 60,000 training images (the train and validation parts of the usual
split, never the test split) are cut into seeded folds; for each power
``gamma`` and each model, every fold is scored by a model fitted on the
others, with the preprocessing (``intensities ** gamma``, then per-pixel
standardization) fitted on those others only, exactly as ``imgclass linear``
does. The hyperparameters are the recipes of ``benchmarks/linear_fashion.py``
for that feature set. Prints mean ± std of the fold accuracies; the last line
is one JSON object holding every figure.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from sklearn.model_selection import StratifiedKFold

from linear_fashion import RECIPES  # benchmarks/ is on sys.path when this file is run as a script

from imgclass.data import Preprocessor, load, make_split

# name: (estimator, hyperparameters at gamma = 1, at gamma < 1): the recipes of linear_fashion.py
MODELS = {name: (RECIPES[name][0], RECIPES[name][2], RECIPES[f"{name}_gamma"][2]) for name in ("svm", "softmax")}


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--gammas", default="1,0.5,0.4,0.3,0.25",
                   help="comma-separated powers to compare (default: 1,0.5,0.4,0.3,0.25)")
    p.add_argument("--models", default="svm,softmax", help="comma-separated: svm, softmax (default: both)")
    p.add_argument("--folds", type=int, default=5, help="cross-validation folds (default: 5)")
    p.add_argument("--seed", type=int, default=0, help="seed of the folds and of SGD (default: 0)")
    return p


def cv_accuracy(cls, params: dict, x: np.ndarray, y: np.ndarray, gamma: float, folds, seed: int) -> list[float]:
    """Fold accuracies of ``cls(**params)`` on uint8 images ``x`` (N, C, H, W) with power ``gamma``."""
    scores = []
    for k, (fit_idx, score_idx) in enumerate(folds):
        pre = Preprocessor(normalize="pixel", flatten=True, dtype="float32", gamma=gamma).fit(x[fit_idx])
        est = cls(random_state=seed + k, dtype="float32", **params).fit(pre.transform(x[fit_idx]), y[fit_idx])
        scores.append(float(est.score(pre.transform(x[score_idx]), y[score_idx])))
    return scores


def main(args: argparse.Namespace) -> dict:
    gammas = [float(g) for g in args.gammas.split(",")]
    models = [m.strip() for m in args.models.split(",")]
    split = make_split(load("fashion-mnist"), val=5000, seed=args.seed)
    x = np.concatenate([split.x_train, split.x_val])  # (60000, 1, 28, 28) uint8: no test image
    y = np.concatenate([split.y_train, split.y_val])
    folds = list(StratifiedKFold(args.folds, shuffle=True, random_state=args.seed).split(np.zeros(len(y)), y))
    figures: dict = {"folds": args.folds, "images": len(y), "results": []}
    print(f"fashion-mnist training images: {len(y)}, {args.folds}-fold cross-validation, mean ± std of fold accuracy")
    print(f"{'model':<10}{'gamma':>7}{'cv accuracy':>18}{'seconds':>10}")
    for name in models:
        cls, raw, powered = MODELS[name]
        for gamma in gammas:
            t0 = time.perf_counter()
            acc = cv_accuracy(cls, raw if gamma == 1 else powered, x, y, gamma, folds, args.seed)
            seconds = time.perf_counter() - t0
            print(f"{name:<10}{gamma:>7.2f}{np.mean(acc):>12.4f} ± {np.std(acc):.4f}{seconds:>10.1f}", flush=True)
            figures["results"].append({"model": name, "gamma": gamma, "cv_mean": round(float(np.mean(acc)), 4),
                                       "cv_std": round(float(np.std(acc)), 4), "seconds": round(seconds, 1)})
    for name in models:
        rows = [r for r in figures["results"] if r["model"] == name]
        figures[f"best_gamma_{name}"] = max(rows, key=lambda r: r["cv_mean"])["gamma"]
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main(get_args_parser().parse_args())
