"""A minimal training loop for NumPy-engine classifiers.

Deliberately small: minibatches from :class:`imgclass.data.Batches`, one
optimizer step per batch, an optional schedule stepped per iteration, a
tqdm bar, validation accuracy after each epoch, and a stop with a clear
message if the loss stops being finite. The engine-agnostic Trainer
(callbacks, checkpoints, resume) will absorb it.
"""

from __future__ import annotations

import time

import numpy as np
from tqdm.auto import tqdm

from imgclass.data import Batches
from imgclass.errors import ImgclassError


def fit(model, optimizer, x_train: np.ndarray, y_train: np.ndarray, *, epochs: int, batch_size: int,
        seed: int = 0, x_val: np.ndarray | None = None, y_val: np.ndarray | None = None, schedule=None,
        progress: bool = True, max_seconds: float | None = None) -> list[dict]:
    """Train ``model`` (a :class:`~imgclass.nn.models.Classifier`) in place; return one dict per epoch.

    Each dict has ``epoch``, ``loss`` (mean training loss over the epoch),
    ``train_acc`` (evaluation-mode accuracy on up to 5,000 training samples), ``val_acc`` (if validation data was given) and ``seconds``.
    ``max_seconds`` stops after the epoch during which it was exceeded.
    """
    if epochs < 1:
        raise ImgclassError(f"epochs must be >= 1, got {epochs}")
    batches = Batches(x_train, y_train, batch_size, seed=seed)
    history = []
    start = time.perf_counter()
    for epoch in range(epochs):
        model.train()
        t0 = time.perf_counter()
        losses = []
        bar = tqdm(batches, total=len(batches), desc=f"epoch {epoch + 1}/{epochs}", leave=False,
                   disable=not progress or None)
        for xb, yb in bar:
            loss = model.loss(xb, yb)
            if not np.isfinite(loss):
                raise ImgclassError(
                    f"the loss became {loss} in epoch {epoch + 1}; lower the learning rate "
                    f"(now {optimizer.lr:g}) or the initial weight scale"
                )
            optimizer.step()
            if schedule is not None:
                schedule.step()
            losses.append(loss)
            if len(losses) % 20 == 0:
                bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}")
        row = {"epoch": epoch + 1, "loss": float(np.mean(losses)), "seconds": time.perf_counter() - t0}
        row["train_acc"] = model.accuracy(x_train[:5000], y_train[:5000])
        if x_val is not None and len(x_val):
            row["val_acc"] = model.accuracy(x_val, y_val)
        history.append(row)
        if progress:
            tqdm.write(" ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))
        if max_seconds is not None and time.perf_counter() - start > max_seconds:
            break
    return history
