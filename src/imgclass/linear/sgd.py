"""Minibatch SGD for linear classifiers, for one weight matrix or a stack of K at once.

Written by hand: ``W -= lr * dW`` with the gradient from :mod:`.losses`.
With a stack ``W`` (K, C, D) and per-entry ``lr`` and ``reg`` (K,), K
classifiers train together in one batched computation on the same
minibatches (this is what makes a 24x15 sweep cheap).
"""

from __future__ import annotations

import contextlib

import numpy as np
from tqdm.auto import tqdm

from imgclass.errors import ImgclassError
from imgclass.linear.losses import softmax_loss_vectorized, svm_loss_vectorized

LOSSES = {"svm": svm_loss_vectorized, "softmax": softmax_loss_vectorized}
SAMPLING = ("replacement", "epochs")


def loss_function(name: str):
    try:
        return LOSSES[name]
    except KeyError:
        raise ImgclassError(f"loss must be 'svm' or 'softmax', got {name!r}") from None


def _batch_indices(n: int, batch_size: int, num_iters: int, seed: int, sampling: str):
    """Minibatch index arrays: sampled with replacement (the course assignments) or shuffled epochs."""
    rng = np.random.default_rng(seed)
    if sampling == "replacement":
        for _ in range(num_iters):
            yield rng.choice(n, batch_size, replace=True)
        return
    done = 0
    while True:
        perm = rng.permutation(n)
        for i in range(0, n, batch_size):
            if done == num_iters:
                return
            yield perm[i:i + batch_size]
            done += 1


SMALL_GEMM_FLOPS = 1e8  # below this per GEMM of a step, train with one BLAS thread (see _blas_threads)


def _blas_threads(flops: float):
    """A context for the training loop: one BLAS thread when each GEMM is small, else BLAS's default.

    A GEMM of ~1e7 flops takes ~0.1 ms on one core; split over threads it
    waits for all of them, and on a busy machine a thread that has to wait
    for a core turns that into milliseconds (measured: 4-16 ms per call with
    two threads on 2 loaded cores, 0.09 ms with one).
    """
    if flops >= SMALL_GEMM_FLOPS:
        return contextlib.nullcontext()
    try:
        from threadpoolctl import threadpool_limits  # a dependency of scikit-learn
    except ImportError:  # pragma: no cover
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def sgd_fit(W, X, y, *, loss: str = "softmax", lr=1e-3, reg=1e-5, num_iters: int = 1000, batch_size: int = 200,
            seed: int = 0, sampling: str = "replacement", b=None, loss_kwargs: dict | None = None,
            lr_decay: float = 1.0, averaging: float | None = None, progress: bool = False, desc: str = "SGD"):
    """Train ``W`` (and ``b``) in place; return the loss history, (num_iters,) or (num_iters, K).

    Parameters
    ----------
    W : (C, D) or (K, C, D), NumPy array or torch tensor, float
    X : (N, D); y : (N,)
    lr, reg : float, or (K,) arrays for a stack
    sampling : {"replacement", "epochs"}
        ``replacement`` draws each minibatch independently with replacement;
        ``epochs`` visits every sample once per epoch in a fresh order.
    lr_decay : float
        The learning rate is multiplied by this after every epoch's worth of
        iterations (``ceil(N / batch_size)``), as in the course assignments.
    averaging : float in [0, 1), optional
        Polyak-Ruppert iterate averaging: after this fraction of the
        iterations, keep the running mean of the iterates, and leave that mean
        in ``W`` (and ``b``) at the end. Averaging cancels much of SGD's noise,
        so a constant learning rate converges in fewer iterations.

    Raises
    ------
    ImgclassError
        For bad hyperparameters, or a loss that stops being finite (with the
        iteration and a hint to lower the learning rate).
    """
    fn = loss_function(loss)
    if sampling not in SAMPLING:
        raise ImgclassError(f"sampling must be 'replacement' or 'epochs', got {sampling!r}")
    if num_iters < 1 or batch_size < 1:
        raise ImgclassError(f"num_iters and batch_size must be >= 1, got {num_iters} and {batch_size}")
    lr_arr = np.asarray(lr, dtype=np.float64)
    if np.any(lr_arr <= 0):
        raise ImgclassError(f"learning rate must be > 0, got {lr}")
    if not 0.0 < lr_decay <= 1.0:
        raise ImgclassError(f"lr_decay must lie in (0, 1], got {lr_decay}")
    per_epoch = -(-X.shape[0] // batch_size)
    if averaging is not None and not 0.0 <= averaging < 1.0:
        raise ImgclassError(f"averaging must lie in [0, 1) (the fraction of iterations before averaging starts), got {averaging}")
    avg_from = None if averaging is None else int(averaging * num_iters)
    avg_w = avg_b = None
    n_avg = 0
    stacked = W.ndim == 3
    if stacked:  # per-classifier learning rates broadcast over (C, D) and (C,)
        lr_w = lr_arr.reshape(-1, 1, 1)
        lr_b = lr_arr.reshape(-1, 1)
        if type(W).__module__.startswith("torch"):
            import torch

            lr_w = torch.as_tensor(lr_w, dtype=W.dtype, device=W.device)
            lr_b = torch.as_tensor(lr_b, dtype=W.dtype, device=W.device)
            reg = torch.as_tensor(np.asarray(reg, dtype=np.float64), dtype=W.dtype, device=W.device)
    else:
        lr_w = lr_b = float(lr_arr)
    history = []
    kw = dict(loss_kwargs or {})
    batches = _batch_indices(X.shape[0], batch_size, num_iters, seed, sampling)
    flops = 2.0 * batch_size * W.shape[-2] * W.shape[-1] * (W.shape[0] if stacked else 1)
    with _blas_threads(flops):  # one BLAS thread for small products: a busy 2-core machine is not slowed 10x
        for it, idx in enumerate(tqdm(batches, total=num_iters, desc=desc, disable=not progress or None, leave=False)):
            out = fn(W, X[idx], y[idx], reg, b=b, **kw)
            value = out[0]
            W -= lr_w * out[1]
            if b is not None:
                b -= lr_b * out[2]
            value = value.detach().cpu().numpy() if type(value).__module__.startswith("torch") else np.asarray(value)
            if not np.all(np.isfinite(value)):
                raise ImgclassError(f"the loss became {value} at iteration {it + 1}; lower the learning rate (now {lr})")
            history.append(value.copy() if stacked else float(value))
            if lr_decay != 1.0 and (it + 1) % per_epoch == 0:
                lr_w, lr_b = lr_w * lr_decay, lr_b * lr_decay
            if avg_from is not None and it >= avg_from:
                n_avg += 1
                if avg_w is None:
                    avg_w, avg_b = W * 1, (None if b is None else b * 1)
                else:  # running mean of the iterates
                    avg_w += (W - avg_w) / n_avg
                    if b is not None:
                        avg_b += (b - avg_b) / n_avg
    if avg_w is not None:
        W[...] = avg_w
        if b is not None:
            b[...] = avg_b
    return np.asarray(history)
