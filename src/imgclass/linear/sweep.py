"""Hyperparameter sweeps for linear classifiers: every (lr, reg) config trained at once as one stack.

All configs start from the same initial ``W`` and see the same minibatches,
so they differ only by learning rate and regularization strength. Training
is the update of :func:`imgclass.linear.sgd.sgd_fit` (``W -= lr * dW``, its
minibatch sampling) applied to a stack ``W`` (K, C, D) in one batched
computation per step. A config whose loss stops being finite is recorded as
diverged and dropped from the stack; the others train on.

With NumPy arrays a step is two GEMMs over the whole stack and nothing else
of its size (see :func:`_numpy_step`): ``W *= 1 - 2·lr·reg`` in place, then
``W -= (lr·dscores)ᵀ X`` accumulated into ``W`` by BLAS. This is the same
update as sgd_fit's ``W -= lr * (dscoresᵀ X + 2·reg·W)`` with its float
operations in another order: a config equals its separate sgd_fit run to
rounding, not bit for bit. Where SGD itself is unstable (a learning rate
so large that the loss ends above where it started) such rounding
differences grow over the iterations, as they would between any two
implementations. Torch tensors take the loss functions of
:mod:`imgclass.linear.losses` and sgd_fit's update as written.

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
from imgclass.linear.sgd import SAMPLING, _batch_indices, _blas_threads, loss_function

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


def _default_chunk(k: int, c: int, d: int, batch_size: int, itemsize: int, torch_x: bool) -> int:
    # per config: W (C, D), which the NumPy step updates in place while the torch step also makes ~5
    # temporaries of its size (dW, the L2 term, ...); scores, probabilities and their temporaries (B, C)
    per_config = itemsize * ((6 if torch_x else 1) * c * d + 8 * batch_size * c)
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


_GEMM = {np.dtype(np.float32): "sgemm", np.dtype(np.float64): "dgemm"}


def _blas_gemm(dtype):
    """SciPy's BLAS ``?gemm`` for float32/float64, else None (other dtypes take NumPy's matmul)."""
    name = _GEMM.get(np.dtype(dtype))
    if name is None:
        return None
    from scipy.linalg import blas

    return getattr(blas, name)


def _scores_t(flat, xb):
    """Scores transposed, ``flat @ xb.T``: (k*C, B) C-contiguous, for flat (k*C, D) and xb (B, D).

    By the same BLAS as :func:`_gemm_update` (SciPy's): NumPy and SciPy
    wheels each bundle their own OpenBLAS, each with its own thread pool, and
    a step that alternates between the two pools competes with itself for
    the cores.
    """
    gemm = _blas_gemm(flat.dtype)
    if gemm is None or xb.dtype != flat.dtype:
        return flat @ xb.T
    return gemm(1.0, xb.T, flat.T, trans_a=1).T  # (B, k*C) Fortran-ordered = (k*C, B) C-ordered


def _gemm_update(flat, xb, dst) -> None:
    """``flat -= dst @ xb`` in place: flat (k*C, D) C-contiguous, xb (B, D), dst (k*C, B).

    One BLAS GEMM that accumulates into ``flat`` (``beta=1`` on its
    Fortran-ordered view ``flat.T``): no (k*C, D) gradient is allocated and
    no second pass adds it. Other dtypes (or a layout BLAS would copy) take
    the plain NumPy expression.
    """
    gemm = _blas_gemm(flat.dtype)
    if gemm is not None and flat.flags.c_contiguous and xb.dtype == flat.dtype and dst.dtype == flat.dtype:
        # flat.T (D, k*C) = xb.T (D, B) @ dst.T (B, k*C); all three Fortran-ordered views, no copies
        out = gemm(-1.0, xb.T, dst.T, beta=1.0, c=flat.T, overwrite_c=1)
        if not np.shares_memory(out, flat):  # pragma: no cover - BLAS wrote into a copy; the checks above prevent it
            flat[...] = out.T
        return
    flat -= dst @ xb


def _data_terms(st, y, loss: str, kw: dict):
    """Per-config data loss (k,), dscores·div (k, C, B) made in place of the scores ``st`` (k, C, B), and div.

    The formulas of :func:`~imgclass.linear.losses.softmax_loss_vectorized`
    and :func:`~imgclass.linear.losses.svm_loss_vectorized` with the scores
    laid out (k, C, B): the reductions over classes then run along
    contiguous rows of B samples (several times faster than (B, k, C)).
    """
    n = st.shape[-1]
    rows = np.arange(n)
    if loss == "softmax":
        st -= st.max(axis=1, keepdims=True)  # shifted
        correct = st[:, y, rows]  # (k, B), a copy
        np.exp(st, out=st)
        total = st.sum(axis=1, keepdims=True)  # (k, 1, B)
        value = (np.log(total[:, 0, :]) - correct).sum(-1) / n
        st /= total  # probabilities
        st[:, y, rows] -= 1.0
        return value, st, n
    c = st.shape[1]
    margin = kw.get("margin", 1.0)
    div = n * (c if kw.get("average", "sum") == "classes" else 1)
    st -= st[:, y, rows][:, None, :]
    st += margin
    st *= st > 0  # margins
    st[:, y, rows] = 0
    value = st.sum(axis=1).sum(-1) / div
    active = (st > 0).astype(st.dtype)
    active[:, y, rows] = -active.sum(axis=1)
    return value, active, div


def _numpy_step(W, xb, yb, lr, reg, loss: str, kw: dict):
    """One SGD step of every config in the stack ``W`` (k, C, D), in place; returns the losses (k,).

    The update of :func:`~imgclass.linear.sgd.sgd_fit`, ``W -= lr * (G + 2·s·reg·W)``
    (s = 1, or 1/2 for ``reg_convention="half"``), rearranged so that no
    (k, C, D) temporary is made: ``W *= 1 - 2·s·lr·reg`` in place (skipped
    where that is 1), then ``W -= Gscaled`` by one GEMM accumulating into W,
    with ``Gscaled = (lr·dscores)ᵀ X``: dscores' rows pre-scaled by each
    config's lr. ``||W||²`` per config (for the recorded loss) is one
    ``einsum`` pass (no BLAS: see :func:`_scores_t`).

    ``lr``, ``reg``: (k,) float64. The loss is computed in W's dtype, as the
    losses do (so it overflows where theirs would), the step's coefficients
    in float64 and then rounded to W's dtype.
    """
    k, c, d = W.shape
    flat = W.reshape(k * c, d)  # a view: W is C-contiguous
    st = _scores_t(flat, xb)  # (k*C, B) scores, transposed
    value, dst, div = _data_terms(st.reshape(k, c, -1), yb, loss, kw)
    scale = 0.5 if kw.get("reg_convention", "full") == "half" else 1.0
    stack = flat.reshape(k, c * d)
    value = value + scale * reg.astype(W.dtype) * np.einsum("ij,ij->i", stack, stack)  # + L2 of W before the step
    decay = (1.0 - 2.0 * scale * lr * reg).astype(W.dtype)
    if np.any(decay != 1):
        np.multiply(W, decay[:, None, None], out=W)
    dst *= (lr / div).astype(W.dtype)[:, None, None]  # each config's rows of dscores times its lr
    # Subnormal entries (softmax probabilities of ~e-90 where a large lr has saturated the scores) make
    # every multiply they enter take a slow microcode path: one step's GEMM went from ~0.1 s to ~0.34 s.
    # They are below the rounding of anything they are added to: flush them to 0.
    dst[np.abs(dst) < np.finfo(dst.dtype).tiny] = 0
    _gemm_update(flat, xb, dst.reshape(k * c, -1))
    return value


def _train_chunk(W, X, y, lrs, regs, fn, loss, kw, history, cols, batches, batch_size, bar):
    """Train the stack ``W`` (k, C, D); drop entries whose loss is not finite.

    Writes each step's losses into ``history[:, cols]``. Returns the trained
    survivors ``W`` (k', C, D), their positions in the chunk, and
    ``{position: 1-based iteration}`` for the diverged ones. NumPy stacks
    take :func:`_numpy_step`; torch stacks the loss function ``fn`` and
    ``W -= lr * dW``, as :func:`~imgclass.linear.sgd.sgd_fit`.
    """
    num_iters = history.shape[0]
    alive = np.arange(len(lrs))
    diverged = {}
    torch_w = _is_torch(W)
    if torch_w:  # W, X and y are then all torch tensors on one device
        import torch

        lr_w = torch.as_tensor(np.asarray(lrs).reshape(-1, 1, 1), dtype=W.dtype, device=W.device)
        reg = torch.as_tensor(np.asarray(regs), dtype=W.dtype, device=W.device)
    else:  # float64; _numpy_step rounds to W's dtype where it uses them
        lr_w, reg = np.asarray(lrs, np.float64), np.asarray(regs, np.float64)
        W = np.ascontiguousarray(W)
    flops = math.inf if torch_w else 2.0 * len(lrs) * W.shape[1] * W.shape[2] * batch_size  # per GEMM of a step
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"), _blas_threads(flops):
        for it, idx in enumerate(batches):  # (divergence is expected, and handled)
            if torch_w:
                idx = torch.as_tensor(idx, device=X.device)
                out = fn(W, X[idx], y[idx], reg, **kw)
                W -= lr_w * out[1]  # the update of sgd_fit
                value = out[0].detach().cpu().numpy()
            else:
                value = np.asarray(_numpy_step(W, X[idx], y[idx], lr_w, reg, loss, kw))
            history[it, cols[alive]] = value
            bar.update(1)
            bad = ~np.isfinite(value)
            if bad.any():
                for j in alive[bad]:
                    diverged[int(j)] = it + 1
                keep = np.flatnonzero(~bad)
                alive = alive[keep]
                if torch_w:
                    keep = torch.as_tensor(keep, device=W.device)
                W, lr_w, reg = W[keep], lr_w[keep], reg[keep]  # NumPy: a C-contiguous copy, as _numpy_step needs
                if len(alive) == 0:
                    bar.update(num_iters - it - 1)
                    break
        finite = W.isfinite().all(-1).all(-1).cpu().numpy() if torch_w else np.isfinite(W).all(axis=(1, 2))
    if not finite.all():  # finite loss at the last step but weights blown up by the last update
        for j in alive[~finite]:
            diverged[int(j)] = num_iters
        keep = np.flatnonzero(finite)
        alive = alive[keep]
        W = W[torch.as_tensor(keep, device=W.device)] if torch_w else W[keep]
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
        not depend on it, up to float rounding: GEMMs of other shapes may
        round differently). Default: as many as fit in about 1 GB.
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
    fn(W0, X_train[:1], y_train[:1], 0.0, **kw)  # bad loss options (values) raise here, before any training
    if chunk is None:
        chunk = _default_chunk(k, c, d, batch_size, itemsize, torch_x)
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
            W, alive, div = _train_chunk(W, X_train, y_train, lrs[cols], regs[cols], fn, loss, kw, history, cols,
                                         batches, batch_size, bar)
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
