"""Tested training recipes for the NumPy engine on Fashion-MNIST.

Used by ``benchmarks/numpy_fashion.py`` (by hand) and by the slow tests (the
TwoLayerNet and the overfitting exercise run in CI on the real dataset).
Model selection uses a 5,000-image validation split; the test split is
evaluated once, after training.
"""

from __future__ import annotations

import time

import numpy as np

from imgclass.data import Preprocessor, load, make_split
from imgclass.errors import ImgclassError
from imgclass.nn.loop import fit
from imgclass.nn.models import CNN, TwoLayerNet
from imgclass.nn.optim import Adam
from imgclass.nn.schedules import OneCycleLR

RECIPES = ("twolayer", "cnn", "overfit")


def train_fashion(model: str = "twolayer", *, epochs: int | None = None, batch_size: int = 128,
                  lr: float | None = None, seed: int = 0, progress: bool = True, data_dir=None) -> dict:
    """Train one recipe on Fashion-MNIST and return its figures.

    ``twolayer``: TwoLayerNet 784-400-10, He init, L2 1e-4, Adam with a one-cycle
    schedule (peak 2e-3), 12 epochs. ``cnn``: [conv3x3-bn-relu-pool] x (16, 32),
    fc 128, Adam one-cycle (peak 3e-3), 4 epochs. ``overfit``: the cs231n sanity
    exercise, a 784-100-10 TwoLayerNet on 1% of the training set (550 images),
    40 epochs, no regularization: training accuracy should reach ~100%.
    """
    if model not in RECIPES:
        raise ImgclassError(f"recipe must be one of {', '.join(RECIPES)}, got {model!r}")
    ds = load("fashion-mnist", data_dir=data_dir)
    split = make_split(ds, val=5000, seed=seed, train_fraction=0.01 if model == "overfit" else 1.0)
    if model == "cnn":
        pre = Preprocessor(normalize="channel", dtype="float32").fit(split.x_train)
        net = CNN(ds.image_shape, 10, channels=(16, 32), fc=(128,), batchnorm=True, seed=seed)
        epochs, lr = epochs or 4, lr or 3e-3
    else:
        pre = Preprocessor(normalize="pixel", flatten=True, dtype="float32").fit(split.x_train)
        hidden, reg = (400, 1e-4) if model == "twolayer" else (100, 0.0)
        net = TwoLayerNet(784, hidden, 10, weight_scale="he", reg=reg, seed=seed, dtype=np.float32)
        epochs, lr = epochs or (12 if model == "twolayer" else 40), lr or 2e-3
    x_train, x_val, x_test = (pre.transform(x) for x in (split.x_train, split.x_val, split.x_test))
    opt = Adam(net.parameters(), lr=lr)
    sched = OneCycleLR(opt, max_lr=lr, total_steps=epochs * -(-len(x_train) // batch_size))
    t0 = time.perf_counter()
    history = fit(net, opt, x_train, split.y_train, epochs=epochs, batch_size=batch_size, seed=seed,
                  x_val=x_val, y_val=split.y_val, schedule=sched, progress=progress)
    seconds = time.perf_counter() - t0
    return {
        "model": model, "params": net.num_parameters(), "train_size": len(x_train), "epochs": len(history),
        "train_accuracy": round(net.accuracy(x_train, split.y_train), 4),
        "val_accuracy": round(history[-1]["val_acc"], 4),
        "test_accuracy": round(net.accuracy(x_test, split.y_test), 4),
        "seconds": round(seconds, 1), "seconds_per_epoch": round(seconds / len(history), 1),
        "history": history,
    }
