"""imgclass's linear classifiers vs scikit-learn's LogisticRegression on Fashion-MNIST (run by hand).

Same split (5,000-image validation part held out, seed 0), features
standardized per pixel with training statistics, float32, one run; the
test split is scored once per model. Hyperparameters of the imgclass models
were chosen on the validation split (see ``imgclass linear sweep``).

    python benchmarks/linear_fashion.py

Ends with one JSON line of figures.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from imgclass.linear.estimators import LinearSVM, SoftmaxClassifier
from imgclass.linear.run import prepare

# name: (estimator, normalization, hyperparameters), each the best on the validation split of a small
# search (constant learning rate with Polyak-Ruppert averaging over the second half of the iterations)
RECIPES = {
    "softmax": (SoftmaxClassifier, "pixel", dict(learning_rate=0.2, reg=1e-4, num_iters=3000, batch_size=200,
                                                 sampling="epochs", averaging=0.5)),
    "svm": (LinearSVM, "pixel", dict(learning_rate=2e-2, reg=3e-5, num_iters=6000, batch_size=100,
                                     sampling="epochs", averaging=0.5)),
}


def timed_fit(model, x, y):
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # lbfgs stops at max_iter=100, as by default
        model.fit(x, y)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    ds, split, pre, xtr, xval, xte = prepare("fashion-mnist", val=5000, seed=args.seed)
    figures = {"train_size": len(xtr), "features": xtr.shape[1]}
    rows = []
    lr = LogisticRegression()  # lbfgs, C=1.0, max_iter=100: scikit-learn's defaults
    t = timed_fit(lr, xtr, split.y_train)
    figures.update(sklearn_lr_seconds=round(t, 2), sklearn_lr_val=round(lr.score(xval, split.y_val), 4),
                   sklearn_lr_test=round(lr.score(xte, split.y_test), 4))
    rows.append(("sklearn LogisticRegression (lbfgs)", t, figures["sklearn_lr_val"], figures["sklearn_lr_test"]))
    for name, (cls, normalize, params) in RECIPES.items():
        if normalize != "pixel":
            _, _, _, xtr, xval, xte = prepare("fashion-mnist", val=5000, seed=args.seed, normalize=normalize)
        est = cls(random_state=args.seed, dtype="float32", **params)
        t = timed_fit(est, xtr, split.y_train)
        val, test = round(est.score(xval, split.y_val), 4), round(est.score(xte, split.y_test), 4)
        figures.update({f"{name}_seconds": round(t, 2), f"{name}_val": val, f"{name}_test": test,
                        f"{name}_speedup_vs_sklearn_lr": round(figures["sklearn_lr_seconds"] / t, 1)})
        rows.append((f"imgclass {cls.__name__}", t, val, test))
    print(f"fashion-mnist, {len(xtr)} train / {len(xval)} val / {len(xte)} test, {xtr.shape[1]} features")
    print(f"{'model':<38}{'fit s':>8}{'val acc':>9}{'test acc':>10}")
    for label, t, val, test in rows:
        print(f"{label:<38}{t:>8.2f}{val:>9.4f}{test:>10.4f}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
