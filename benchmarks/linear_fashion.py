"""imgclass's linear classifiers vs scikit-learn's LogisticRegression on Fashion-MNIST (run by hand).

Same split (5,000-image validation part held out, seed 0), float32, one
run; the test split is scored once per model. Two feature sets, each
standardized per pixel with training statistics:

* ``raw``: the [0, 1] intensities;
* ``gamma``: the intensities raised to the power 0.3 first (``--gamma 0.3``).

LogisticRegression is fitted on both, so every imgclass model is compared
with it on the features it was given. Hyperparameters (and the power 0.3)
were chosen without the test split: the raw recipes on the validation split
(see ``imgclass linear sweep``), the gamma recipes by 5-fold cross-validation
on the 60,000 training images (``benchmarks/linear_gamma_cv.py``: SVM 0.866,
softmax 0.868 mean accuracy at gamma 0.3; raw intensities gave 0.853-0.856).

    python benchmarks/linear_fashion.py

Ends with one JSON line of figures.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from imgclass.linear.estimators import LinearSVM, SoftmaxClassifier
from imgclass.linear.config import LinearConfig
from imgclass.linear.run import prepare

FEATURES = {"raw": 1.0, "gamma": 0.3}  # name: power of the [0, 1] intensities
# name: (estimator, features, hyperparameters); constant learning rate with Polyak-Ruppert averaging over
# the second half of the iterations
RECIPES = {
    "softmax": (SoftmaxClassifier, "raw", dict(learning_rate=0.2, reg=1e-4, num_iters=3000, batch_size=200,
                                               sampling="epochs", averaging=0.5)),
    "svm": (LinearSVM, "raw", dict(learning_rate=2e-2, reg=3e-5, num_iters=6000, batch_size=100,
                                   sampling="epochs", averaging=0.5)),
    "softmax_gamma": (SoftmaxClassifier, "gamma", dict(learning_rate=0.2, reg=1e-3, num_iters=3000, batch_size=200,
                                                       sampling="epochs", averaging=0.5)),
    "svm_gamma": (LinearSVM, "gamma", dict(learning_rate=2e-2, reg=1e-3, num_iters=6000, batch_size=100,
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
    ap.add_argument("--seed", type=int, default=0, help="seed of the split and of SGD (default: 0)")
    args = ap.parse_args()
    data, figures, rows = {}, {}, []
    for feats, gamma in FEATURES.items():
        split, pre, xtr, xval, xte = prepare(LinearConfig(dataset="fashion-mnist", val=5000, seed=args.seed,
                                                          gamma=gamma))
        data[feats] = (xtr, xval, xte)
        lr = LogisticRegression()  # lbfgs, C=1.0, max_iter=100: scikit-learn's defaults
        t = timed_fit(lr, xtr, split.y_train)
        key = "sklearn_lr" if feats == "raw" else f"sklearn_lr_{feats}"
        figures.update({f"{key}_seconds": round(t, 2), f"{key}_val": round(lr.score(xval, split.y_val), 4),
                        f"{key}_test": round(lr.score(xte, split.y_test), 4)})
        rows.append((f"sklearn LogisticRegression (lbfgs), {feats}", t, figures[f"{key}_val"], figures[f"{key}_test"]))
    figures.update(train_size=len(xtr), features=xtr.shape[1], gamma=FEATURES["gamma"])
    for name, (cls, feats, params) in RECIPES.items():
        xtr, xval, xte = data[feats]
        est = cls(random_state=args.seed, dtype="float32", **params)
        t = timed_fit(est, xtr, split.y_train)
        val, test = round(est.score(xval, split.y_val), 4), round(est.score(xte, split.y_test), 4)
        ref = "sklearn_lr" if feats == "raw" else f"sklearn_lr_{feats}"  # LogisticRegression on the same features
        figures.update({f"{name}_seconds": round(t, 2), f"{name}_val": val, f"{name}_test": test,
                        f"{name}_speedup_vs_sklearn_lr": round(figures[f"{ref}_seconds"] / t, 1),
                        f"{name}_test_minus_sklearn_lr": round(test - figures[f"{ref}_test"], 4)})
        rows.append((f"imgclass {cls.__name__}, {feats}", t, val, test))
    print(f"fashion-mnist, {len(xtr)} train / {len(xval)} val / {len(xte)} test, {xtr.shape[1]} features; "
          f"gamma = intensities ** {FEATURES['gamma']}")
    print(f"{'model':<46}{'fit s':>8}{'val acc':>9}{'test acc':>10}")
    for label, t, val, test in rows:
        print(f"{label:<46}{t:>8.2f}{val:>9.4f}{test:>10.4f}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
