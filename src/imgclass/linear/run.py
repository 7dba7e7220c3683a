"""``imgclass linear``: train (or sweep) a linear classifier on a dataset and write a run directory.

The run directory (kind ``linear`` or ``linear-sweep``, see :mod:`imgclass.runs`) holds
``config.json`` (the :class:`~imgclass.linear.config.LinearConfig` or
:class:`~imgclass.linear.config.LinearSweepConfig`), ``data.json``, the model (``model.npz``),
the preprocessing (``preprocessor.npz``, so predictions on new images are normalized exactly as
training data was), ``results.json``, the test evaluation and the plots; a sweep adds its
records (``sweep.json``, ``best_weights.npz``). The test split is evaluated once, at the end,
after any model selection on the validation split.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from imgclass.data import Preprocessor, zca_matrix
from imgclass.errors import ImgclassError
from imgclass.linear.config import LinearConfig, LinearSweepConfig
from imgclass.linear.estimators import LinearSVM, SoftmaxClassifier
from imgclass.linear.plots import plot_sweep, save_linear_plots
from imgclass.linear.sweep import sweep
from imgclass.runs import Run, hyperparameters, rebuild_split, record_test, results
from imgclass.runs.files import DATA, MODEL_NPZ, PREPROCESSOR, RESULTS, SWEEP, SWEEP_WEIGHTS
from imgclass.runs.models import LinearScorer

ESTIMATORS = {"svm": LinearSVM, "softmax": SoftmaxClassifier}
ENGINE = "numpy (linear SGD)"


def prepare(cfg: LinearConfig | LinearSweepConfig, dtype: str | None = None):
    """Split and preprocess: returns (split, preprocessor, x_train, x_val, x_test), rows flattened.

    ``cfg.gamma`` raises the [0, 1] intensities to that power before normalization (see :class:`Preprocessor`).
    """
    split = rebuild_split(cfg)
    pre = Preprocessor(normalize=cfg.normalize, flatten=True, dtype=dtype or cfg.dtype, gamma=cfg.gamma)
    pre.fit(split.x_train)
    return split, pre, pre.transform(split.x_train), pre.transform(split.x_val), pre.transform(split.x_test)


def _run_name(prefix: str, cfg) -> str:
    return f"{prefix}-{cfg.loss}-{cfg.dataset.replace(':', '_').replace('/', '_')}"


def _write_model(run: Run, est, pre: Preprocessor, split) -> None:
    est.save(run.file(MODEL_NPZ))
    pre.save(run.file(PREPROCESSOR))
    run.write(DATA, {"dataset": split.name, "classes": split.classes, "image_shape": list(split.x_train.shape[1:]),
                     "sizes": split.sizes()})


def _test_once(run: Run, est, x_test: np.ndarray, split) -> dict:
    """The one evaluation on the test split, recorded in the run (scores, log, metrics, plots)."""
    scores = LinearScorer(est, split.num_classes).scores(x_test)
    return record_test(run, scores, split.y_test, split.x_test, split.classes, by="linear")


def with_bias_column(x: np.ndarray) -> np.ndarray:
    """(N, D) -> (N, D + 1): the bias trick, as a sweep trains."""
    return np.hstack([x, np.ones((len(x), 1), x.dtype)])


def whitened(cfg, xtr: np.ndarray, xval: np.ndarray):
    """``(Z, xtr Z, xval Z)`` with ``cfg.whiten`` (Z fitted on ``xtr``), else ``(None, xtr, xval)``."""
    if not cfg.whiten:
        return None, xtr, xval
    zca = zca_matrix(xtr, cfg.whiten)
    return zca, xtr @ zca, xval @ zca


def choose_lr_reg(cfg: LinearConfig, split, xtr: np.ndarray, xval: np.ndarray, progress: bool = True):
    """The (lr, reg) of ``cfg.candidates()`` with the best validation accuracy, all trained as one stack.

    Each candidate trains as the final model will (same iterations, batches and seed; constant learning
    rate, no averaging), so the choice costs about as much as one fit of a few configs. Returns
    ``(lr, reg, SweepResult)``.
    """
    if not len(split.y_val):
        raise ImgclassError(f"--{' and --'.join(cfg.searched)} are chosen on the validation split: give them, "
                            "or keep --val above 0")
    found = sweep(with_bias_column(xtr), split.y_train, with_bias_column(xval), split.y_val, cfg.candidates(),
                  loss=cfg.loss, num_iters=cfg.iters, batch_size=cfg.batch_size, seed=cfg.seed, sampling=cfg.sampling,
                  progress=progress)
    return found.best["lr"], found.best["reg"], found


def fit_linear(cfg: LinearConfig, split, xtr: np.ndarray, xval: np.ndarray, progress: bool = True):
    """The model ``cfg`` describes, fitted on the preprocessed rows ``xtr``: ``(estimator, lr, reg, found)``.

    A ``cfg.lr`` or ``cfg.reg`` left out is chosen on ``xval`` first (:func:`choose_lr_reg`; ``found`` is its
    :class:`~imgclass.linear.sweep.SweepResult`, None when nothing was chosen). With ``cfg.whiten``, choice
    and fit see the ZCA-whitened rows ``x Z`` (:func:`imgclass.data.zca_matrix`) and the fitted weights are
    mapped back (``W Z``), so the estimator returned scores the rows ``x`` themselves.
    """
    zca, ftr, fval = whitened(cfg, xtr, xval)
    lr, reg, found = cfg.lr, cfg.reg, None
    if cfg.searched:
        lr, reg, found = choose_lr_reg(cfg, split, ftr, fval, progress)
    est = ESTIMATORS[cfg.loss](**cfg.estimator_params(lr, reg), verbose=progress)
    try:
        est.fit(ftr, split.y_train)
    except ValueError as e:  # scikit-learn's convention inside the estimator; one clear message outside
        raise ImgclassError(str(e)) from e
    if zca is not None:  # scores (x Z) Wᵀ + b = x (W Z)ᵀ + b, Z symmetric: the model on the rows x
        est.coef_ = np.ascontiguousarray(est.coef_ @ zca)
    return est, lr, reg, found


def train_linear(cfg: LinearConfig, *, out_root: str | Path = "runs", progress: bool = True) -> dict:
    """Train one linear classifier; write its run directory; return its results (:mod:`imgclass.runs.schema`).

    The model is :func:`fit_linear`'s: ``lr``/``reg`` chosen on the validation split when left out, and with
    ``cfg.whiten`` trained on whitened pixels but saved (and scored, and drawn as templates) on the pixels.
    """
    split, pre, xtr, xval, xte = prepare(cfg)
    t0 = time.perf_counter()
    est, lr, reg, found = fit_linear(cfg, split, xtr, xval, progress)
    selection = None if found is None else {
        "searched": cfg.searched, "configs": len(found.records), "seconds": round(found.seconds, 2),
        "records": [{k: r[k] for k in ("lr", "reg", "val_acc", "train_acc", "diverged")} for r in found.records]}
    t_fit = t0 + (0.0 if found is None else found.seconds)
    t_end = time.perf_counter()
    run = Run.create("linear", cfg.to_dict(), root=out_root, name=_run_name("linear", cfg))
    _write_model(run, est, pre, split)
    train_acc = est.score(xtr, split.y_train)
    val_acc = est.score(xval, split.y_val) if len(split.y_val) else None
    tested = _test_once(run, est, xte, split)  # once, after everything else
    plots = save_linear_plots(est, split.x_train.shape[1:], split.classes, run.plots, f"{cfg.loss} on {split.name}")
    result = results(
        "linear", run.path, dataset=split.name, model=f"linear {cfg.loss}", engine=ENGINE,
        parameters=int(est.coef_.size + est.intercept_.size), seed=cfg.seed, train_size=len(split.y_train),
        val_size=len(split.y_val), test_size=len(split.y_test), train_accuracy=train_acc, val_accuracy=val_acc,
        test_accuracy=tested["accuracy"], train_seconds=t_end - t0,
        hyperparameters={**hyperparameters(cfg.to_dict()), "lr": lr, "reg": reg}, tuned=cfg.searched,
        plots=[*plots.values(), *tested["plots"]], lr=lr, reg=reg, fit_seconds=round(t_end - t_fit, 2),
        selection=selection, best_class=tested["best_class"], worst_class=tested["worst_class"])
    run.write(RESULTS, result)
    return result


def estimator_from_weights(loss: str, W: np.ndarray, history, **params):
    """A fitted estimator from bias-trick weights W (C, D + 1), as a sweep produces them."""
    est = ESTIMATORS[loss](bias="trick", **params)
    est.coef_, est.intercept_ = np.ascontiguousarray(W[:, :-1]), W[:, -1].copy()
    est.classes_ = np.arange(W.shape[0])
    est.n_features_in_ = W.shape[1] - 1
    est.loss_history_ = np.asarray(history)
    return est


def sweep_linear(cfg: LinearSweepConfig, *, out_root: str | Path = "runs", progress: bool = True) -> dict:
    """Train every (lr, reg) config as one batched stack, pick the best on validation, test it once.

    With ``cfg.whiten`` the stack trains on the ZCA-whitened rows and the best weights are mapped back to the
    pixels (as :func:`fit_linear` does), so the saved model, its templates and ``best_weights.npz`` are on them.
    """
    configs = cfg.pairs()
    split, pre, xtr, xval, xte = prepare(cfg)
    if not len(split.y_val):
        raise ImgclassError("a sweep selects on the validation split: use --val > 0")
    zca, ftr, fval = whitened(cfg, xtr, xval)
    found = sweep(with_bias_column(ftr), split.y_train, with_bias_column(fval), split.y_val, configs, loss=cfg.loss,
                  num_iters=cfg.iters, batch_size=cfg.batch_size, seed=cfg.seed, sampling=cfg.sampling,
                  progress=progress)
    if zca is not None:  # the bias column stays; (x Z) wᵀ = x (w Z)ᵀ, Z symmetric
        found.best_W = np.hstack([found.best_W[:, :-1] @ zca, found.best_W[:, -1:]])
    best = found.best
    est = estimator_from_weights(cfg.loss, found.best_W, found.history[:, found.best_index],
                                 learning_rate=best["lr"], reg=best["reg"], num_iters=cfg.iters,
                                 batch_size=cfg.batch_size, sampling=cfg.sampling, dtype=cfg.dtype,
                                 random_state=cfg.seed)
    run = Run.create("linear-sweep", cfg.to_dict(), root=out_root, name=_run_name("linear-sweep", cfg))
    found.save(run.file(SWEEP), run.file(SWEEP_WEIGHTS))
    _write_model(run, est, pre, split)
    tested = _test_once(run, est, xte, split)  # once, for the best
    plots = {**plot_sweep(found, run.plots),
             **save_linear_plots(est, split.x_train.shape[1:], split.classes, run.plots,
                                 f"best {cfg.loss} on {split.name}")}
    result = results(
        "linear-sweep", run.path, dataset=split.name, model=f"linear {cfg.loss} (best of {len(configs)} configs)",
        engine=ENGINE, parameters=int(est.coef_.size + est.intercept_.size), seed=cfg.seed,
        train_size=len(split.y_train), val_size=len(split.y_val), test_size=len(split.y_test),
        train_accuracy=best["train_acc"], val_accuracy=best["val_acc"], test_accuracy=tested["accuracy"],
        train_seconds=found.seconds, hyperparameters={**hyperparameters(cfg.to_dict()), "lr": best["lr"],
                                                      "reg": best["reg"]},
        tuned=["lr", "reg"], plots=[*plots.values(), *tested["plots"]], configs=len(configs),
        diverged=sum(bool(r.get("diverged")) for r in found.records), lr=best["lr"], reg=best["reg"],
        best_class=tested["best_class"], worst_class=tested["worst_class"])
    run.write(RESULTS, result)
    return result
