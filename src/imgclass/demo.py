"""The smallest complete pipeline: load, split, normalize, train, test once.

The model is multinomial logistic (softmax) regression on raw pixels,
trained by minibatch SGD on imgclass's hand-written softmax loss
(:func:`imgclass.nn.losses.softmax_loss`). It exists so that ``imgclass demo`` exercises the whole data
layer on the bundled digits in about a second; the full linear classifiers
(:mod:`imgclass.linear`) and the Trainer grow this into the real pipeline.
"""

from __future__ import annotations

import time

import numpy as np
from tqdm.auto import tqdm

from imgclass.data import Batches, Preprocessor, load, make_split
from imgclass.errors import ImgclassError
from imgclass.nn.losses import softmax_loss


def softmax_regression_loss(w: np.ndarray, x: np.ndarray, y: np.ndarray, reg: float) -> tuple[float, np.ndarray]:
    """Mean cross-entropy of ``softmax(x @ w)`` plus ``reg * ||w||^2`` (bias row excluded), and its gradient.

    x: (N, D) with a bias column; w: (D, K); y: (N,) class indices. The data
    loss and ``dscores`` come from :func:`imgclass.nn.losses.softmax_loss`.
    """
    loss, dscores = softmax_loss(x @ w, y)  # (N, K) scores; dscores already divided by N
    dw = x.T @ dscores
    loss += reg * np.sum(w[:-1] * w[:-1])
    dw[:-1] += 2.0 * reg * w[:-1]
    return float(loss), dw


def accuracy(w: np.ndarray, x: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(np.argmax(x @ w, axis=1) == y))


def run_demo(seed: int = 0, epochs: int = 30, lr: float = 0.1, reg: float = 1e-4, batch_size: int = 64,
             progress: bool = True) -> dict:
    """Train softmax regression on ``digits`` and evaluate it on the test split once.

    Returns a dict of figures (accuracies, final loss, seconds).
    """
    if epochs < 1 or lr <= 0 or reg < 0 or batch_size < 1:
        raise ImgclassError(f"need epochs >= 1, lr > 0, reg >= 0, batch_size >= 1; got {epochs}, {lr}, {reg}, {batch_size}")
    t0 = time.perf_counter()
    ds = load("digits", seed=seed)
    split = make_split(ds, val=0.1, seed=seed)
    pre = Preprocessor(normalize="pixel", flatten=True, bias=True, dtype="float64").fit(split.x_train)
    x_train, x_val, x_test = (pre.transform(x) for x in (split.x_train, split.x_val, split.x_test))
    rng = np.random.default_rng(seed)
    w = 1e-3 * rng.standard_normal((x_train.shape[1], split.num_classes))  # (D + 1, K)
    batches = Batches(x_train, split.y_train, batch_size, seed=seed)
    bar = tqdm(range(epochs), desc="demo: softmax regression", unit="epoch", disable=not progress or None)
    for _ in bar:
        for xb, yb in batches:
            loss, dw = softmax_regression_loss(w, xb, yb, reg)
            if not np.isfinite(loss):
                raise ImgclassError(f"the loss became {loss}; lower the learning rate (now {lr})")
            w -= lr * dw
        bar.set_postfix(loss=f"{loss:.3f}", val_acc=f"{accuracy(w, x_val, split.y_val):.3f}")
    return {
        "dataset": "digits",
        "model": "softmax-regression",
        "epochs": epochs,
        "train_size": len(split.y_train),
        "val_size": len(split.y_val),
        "test_size": len(split.y_test),
        "train_accuracy": round(accuracy(w, x_train, split.y_train), 4),
        "val_accuracy": round(accuracy(w, x_val, split.y_val), 4),
        "test_accuracy": round(accuracy(w, x_test, split.y_test), 4),
        "final_loss": round(softmax_regression_loss(w, x_train, split.y_train, reg)[0], 4),
        "seconds": round(time.perf_counter() - t0, 2),
    }
