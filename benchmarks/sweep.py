"""Time a batched hyperparameter sweep against separate sgd_fit runs on CIFAR-10 or Fashion-MNIST (run by hand).

    python benchmarks/sweep.py --data-dir /data/cifar10        # CIFAR-10: 24 x 15 grid, 300 iterations,
                                                               # 36 separate runs timed and scaled
    python benchmarks/sweep.py --dataset fashion-mnist         # Fashion-MNIST, found where imgclass.data looks
    python benchmarks/sweep.py --separate 360                  # time every separate run (long on 2 cores)

Data: the real CIFAR-10 (D = 3072 + 1, the default) or Fashion-MNIST
(D = 784 + 1; ``apt-get install dataset-fashion-mnist``), loaded by
:func:`imgclass.data.load` from ``--data-dir`` if given, a stratified
5000-image validation split, per-pixel normalization, the bias trick,
float32. Both sides do the same work per config: ``num_iters`` softmax
SGD steps on the same minibatches from the same initial W, then train and
validation accuracy. The batched side is :func:`imgclass.linear.sweep.sweep`
(all configs as one stack W (K, C, D)); the separate side calls
:func:`imgclass.linear.sgd.sgd_fit` once per config. When fewer separate runs
are timed than there are configs, a seeded random sample is timed and the
total is scaled up (printed as such). A separate run whose loss diverges
stops where sgd_fit raises. The last line of output is one JSON object;
``speedup`` is separate / batched, both measured in this one run (on a
shared machine, compare ratios, not seconds across runs).

The check against the separate runs: the two sides do the same float
operations in another order, so they agree to rounding. Where a learning
rate is so large that SGD is chaotic, those rounding differences grow over
the iterations (as between any two BLAS builds), and such a config's
accuracies can end a few points apart: ``max_val_acc_diff_vs_separate`` is
over all finite configs, ``val_acc_within_1e-3`` counts those that agree
and ``val_acc_apart_lrs`` lists the learning rates of the others.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np

from imgclass.data import Preprocessor, load, make_split
from imgclass.errors import ImgclassError
from imgclass.linear.sgd import sgd_fit
from imgclass.linear.search import grid
from imgclass.linear.sweep import sweep

AGREE = 1e-3  # val accuracies within this count as agreeing (5 of 5000 validation images)


def separate_run(W0, xtr, ytr, xval, yval, lr, reg, args) -> dict:
    """One config alone with sgd_fit, plus its accuracies; the work of one column of the sweep."""
    W = W0.copy()
    t = time.perf_counter()
    try:
        with np.errstate(over="ignore", invalid="ignore"):  # a diverging config overflows before sgd_fit raises
            sgd_fit(W, xtr, ytr, loss="softmax", lr=lr, reg=reg, num_iters=args.num_iters,
                    batch_size=args.batch_size, seed=args.seed)
        train_acc = float(np.mean((xtr @ W.T).argmax(1) == ytr))
        val_acc = float(np.mean((xval @ W.T).argmax(1) == yval))
    except ImgclassError:
        train_acc = val_acc = float("nan")
    return {"seconds": time.perf_counter() - t, "train_acc": train_acc, "val_acc": val_acc}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--num-iters", type=int, default=300)
    ap.add_argument("--batch-size", type=int, default=200)
    ap.add_argument("--lrs", type=int, default=24,
                    help="number of learning rates, log-spaced in [1e-6, 1] (default 24)")
    ap.add_argument("--regs", type=int, default=15, help="number of regularization strengths, log-spaced in "
                                                         "[1e-5, 1e3] (default 15)")
    ap.add_argument("--separate", type=int, default=36, help="separate sgd_fit runs to time (default 36; "
                                                             "all configs: no scaling)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dataset", choices=("cifar10", "fashion-mnist"), default="cifar10",
                    help="dataset to time on (default cifar10)")
    ap.add_argument("--data-dir", default=None, help="directory of the dataset's files (default: where "
                                                     "imgclass.data.load looks)")
    args = ap.parse_args()

    ds = load(args.dataset, data_dir=args.data_dir)
    split = make_split(ds, val=5000, seed=args.seed)
    pre = Preprocessor(normalize="pixel", flatten=True, bias=True, dtype="float32").fit(split.x_train)
    xtr, xval = pre.transform(split.x_train), pre.transform(split.x_val)  # e.g. (45000, 3073), (5000, 3073) float32
    ytr, yval = split.y_train, split.y_val
    configs = grid(np.logspace(-6, 0, args.lrs), np.logspace(-5, 3, args.regs))
    k = len(configs)
    print(f"{args.dataset}: train {xtr.shape}, val {xval.shape}, {xtr.dtype}; {args.lrs} x {args.regs} = {k} "
          f"configs, softmax, {args.num_iters} iterations of batch {args.batch_size}")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, numpy {np.__version__}")

    t = time.perf_counter()
    result = sweep(xtr, ytr, xval, yval, configs, loss="softmax", num_iters=args.num_iters,
                   batch_size=args.batch_size, seed=args.seed, progress=False)
    batched_s = time.perf_counter() - t
    best = result.best
    n_div = sum(r["diverged"] for r in result.records)
    print(f"batched sweep: {batched_s:.2f} s for {k} configs ({n_div} diverged, chunk {result.settings['chunk']})")
    print(f"best: lr={best['lr']:.3g} reg={best['reg']:.3g} val_acc={best['val_acc']:.4f} "
          f"train_acc={best['train_acc']:.4f}")

    n_sep = min(max(args.separate, 1), k)
    picks = np.sort(np.random.default_rng(args.seed).choice(k, n_sep, replace=False)) if n_sep < k else np.arange(k)
    W0 = (1e-4 * np.random.default_rng(args.seed).standard_normal((ds.num_classes, xtr.shape[1]))).astype(xtr.dtype)
    runs = [separate_run(W0, xtr, ytr, xval, yval, *configs[i], args) for i in picks]
    sep_s = sum(r["seconds"] for r in runs)
    scaled = n_sep < k
    sep_total = sep_s * k / n_sep
    both = [(r, i) for r, i in zip(runs, picks)
            if np.isfinite(r["val_acc"]) and np.isfinite(result.records[i]["val_acc"])]
    diffs = [abs(r["val_acc"] - result.records[i]["val_acc"]) for r, i in both]
    # the configs whose val accuracies differ by more than one or two images: where a large learning rate
    # makes SGD chaotic, the two sides' float rounding differences grow over the iterations
    apart = [i for (r, i), diff in zip(both, diffs) if diff > AGREE]
    agree_div = sum(np.isnan(r["val_acc"]) == result.records[i]["diverged"] for r, i in zip(runs, picks))
    if scaled:
        print(f"separate sgd_fit: {sep_s:.2f} s for a seeded random sample of {n_sep} of {k} configs; "
              f"SCALED to all {k}: {sep_total:.2f} s")
    else:
        print(f"separate sgd_fit: {sep_total:.2f} s for all {k} configs (measured, not scaled)")
    print(f"speedup (separate / batched): {sep_total / batched_s:.1f}x")
    print(f"check on the {n_sep} separate runs: max |val_acc difference| {max(diffs, default=0.0):.2g} "
          f"over {len(diffs)} converged, within {AGREE} on {len(diffs) - len(apart)}/{len(diffs)}; "
          f"divergence agrees on {agree_div}/{n_sep}")
    if apart:
        print("  further apart (rounding differences grown by SGD at these learning rates): "
              + ", ".join(f"lr={configs[i][0]:.3g} reg={configs[i][1]:.3g}" for i in apart))
    print(json.dumps({
        "benchmark": "sweep", "dataset": args.dataset, "num_train": len(ytr), "num_val": len(yval),
        "dtype": str(xtr.dtype), "grid": [args.lrs, args.regs], "configs": k, "loss": "softmax",
        "num_iters": args.num_iters, "batch_size": args.batch_size, "cpus": os.cpu_count(),
        "batched_s": round(batched_s, 3), "separate_runs_timed": n_sep, "separate_s_measured": round(sep_s, 3),
        "separate_s_total": round(sep_total, 3), "separate_scaled": scaled,
        "speedup": round(sep_total / batched_s, 2), "diverged": n_div,
        "best": {"lr": best["lr"], "reg": best["reg"], "val_acc": best["val_acc"], "train_acc": best["train_acc"]},
        "max_val_acc_diff_vs_separate": max(diffs, default=0.0),
        "val_acc_within_1e-3": f"{len(diffs) - len(apart)}/{len(diffs)}",
        "val_acc_apart_lrs": sorted({configs[i][0] for i in apart}),
        "divergence_agrees": f"{agree_div}/{n_sep}",
    }))


if __name__ == "__main__":
    main()
