"""Train NumPy-engine models on the real Fashion-MNIST and report test accuracy (run by hand).

    python benchmarks/numpy_fashion.py --model twolayer            # TwoLayerNet, a few minutes on 2 cores
    python benchmarks/numpy_fashion.py --model cnn --epochs 3      # small CNN, slower
    python benchmarks/numpy_fashion.py --model overfit             # the overfitting exercise

Prints one line per epoch and ends with one JSON line of figures. The test
split is evaluated once, after training; model selection uses the
validation split (5,000 training images).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from imgclass.data import Preprocessor, load, make_split
from imgclass.nn.loop import fit
from imgclass.nn.models import CNN, TwoLayerNet
from imgclass.nn.optim import Adam
from imgclass.nn.schedules import OneCycleLR


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", choices=("twolayer", "cnn", "overfit"), default="twolayer")
    ap.add_argument("--epochs", type=int, default=None, help="default: 12 (twolayer), 4 (cnn), 40 (overfit)")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=None, help="peak learning rate of the one-cycle schedule")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    ds = load("fashion-mnist")
    split = make_split(ds, val=5000, seed=args.seed, train_fraction=0.01 if args.model == "overfit" else 1.0)
    if args.model == "cnn":
        pre = Preprocessor(normalize="channel", dtype="float32").fit(split.x_train)
        model = CNN(ds.image_shape, 10, channels=(16, 32), fc=(128,), batchnorm=True, seed=args.seed)
        epochs, lr = args.epochs or 4, args.lr or 3e-3
    else:
        pre = Preprocessor(normalize="pixel", flatten=True, dtype="float32").fit(split.x_train)
        hidden = 400 if args.model == "twolayer" else 100
        model = TwoLayerNet(784, hidden, 10, weight_scale="he", reg=1e-4 if args.model == "twolayer" else 0.0,
                            seed=args.seed, dtype=np.float32)
        epochs, lr = args.epochs or (12 if args.model == "twolayer" else 40), args.lr or 2e-3
    x_train, x_val, x_test = (pre.transform(x) for x in (split.x_train, split.x_val, split.x_test))
    opt = Adam(model.parameters(), lr=lr)
    steps = epochs * -(-len(x_train) // args.batch_size)
    sched = OneCycleLR(opt, max_lr=lr, total_steps=steps)
    t0 = time.perf_counter()
    history = fit(model, opt, x_train, split.y_train, epochs=epochs, batch_size=args.batch_size, seed=args.seed,
                  x_val=x_val, y_val=split.y_val, schedule=sched)
    seconds = time.perf_counter() - t0
    result = {
        "model": args.model, "params": model.num_parameters(), "train_size": len(x_train), "epochs": len(history),
        "train_accuracy": round(model.accuracy(x_train, split.y_train), 4),
        "val_accuracy": round(history[-1].get("val_acc", float("nan")), 4),
        "test_accuracy": round(model.accuracy(x_test, split.y_test), 4),
        "seconds": round(seconds, 1), "seconds_per_epoch": round(seconds / len(history), 1),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
