"""One training loop for both engines, with Keras-style callbacks.

The loop is small: for each minibatch, ``engine.train_step(indices)``; at
each evaluation point, validation loss and accuracy and one history row;
callbacks do the rest (progress bar, ``metrics.csv``, checkpoint, early
stopping). Evaluation points are the ends of epochs, or ``eval_points``
evenly spaced steps over the whole run.

The batch order of epoch ``e`` is ``Batches.order(e)``, a pure function of
the seed and the epoch, and every random state lives in the checkpoint, so
a run resumed from its last checkpoint replays exactly the steps an
uninterrupted run would have taken.
"""

from __future__ import annotations

import math
import time

from imgclass.data import Batches
from imgclass.errors import ImgclassError


class TrainingDiverged(ImgclassError):
    """The loss became NaN or infinite at ``step`` (1-based) with learning rate ``lr``.

    The Trainer's message says what happened and how to avoid it; :func:`imgclass.train.run.train`
    adds what is left of the run (a checkpoint or none).
    """

    def __init__(self, message: str, step: int = 0, lr: float = float("nan")):
        super().__init__(message)
        self.step, self.lr = step, lr


class Callback:
    """Hooks the Trainer calls; each gets the Trainer, whose ``history`` and ``engine`` it may read."""

    def on_train_begin(self, trainer: "Trainer") -> None: ...

    def on_step_end(self, trainer: "Trainer", loss: float, acc: float) -> None: ...

    def on_eval(self, trainer: "Trainer", row: dict) -> None: ...

    def on_train_end(self, trainer: "Trainer") -> None: ...

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None: ...


def eval_steps(total_steps: int, steps_per_epoch: int, eval_points: int) -> list[int]:
    """Global step numbers (1-based, after that step) at which to evaluate; the last step is always one."""
    if eval_points <= 0:
        points = list(range(steps_per_epoch, total_steps + 1, steps_per_epoch))
    else:
        points = [max(1, round(total_steps * (k + 1) / eval_points)) for k in range(eval_points)]
    return sorted(set(points) | {total_steps})


class Trainer:
    """Train ``engine`` on ``(x_train, y_train)`` with ``(x_val, y_val)`` for model selection.

    Parameters
    ----------
    engine : NumpyEngine or TorchEngine
    x_train, y_train : ndarray (N, ...) preprocessed inputs, (N,) labels
    x_val, y_val : ndarray, possibly empty
    epochs, batch_size, seed : int
    eval_points : int
        0: evaluate after every epoch; N > 0: N evenly spaced times over the run.
    callbacks : list of Callback

    Attributes
    ----------
    history : list of dict
        One row per evaluation point: ``step``, ``epoch`` (fractional),
        ``train_loss``/``train_acc`` (mean over the steps since the last point),
        ``val_loss``/``val_acc``, ``lr``, ``seconds`` (training time so far).
    step : int
        Steps taken so far.
    stop : bool
        Set by a callback (early stopping) to end after the current point.
    """

    def __init__(self, engine, x_train, y_train, x_val, y_val, *, epochs: int, batch_size: int, seed: int = 0,
                 eval_points: int = 0, callbacks: list[Callback] | None = None):
        self.engine = engine
        self.x_val, self.y_val = x_val, y_val
        self.batches = Batches(x_train, y_train, batch_size, seed=seed)
        self.epochs = epochs
        self.steps_per_epoch = len(self.batches)
        self.total_steps = epochs * self.steps_per_epoch
        self.points = eval_steps(self.total_steps, self.steps_per_epoch, eval_points)
        self.callbacks = list(callbacks or [])
        self.history: list[dict] = []
        self.step = 0
        self.seconds = 0.0
        self.stop = False
        self.stopped_early = False
        self._acc = [0.0, 0, 0]  # loss sum, correct, samples since the last evaluation point
        engine.bind(x_train, y_train)

    # --- resume ---------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {"engine": self.engine.state_dict(), "step": self.step, "seconds": self.seconds,
                "history": list(self.history), "acc": list(self._acc),
                "callbacks": [cb.state_dict() for cb in self.callbacks]}

    def load_state_dict(self, state: dict) -> None:
        self.engine.load_state_dict(state["engine"])
        self.step, self.seconds = int(state["step"]), float(state["seconds"])
        self.history = list(state["history"])
        self._acc = list(state["acc"])
        for cb, s in zip(self.callbacks, state["callbacks"]):
            cb.load_state_dict(s)

    # --- the loop -------------------------------------------------------------------
    def fit(self) -> list[dict]:
        for cb in self.callbacks:
            cb.on_train_begin(self)
        bs = self.batches.batch_size
        while self.step < self.total_steps and not self.stop:
            epoch, k = divmod(self.step, self.steps_per_epoch)
            order = self.batches.order(epoch)
            t0 = time.perf_counter()
            idx = order[k * bs:(k + 1) * bs]
            loss, correct = self.engine.train_step(idx)
            if not math.isfinite(loss):
                raise TrainingDiverged(
                    f"the training loss became {loss} at step {self.step + 1} (epoch {epoch + 1}) with learning "
                    f"rate {self.engine.lr:.3g}: lower the learning rate or clip the gradient",
                    step=self.step + 1, lr=self.engine.lr)
            self.step += 1
            self._acc[0] += loss * len(idx)
            self._acc[1] += correct
            self._acc[2] += len(idx)
            self.seconds += time.perf_counter() - t0
            for cb in self.callbacks:
                cb.on_step_end(self, loss, correct / len(idx))
            if self.step in self.points:
                self._evaluate()
        for cb in self.callbacks:
            cb.on_train_end(self)
        return self.history

    def _evaluate(self) -> None:
        loss_sum, correct, n = self._acc
        row = {"step": self.step, "epoch": round(self.step / self.steps_per_epoch, 4),
               "train_loss": loss_sum / max(n, 1), "train_acc": correct / max(n, 1),
               "val_loss": float("nan"), "val_acc": float("nan"), "lr": self.engine.lr,
               "seconds": round(self.seconds, 3)}
        if len(self.y_val):
            row["val_loss"], row["val_acc"] = self.engine.evaluate(self.x_val, self.y_val)
        self._acc = [0.0, 0, 0]
        self.history.append(row)
        for cb in self.callbacks:
            cb.on_eval(self, row)

