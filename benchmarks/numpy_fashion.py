"""Train NumPy-engine models on the real Fashion-MNIST through the Trainer and report test accuracy (run by hand).

    python benchmarks/numpy_fashion.py --model twolayer   # TwoLayerNet 784-400-10
    python benchmarks/numpy_fashion.py --model cnn        # small CNN (16, 32 channels), 4 epochs
    python benchmarks/numpy_fashion.py --model overfit    # the overfitting exercise (--recipe overfit)

Each is ``train(TrainConfig(engine="numpy", dataset="fashion-mnist", ...))``: the recipes come from
:mod:`imgclass.train.recipes`, exactly as ``imgclass train`` takes them. Prints the Trainer's
progress and ends with one JSON line of figures.
"""

from __future__ import annotations

import argparse
import json
import time

from imgclass.train import TrainConfig
from imgclass.train.run import train

MODELS = {"twolayer": dict(model="twolayer"), "cnn": dict(model="cnn-small"), "overfit": dict(recipe="overfit")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", choices=MODELS, default="twolayer")
    ap.add_argument("--epochs", type=int, default=None, help="default: the recipe's")
    ap.add_argument("--lr", type=float, default=None, help="peak learning rate of the one-cycle schedule")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="/tmp/imgclass-bench-runs", help="parent of the run directories")
    args = ap.parse_args()
    given = {k: v for k, v in (("epochs", args.epochs), ("lr", args.lr)) if v is not None}
    cfg = TrainConfig(dataset="fashion-mnist", engine="numpy", seed=args.seed, **MODELS[args.model], **given)
    t0 = time.perf_counter()
    r = train(cfg, out_root=args.out)
    print(json.dumps({"benchmark": "numpy_fashion", "model": args.model, "spec": r["model"],
                      "parameters": r["parameters"], "train_size": r["train_size"], "epochs": cfg.epochs,
                      "train_accuracy": r["train_accuracy"], "val_accuracy": r["val_accuracy"],
                      "test_accuracy": r["test_accuracy"], "train_seconds": r["train_seconds"],
                      "seconds_per_epoch": round(r["train_seconds"] / cfg.epochs, 1),
                      "total_seconds": round(time.perf_counter() - t0, 1)}))


if __name__ == "__main__":
    main()
