"""Train NumPy-engine models on the real Fashion-MNIST and report test accuracy (run by hand).

    python benchmarks/numpy_fashion.py --model twolayer   # TwoLayerNet, ~25 s on 2 cores
    python benchmarks/numpy_fashion.py --model cnn        # small CNN, 4 epochs, a few minutes
    python benchmarks/numpy_fashion.py --model overfit    # the overfitting exercise, ~1 s

Prints one line per epoch and ends with one JSON line of figures. The recipes
are :func:`imgclass.nn.recipes.train_fashion`.
"""

from __future__ import annotations

import argparse
import json

from imgclass.nn.recipes import RECIPES, train_fashion


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", choices=RECIPES, default="twolayer")
    ap.add_argument("--epochs", type=int, default=None, help="default: 12 (twolayer), 4 (cnn), 40 (overfit)")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=None, help="peak learning rate of the one-cycle schedule")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    r = train_fashion(args.model, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed)
    r.pop("history")
    print(json.dumps(r))


if __name__ == "__main__":
    main()
