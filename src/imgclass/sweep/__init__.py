"""Hyperparameter sweeps on Optuna for any imgclass model and engine, from one process to many machines.

>>> from imgclass.sweep import parse_space
>>> from imgclass.sweep.worker import sweep                # doctest: +SKIP
>>> from imgclass.train import TrainConfig
>>> cfg = TrainConfig(model="mlp", epochs=3)
>>> r = sweep(cfg, parse_space(["lr=loguniform:1e-4:1e-1"]), trials=10, sampler="tpe", pruner="median")
>>> r["val_accuracy"], r["test_accuracy"], r["best"]["params"]

:mod:`~imgclass.sweep.space` parses and checks search spaces, :mod:`~imgclass.sweep.storage` opens
the Optuna study, :mod:`~imgclass.sweep.worker` runs its trials, :mod:`~imgclass.sweep.results`
ends the sweep (the best tested once, ``sweep.json`` and ``results.json``), :mod:`~imgclass.sweep.plots`
draws its plots. This package's top level imports only the search spaces, so ``imgclass --help``
stays fast.
"""

from imgclass.sweep.space import Param, default_space, parse_space

__all__ = ["Param", "default_space", "parse_space"]
