"""``imgclass linear``: train (or sweep) a linear classifier on a dataset and write a run directory.

The run directory holds ``config.json``, ``results.json``, the model
(``model.npz``), the preprocessing (``preprocessor.npz``, so predictions on
new images are normalized exactly as training data was) and the plots. The
test split is evaluated once, at the end, after any model selection on the
validation split.
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import numpy as np

from imgclass.data import Preprocessor, load, make_split
from imgclass.errors import ImgclassError
from imgclass.fileio import new_run_dir, write_json
from imgclass.linear.estimators import LinearSVM, SoftmaxClassifier
from imgclass.linear.plots import save_linear_plots

ESTIMATORS = {"svm": LinearSVM, "softmax": SoftmaxClassifier}


def prepare(dataset: str, *, val: float | int = 0.1, seed: int = 0, normalize: str = "pixel",
            dtype: str = "float32", gamma: float = 1.0, data_options: dict | None = None):
    """Load, split and preprocess: returns (dataset, split, preprocessor, x_train, x_val, x_test), rows flattened.

    ``gamma`` raises the [0, 1] intensities to that power before normalization (see :class:`Preprocessor`).
    """
    ds = load(dataset, **(data_options or {}))
    split = make_split(ds, val=val, seed=seed)
    pre = Preprocessor(normalize=normalize, flatten=True, dtype=dtype, gamma=gamma).fit(split.x_train)
    return ds, split, pre, pre.transform(split.x_train), pre.transform(split.x_val), pre.transform(split.x_test)


def train_linear(dataset: str, loss: str = "softmax", *, learning_rate: float = 1e-3, reg: float = 1e-5,
                 num_iters: int = 1500, batch_size: int = 200, sampling: str = "replacement", bias: str = "vector",
                 val: float | int = 0.1, seed: int = 0, normalize: str = "pixel", dtype: str = "float32",
                 gamma: float = 1.0, lr_decay: float = 1.0, averaging: float | None = None,
                 out_root: str | Path = "runs", data_options: dict | None = None, progress: bool = True) -> dict:
    """Train one linear classifier; write its run directory; return the figures.

    ``lr_decay`` and ``averaging`` are passed to the estimator (see :func:`imgclass.linear.sgd.sgd_fit`),
    ``gamma`` to the preprocessing.
    """
    ds, split, pre, xtr, xval, xte = prepare(dataset, val=val, seed=seed, normalize=normalize, dtype=dtype,
                                             gamma=gamma, data_options=data_options)
    est = ESTIMATORS[loss](learning_rate=learning_rate, reg=reg, num_iters=num_iters, batch_size=batch_size,
                           sampling=sampling, bias=bias, dtype=dtype, lr_decay=lr_decay, averaging=averaging,
                           random_state=seed, verbose=progress)
    t0 = time.perf_counter()
    try:
        est.fit(xtr, split.y_train)
    except ValueError as e:  # scikit-learn's convention inside the estimator; one clear message outside
        raise ImgclassError(str(e)) from e
    seconds = time.perf_counter() - t0
    run = new_run_dir(out_root, f"linear-{loss}-{ds.name.replace(':', '_').replace('/', '_')}")
    config = {"command": "linear train", "dataset": ds.name, "loss": loss, "params": est.get_params(),
              "val": val, "seed": seed, "normalize": normalize, "gamma": gamma, "image_shape": list(ds.image_shape),
              "classes": ds.classes}
    write_json(run / "config.json", config)
    est.save(run / "model.npz")
    pre.save(run / "preprocessor.npz")
    result = {
        "dataset": ds.name, "loss": loss, "train_size": len(split.y_train), "val_size": len(split.y_val),
        "train_accuracy": round(float(est.score(xtr, split.y_train)), 4),
        "val_accuracy": round(float(est.score(xval, split.y_val)), 4) if len(split.y_val) else None,
        "fit_seconds": round(seconds, 2),
    }
    result["test_accuracy"] = round(float(est.score(xte, split.y_test)), 4)  # once, after everything else
    result["test_set_used"] = True
    plots = save_linear_plots(est, ds.image_shape, ds.classes, run / "plots", f"{loss} on {ds.name}")
    result.update({k: str(v) for k, v in plots.items()})
    result["run_dir"] = str(run)
    write_json(run / "results.json", result)
    return result


def estimator_from_weights(loss: str, W: np.ndarray, history, **params):
    """A fitted estimator from bias-trick weights W (C, D + 1), as a sweep produces them."""
    est = ESTIMATORS[loss](bias="trick", **params)
    est.coef_, est.intercept_ = np.ascontiguousarray(W[:, :-1]), W[:, -1].copy()
    est.classes_ = np.arange(W.shape[0])
    est.n_features_in_ = W.shape[1] - 1
    est.loss_history_ = np.asarray(history)
    return est


def sweep_linear(dataset: str, loss: str = "softmax", *, configs: list[tuple[float, float]], num_iters: int = 300,
                 batch_size: int = 200, sampling: str = "replacement", val: float | int = 0.1, seed: int = 0,
                 normalize: str = "pixel", dtype: str = "float32", gamma: float = 1.0, out_root: str | Path = "runs",
                 data_options: dict | None = None, progress: bool = True) -> dict:
    """Train every (lr, reg) config as one batched stack, pick the best on validation, test it once."""
    from imgclass.linear.plots import plot_sweep
    from imgclass.linear.sweep import sweep

    ds, split, pre, xtr, xval, xte = prepare(dataset, val=val, seed=seed, normalize=normalize, dtype=dtype,
                                             gamma=gamma, data_options=data_options)
    if not len(split.y_val):
        raise ImgclassError("a sweep selects on the validation split: use --val > 0")
    ones = [np.ones((len(a), 1), a.dtype) for a in (xtr, xval, xte)]
    xtr, xval, xte = (np.hstack([a, o]) for a, o in zip((xtr, xval, xte), ones))  # bias trick: (N, D) -> (N, D+1)
    result = sweep(xtr, split.y_train, xval, split.y_val, configs, loss=loss, num_iters=num_iters,
                   batch_size=batch_size, seed=seed, sampling=sampling, progress=progress)
    run = new_run_dir(out_root, f"linear-sweep-{loss}-{ds.name.replace(':', '_').replace('/', '_')}")
    best = result.best
    est = estimator_from_weights(loss, result.best_W, result.history[:, result.best_index],
                                 learning_rate=best["lr"], reg=best["reg"], num_iters=num_iters,
                                 batch_size=batch_size, sampling=sampling, dtype=dtype, random_state=seed)
    write_json(run / "config.json", {"command": "linear sweep", "dataset": ds.name, "loss": loss,
                                     "configs": [list(c) for c in configs], "num_iters": num_iters,
                                     "batch_size": batch_size, "sampling": sampling, "val": val, "seed": seed,
                                     "normalize": normalize, "gamma": gamma, "image_shape": list(ds.image_shape),
                                     "classes": ds.classes})
    result.save(run)
    est.save(run / "model.npz")
    pre.save(run / "preprocessor.npz")
    out = {
        "dataset": ds.name, "loss": loss, "configs": len(configs),
        "diverged": sum(bool(r.get("diverged")) for r in result.records),
        "sweep_seconds": round(result.seconds, 2),
        "best_lr": best["lr"], "best_reg": best["reg"],
        "best_train_accuracy": round(float(best["train_acc"]), 4), "best_val_accuracy": round(float(best["val_acc"]), 4),
    }
    out["test_accuracy"] = round(float(np.mean(est.predict(xte[:, :-1]) == split.y_test)), 4)  # once, for the best
    out["test_set_used"] = True
    paths = {**plot_sweep(result, run / "plots"),
             **save_linear_plots(est, ds.image_shape, ds.classes, run / "plots", f"best {loss} on {ds.name}")}
    out.update({f"{k}_plot" if not k.endswith("_plot") else k: str(v) for k, v in paths.items()})
    out["run_dir"] = str(run)
    write_json(run / "results.json", out)
    return out
