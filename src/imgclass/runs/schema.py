"""One results schema for every kind of run: the same key for the same figure.

Every ``results.json`` starts with the :data:`COMMON` keys (None where a figure does not
apply to that kind), then the kind's own details. Readers (report, compare, evaluate)
read the common keys and need not know which command wrote the run.

================== ===================================================================
key                meaning
================== ===================================================================
kind               train, seeds, linear, linear-sweep, sweep or study
run_dir            the directory
dataset            the dataset name
model              the model in words or its text form (``cnn:32,64;fc=128;...``)
engine             ``torch``, ``numpy`` or ``numpy (linear SGD)``
parameters         number of learned weights
seed               the seed (the first one for seeds)
train_size ...     images in the training, validation and test splits
train_accuracy     accuracy on the training split at the end (train runs: the running mean over the
                   steps since the last evaluation point, in training mode)
val_accuracy       validation accuracy of the model that was kept (the best evaluation point,
                   the best config or trial); the mean over seeds
test_accuracy      the one test-split evaluation (the mean over seeds; the best config or trial's)
test_accuracy_std  the standard deviation over seeds (seeds only)
test_loss          the data loss on the test split
train_seconds      training time (a sweep: all of it; seeds: the mean per seed)
hyperparameters    the settings that decide what is learned
tuned              the hyperparameters a search chose (sweeps)
plots              PNG files written
================== ===================================================================
"""

from __future__ import annotations

from imgclass.errors import ImgclassError
from imgclass.runs.files import KINDS

COMMON = ("kind", "run_dir", "dataset", "model", "engine", "parameters", "seed", "train_size", "val_size",
          "test_size", "train_accuracy", "val_accuracy", "test_accuracy", "test_accuracy_std", "test_loss",
          "train_seconds", "hyperparameters", "tuned", "plots")

#: Config keys that do not change what is learned (or have a column of their own).
NOT_HYPER = ("kind", "dataset", "data_options", "engine", "model", "name", "device", "threads", "channels_last",
             "amp", "sync_bn", "stream", "configs", "lrs", "regs")


def results(kind: str, run_dir, **figures) -> dict:
    """A results dict: the common keys in order (None unless given), then the kind's own figures."""
    if kind not in KINDS:
        raise ImgclassError(f"unknown run kind {kind!r}; kinds: {', '.join(KINDS)}")
    out = {k: None for k in COMMON}
    out.update(kind=kind, run_dir=str(run_dir), hyperparameters={}, tuned=[], plots=[])
    for k in ("train_accuracy", "val_accuracy", "test_accuracy", "test_accuracy_std", "test_loss"):
        if figures.get(k) is not None:
            figures[k] = round(float(figures[k]), 4)
    if figures.get("train_seconds") is not None:
        figures["train_seconds"] = round(float(figures["train_seconds"]), 2)
    out.update(figures)
    out["plots"] = [str(p) for p in out["plots"]]
    return out


def hyperparameters(config: dict) -> dict:
    """The settings of a config that decide what is learned."""
    return {k: v for k, v in config.items() if k not in NOT_HYPER}


def seed_range(seeds: list[int]) -> str:
    """How a multi-seed run shows its seeds among the hyperparameters: ``0..2 (3 seeds)``."""
    return f"{min(seeds)}..{max(seeds)} ({len(seeds)} seeds)" if seeds else ""
