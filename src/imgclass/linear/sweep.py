"""Hyperparameter sweeps for linear classifiers: every (lr, reg) config trained at once as one stack.

All configs start from the same initial ``W`` and see the same minibatches,
so they differ only by learning rate and regularization strength. Training
is the update of :func:`imgclass.linear.sgd.sgd_fit` (``W -= lr * dW``, its
minibatch sampling) applied to a stack ``W`` (K, C, D) in one batched
computation per step. A config whose loss stops being finite is recorded as
diverged and dropped from the stack; the others train on.

>>> configs = grid([1e-3, 1e-2], [1e-4, 1e-2])              # or random_configs(50, seed=0)
>>> result = sweep(x_train, y_train, x_val, y_val, configs, num_iters=500)
>>> result.best                                               # the record with the best val accuracy
>>> result.save("records.json", "weights.npz")   # plots: imgclass.linear.plots.plot_sweep(result, "plots")
"""

from __future__ import annotations

import inspect
import math
import time

import numpy as np
from tqdm.auto import tqdm

from imgclass.errors import ImgclassError
from imgclass.linear.losses import _is_torch
from imgclass.linear.results import SweepResult
from imgclass.linear.search import check_pair
from imgclass.linear.sgd import SAMPLING, _batch_indices, loss_function

STACK_BYTES = 1 << 30  # default chunk: keep the training stack and its temporaries under ~1 GB
EVAL_BYTES = 1 << 28  # scores (K, rows, C) per block when computing accuracies




def _check_inputs(X_train, y_train, X_val, y_val):
    """Same backend for both X, labels converted to it; returns (y_train, y_val, num_classes)."""
    torch_x = _is_torch(X_train)
    if torch_x != _is_torch(X_val):
        raise ImgclassError("X_train and X_val must both be NumPy arrays or both torch tensors")
    for name, X in (("X_train", X_train), ("X_val", X_val)):
        if X.ndim != 2:
            raise ImgclassError(f"{name} must be 2-D (N, D), preprocessed and flattened; got shape {tuple(X.shape)}")
        floating = X.is_floating_point() if torch_x else np.issubdtype(X.dtype, np.floating)
        if not floating:
            raise ImgclassError(f"{name} must be floating point (use a Preprocessor), got {X.dtype}")
    if X_train.shape[1] != X_val.shape[1]:
        raise ImgclassError(f"X_train and X_val must have the same D; got {X_train.shape[1]} and {X_val.shape[1]}")
    if len(X_train) == 0 or len(X_val) == 0:
        raise ImgclassError("a sweep needs non-empty training and validation sets (configs are chosen on validation)")
    ys = []
    for name, y, X in (("y_train", y_train, X_train), ("y_val", y_val, X_val)):
        y_np = y.detach().cpu().numpy() if _is_torch(y) else np.asarray(y)
        if y_np.shape != (len(X),):
            raise ImgclassError(f"{name} must be ({len(X)},), one label per row, got {tuple(y_np.shape)}")
        if not np.issubdtype(y_np.dtype, np.integer) or y_np.min() < 0:
            raise ImgclassError(f"{name} must hold integer class labels >= 0")
        if torch_x:
            import torch

            y = torch.as_tensor(y_np.astype(np.int64), device=X.device)
        ys.append(y if torch_x else y_np)
    num_classes = int(max(np.asarray(ys[0].cpu() if torch_x else ys[0]).max(),
                          np.asarray(ys[1].cpu() if torch_x else ys[1]).max())) + 1
    return ys[0], ys[1], max(num_classes, 2)


