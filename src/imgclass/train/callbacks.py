"""The Trainer's callbacks: progress bar, metrics.csv, checkpoints, early stopping."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from tqdm.auto import tqdm

from imgclass.fileio import atomic_write
from imgclass.train.checkpoint import rng_state, save_checkpoint
from imgclass.train.trainer import Callback

METRICS = ("step", "epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds")


class ProgressBar(Callback):
    """A tqdm bar over all steps of the run, with the running loss and accuracy; one line per evaluation."""

    def __init__(self, enabled: bool = True, every: int = 10):
        self.enabled, self.every = enabled, every
        self.bar = None
        self._loss = self._acc = None

    def on_train_begin(self, trainer):
        self.bar = tqdm(total=trainer.total_steps, initial=trainer.step, unit="step", dynamic_ncols=True,
                        desc=f"{trainer.engine.name}", disable=not self.enabled or None)

    def on_step_end(self, trainer, loss, acc):
        a = 0.1 if self._loss is not None else 1.0  # exponential moving averages
        self._loss = a * loss + (1 - a) * (self._loss or 0.0)
        self._acc = a * acc + (1 - a) * (self._acc or 0.0)
        self.bar.update(1)
        if trainer.step % self.every == 0:
            epoch = trainer.step / trainer.steps_per_epoch
            self.bar.set_postfix(epoch=f"{epoch:.2f}", loss=f"{self._loss:.3f}", acc=f"{self._acc:.3f}")

    def on_eval(self, trainer, row):
        if self.enabled:
            val = "" if math.isnan(row["val_acc"]) else f"  val loss {row['val_loss']:.4f}  val acc {row['val_acc']:.4f}"
            self.bar.write(f"epoch {row['epoch']:.2f}  train loss {row['train_loss']:.4f}  "
                           f"train acc {row['train_acc']:.4f}{val}  lr {row['lr']:.3g}")

    def on_train_end(self, trainer):
        if self.bar is not None:
            self.bar.close()


class MetricsCSV(Callback):
    """Rewrite ``metrics.csv`` (one row per evaluation point) atomically at every point."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def on_eval(self, trainer, row):
        write_metrics(self.path, trainer.history)


def write_metrics(path: Path, history: list[dict]) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=METRICS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    w.writerows(history)
    with atomic_write(path, "w") as f:
        f.write(buf.getvalue())


def read_metrics(path: str | Path) -> list[dict]:
    with open(path, newline="") as f:
        return [{k: (int(v) if k == "step" else float(v)) for k, v in row.items()} for row in csv.DictReader(f)]


class EarlyStopping(Callback):
    """Stop after ``patience`` evaluation points without a better validation accuracy; restore the best weights.

    With ``patience=0`` it never stops early but still restores the weights of
    the best validation point at the end (``restore_best``), so the model
    that is tested is the one validation chose.
    """

    def __init__(self, patience: int = 0, restore_best: bool = True):
        self.patience, self.restore_best = patience, restore_best
        self.best_acc, self.best_step, self.wait = -math.inf, 0, 0
        self.best_state = None

    def on_eval(self, trainer, row):
        acc = row["val_acc"]
        if math.isnan(acc):
            return
        if acc > self.best_acc:
            self.best_acc, self.best_step, self.wait = acc, row["step"], 0
            self.best_state = trainer.engine.model_state()
        else:
            self.wait += 1
            if self.patience and self.wait >= self.patience:
                trainer.stop = True
                trainer.stopped_early = True

    def on_train_end(self, trainer):
        if self.restore_best and self.best_state is not None:
            trainer.engine.load_model_state(self.best_state)

    def state_dict(self):
        return {"best_acc": self.best_acc, "best_step": self.best_step, "wait": self.wait,
                "best_state": self.best_state}

    def load_state_dict(self, state):
        self.best_acc, self.best_step, self.wait = state["best_acc"], state["best_step"], state["wait"]
        self.best_state = state["best_state"]


class Checkpoint(Callback):
    """Write the whole training state to ``path`` atomically at every evaluation point.

    A NaN loss raises before the next point, so the file always holds the last good state.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def on_eval(self, trainer, row):
        save_checkpoint(self.path, {"trainer": trainer.state_dict(), "rng": rng_state()})
