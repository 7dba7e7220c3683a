"""Hyperparameter sweeps on Optuna for any imgclass model and engine, from one process to many machines.

>>> from imgclass.sweep import parse_space, sweep          # doctest: +SKIP
>>> from imgclass.train import TrainConfig
>>> cfg = TrainConfig(model="mlp", epochs=3)
>>> r = sweep(cfg, parse_space(["lr=loguniform:1e-4:1e-1"]), trials=10, sampler="tpe", pruner="median")
>>> r["best"]["params"], r["best"]["value"], r["best"]["test_accuracy"]

:mod:`~imgclass.sweep.space` parses and checks search spaces, :mod:`~imgclass.sweep.study`
runs workers on an Optuna study, :mod:`~imgclass.sweep.results` ends the sweep (the best tested
once, ``sweep.json``), :mod:`~imgclass.sweep.plots` draws its plots.
"""

from imgclass.sweep.space import Param, default_space, parse_space
from imgclass.sweep.study import sweep

__all__ = ["Param", "default_space", "parse_space", "sweep"]