def _default_chunk(k: int, c: int, d: int, batch_size: int, itemsize: int) -> int:
    per_config = itemsize * (6 * c * d + 6 * batch_size * c)  # W, dW, L2 term and temporaries; scores, probs
    return max(1, min(k, STACK_BYTES // per_config))


def _accuracy(W, X, y) -> np.ndarray:
    """Fraction of rows of X (N, D) classified right by each W (k, C, D), in blocks of rows; (k,) float64.

    The scores of all k classifiers come from one GEMM per block, ``X @ W.reshape(k*C, D)ᵀ``.
    """
    k, c, d = W.shape
    torch_x = _is_torch(X)
    rows = max(1, EVAL_BYTES // (k * c * (X.element_size() if torch_x else X.itemsize)))
    flat = W.reshape(k * c, d).T  # (D, k*C)
    correct = np.zeros(k, np.int64)
    for s in range(0, X.shape[0], rows):
        xb, yb = X[s:s + rows], y[s:s + rows]
        pred = (xb @ flat).reshape(len(xb), k, c).argmax(-1)  # (n, k*C) -> (n, k, C) -> (n, k)
        hits = (pred == yb[:, None]).sum(0)
        correct += hits.cpu().numpy() if torch_x else hits
    return correct / X.shape[0]


def _train_chunk(W, X, y, lrs, regs, fn, kw, history, cols, batches, bar):
    """Train the stack ``W`` (k, C, D); drop entries whose loss is not finite.

    Writes each step's losses into ``history[:, cols]``. Returns the trained
    survivors ``W`` (k', C, D), their positions in the chunk, and
    ``{position: 1-based iteration}`` for the diverged ones.
    """
    num_iters = history.shape[0]
    alive = np.arange(len(lrs))
    diverged = {}
    if _is_torch(W):  # W, X and y are then all torch tensors on one device
        import torch

        lr_w = torch.as_tensor(np.asarray(lrs).reshape(-1, 1, 1), dtype=W.dtype, device=W.device)
        reg = torch.as_tensor(np.asarray(regs), dtype=W.dtype, device=W.device)
    else:  # in W's dtype, as sgd_fit does for torch: float32 stays float32
        lr_w, reg = np.asarray(lrs, W.dtype).reshape(-1, 1, 1), np.asarray(regs, W.dtype)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # divergence is expected, and handled
        for it, idx in enumerate(batches):
            if _is_torch(X):
                idx = torch.as_tensor(idx, device=X.device)
            out = fn(W, X[idx], y[idx], reg, **kw)
            W -= lr_w * out[1]  # the update of sgd_fit
            value = out[0].detach().cpu().numpy() if _is_torch(out[0]) else np.asarray(out[0])
            history[it, cols[alive]] = value
            bar.update(1)
            bad = ~np.isfinite(value)
            if bad.any():
                for j in alive[bad]:
                    diverged[int(j)] = it + 1
                keep = np.flatnonzero(~bad)
                alive = alive[keep]
                if _is_torch(W):
                    keep = torch.as_tensor(keep, device=W.device)
                W, lr_w, reg = W[keep], lr_w[keep], reg[keep]
                if len(alive) == 0:
                    bar.update(num_iters - it - 1)
                    break
        finite = W.isfinite().all(-1).all(-1).cpu().numpy() if _is_torch(W) else np.isfinite(W).all(axis=(1, 2))
    if not finite.all():  # finite loss at the last step but weights blown up by the last update
        for j in alive[~finite]:
            diverged[int(j)] = num_iters
        keep = np.flatnonzero(finite)
        alive = alive[keep]
        W = W[torch.as_tensor(keep, device=W.device)] if _is_torch(W) else W[keep]
    return W, alive, diverged


def sweep(X_train, y_train, X_val, y_val, configs, *, loss: str = "softmax", num_iters: int = 1500,
          batch_size: int = 200, seed: int = 0, sampling: str = "replacement", init_std: float = 1e-4,
          chunk: int | None = None, loss_kwargs: dict | None = None, progress: bool = True) -> SweepResult:
    """Train one linear classifier per (lr, reg) config, all together, and pick the best on validation.

    Parameters
    ----------
    X_train : (N, D) float, NumPy array or torch tensor
        Preprocessed and flattened (with the bias-trick column if wanted).
    y_train : (N,) int
    X_val : (M, D), same kind as ``X_train``; y_val : (M,) int
    configs : sequence of (lr, reg)
        From :func:`grid` or :func:`random_configs`, or any pairs.
    loss : {"softmax", "svm"}
    num_iters, batch_size, seed, sampling
        As :func:`imgclass.linear.sgd.sgd_fit`; ``seed`` also draws the initial
        ``W`` (C, D) ``= init_std * default_rng(seed).standard_normal((C, D))``,
        shared by every config. C is the largest label + 1.
    chunk : int, optional
        Train this many configs at a time (bounds memory; the results do
        not depend on it). Default: as many as fit in about 1 GB.
    loss_kwargs : dict, optional
        Keyword options of the loss (``reg_convention``, ``average``, ``margin``).
    progress : bool
        Show a progress bar over iterations (all chunks).

    Returns
    -------
    SweepResult

    Raises
    ------
    ImgclassError
        Bad inputs or hyperparameters, or every config diverged.
    """
    t0 = time.perf_counter()
    fn = loss_function(loss)
    kw = dict(loss_kwargs or {})
    allowed = {p.name for p in inspect.signature(fn).parameters.values() if p.kind is p.KEYWORD_ONLY} - {"b"}
    if set(kw) - allowed:
        raise ImgclassError(f"unknown {loss} loss option(s) {sorted(set(kw) - allowed)}; "
                            f"choose from {sorted(allowed)}")
    if sampling not in SAMPLING:
        raise ImgclassError(f"sampling must be 'replacement' or 'epochs', got {sampling!r}")
    if num_iters < 1 or batch_size < 1:
        raise ImgclassError(f"num_iters and batch_size must be >= 1, got {num_iters} and {batch_size}")
    if not (math.isfinite(init_std) and init_std >= 0):
        raise ImgclassError(f"init_std must be finite and >= 0, got {init_std}")
    configs = [check_pair(cf) for cf in configs]
    if not configs:
        raise ImgclassError("no configs to sweep; pass grid(...) or random_configs(...)")
    if chunk is not None and (isinstance(chunk, bool) or not isinstance(chunk, (int, np.integer)) or chunk < 1):
        raise ImgclassError(f"chunk must be an integer >= 1 (configs trained at a time), got {chunk!r}")
    y_train, y_val, c = _check_inputs(X_train, y_train, X_val, y_val)
    torch_x = _is_torch(X_train)
    k, d = len(configs), X_train.shape[1]

    W0 = init_std * np.random.default_rng(seed).standard_normal((c, d))  # (C, D), the same start for all
    if torch_x:
        import torch

        W0 = torch.as_tensor(W0, dtype=X_train.dtype, device=X_train.device)
        itemsize = X_train.element_size()
    else:
        W0 = W0.astype(X_train.dtype)
        itemsize = X_train.itemsize
    if chunk is None:
        chunk = _default_chunk(k, c, d, batch_size, itemsize)
    starts = range(0, k, chunk)

    lrs = np.array([cf[0] for cf in configs])
    regs = np.array([cf[1] for cf in configs])
    history = np.full((num_iters, k), np.nan)
    train_acc, val_acc = np.full(k, np.nan), np.full(k, np.nan)
    diverged_at: dict[int, int] = {}
    best_val, best_index, best_W = -1.0, -1, None
    bar = tqdm(total=len(starts) * num_iters, desc="sweep", disable=not progress or None, leave=False)
    try:
        for n, s in enumerate(starts):
            cols = np.arange(s, min(s + chunk, k))
            bar.set_description(f"sweep, chunk {n + 1}/{len(starts)}" if len(starts) > 1 else "sweep")
            W = W0.expand(len(cols), c, d).clone() if torch_x else np.repeat(W0[None], len(cols), axis=0)  # (k, C, D)
            batches = _batch_indices(X_train.shape[0], batch_size, num_iters, seed, sampling)
            W, alive, div = _train_chunk(W, X_train, y_train, lrs[cols], regs[cols], fn, kw, history, cols,
                                         batches, bar)
            diverged_at.update({int(cols[j]): it for j, it in div.items()})
            if len(alive) == 0:
                continue
            train_acc[cols[alive]] = _accuracy(W, X_train, y_train)
            val_acc[cols[alive]] = va = _accuracy(W, X_val, y_val)
            j = int(np.argmax(va))  # the first best within the chunk; strict > keeps the first across chunks
            if va[j] > best_val:
                best_val, best_index = float(va[j]), int(cols[alive[j]])
                best_W = W[j].detach().cpu().numpy().copy() if torch_x else W[j].copy()
    finally:
        bar.close()
    if best_index < 0:
        raise ImgclassError(f"all {k} configs diverged (learning rates {lrs.min():.3g} to {lrs.max():.3g}); "
                            "lower the learning rates or the regularization strengths")

    records = []
    for i, (lr, reg) in enumerate(configs):
        bad = i in diverged_at
        records.append({"lr": lr, "reg": reg, "train_acc": float(train_acc[i]), "val_acc": float(val_acc[i]),
                        "final_loss": math.nan if bad else float(history[-1, i]),
                        "diverged": bad, "diverged_at": diverged_at.get(i)})
    settings = {"num_iters": num_iters, "batch_size": batch_size, "seed": seed, "sampling": sampling,
                "init_std": init_std, "chunk": int(chunk), "loss_kwargs": kw, "num_train": int(X_train.shape[0]),
                "num_val": int(X_val.shape[0]), "num_classes": c, "dim": d,
                "backend": f"torch ({X_train.device})" if torch_x else "numpy", "dtype": str(X_train.dtype)}
    return SweepResult(loss=loss, records=records, best_index=best_index, best_W=best_W, best_b=None,
                       seconds=time.perf_counter() - t0, history=history, settings=settings)
