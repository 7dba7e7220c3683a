"""The course assignments on CIFAR-10 with imgclass's default recipes: linear SVM and softmax, the two-layer
net and its overfitting exercise, a CNN on the from-scratch NumPy engine, ResNet-8 (run by hand; about 40
minutes).

    python benchmarks/cifar10_assignments.py --data-dir DATA/cifar10        # everything
    python benchmarks/cifar10_assignments.py --only linear twolayer        # some of it

Every model is what the obvious command trains, through the same library calls:

=============== ===========================================================================
svm, softmax    ``imgclass linear train --dataset cifar10 --loss svm|softmax`` (lr and reg chosen on
                the validation split by one batched sweep; the SVM on ZCA-whitened pixels, its recipe)
twolayer        ``imgclass train --dataset cifar10 --recipe twolayer`` (NumPy engine)
overfit         ``imgclass train --dataset cifar10 --recipe overfit`` (NumPy engine, 1% of the data)
numpy_cnn       ``imgclass train --dataset cifar10 --recipe numpy-cnn`` (NumPy engine)
linear_sweep    ``imgclass linear sweep --dataset cifar10 --grid-size 24 15``: the 360-config sweep
                whose scatter plots and class templates go in its report.html
resnet          ``imgclass train --dataset cifar10 --model resnet`` (ResNet-8, its CIFAR-10 recipe)
=============== ===========================================================================

Each trains once and is tested once (the test split is never used for a choice). The last line of output
is one JSON object with ``svm_test``, ``softmax_test``, ``twolayer_test``, ``twolayer_seconds``,
``overfit_train_accuracy``, ``overfit_seconds``, ``numpy_cnn_test``, ``numpy_cnn_seconds`` (training
seconds), ``resnet_test``, ``resnet_seconds`` and more.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

from imgclass.evaluate.report import write_report
from imgclass.linear.config import LinearConfig, LinearSweepConfig
from imgclass.linear.run import sweep_linear, train_linear
from imgclass.train import TrainConfig
from imgclass.train.run import train

PARTS = ("linear", "twolayer", "overfit", "numpy_cnn", "linear_sweep", "resnet")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default=None, help="where the CIFAR-10 python batches are [imgclass's search]")
    ap.add_argument("--only", nargs="+", choices=PARTS, default=PARTS, help="parts to run [all]")
    ap.add_argument("--out", default="/tmp/imgclass-bench-runs", help="parent of the run directories")
    args = ap.parse_args()
    data = {"data_dir": args.data_dir} if args.data_dir else {}
    figures: dict = {"benchmark": "cifar10_assignments"}
    t_all = time.perf_counter()

    if "linear" in args.only:
        for loss in ("svm", "softmax"):
            r = train_linear(LinearConfig(dataset="cifar10", data_options=data, loss=loss), out_root=args.out,
                             progress=False)
            figures.update({f"{loss}_test": r["test_accuracy"], f"{loss}_val": r["val_accuracy"],
                            f"{loss}_lr": r["lr"], f"{loss}_reg": r["reg"], f"{loss}_seconds": r["train_seconds"],
                            f"{loss}_selection_seconds": r["selection"]["seconds"],
                            f"{loss}_whiten": r["hyperparameters"]["whiten"]})
            print(f"linear {loss}: test {r['test_accuracy']:.4f} (val {r['val_accuracy']:.4f}; lr {r['lr']:.3g}, "
                  f"reg {r['reg']:.3g} chosen among {r['selection']['configs']} configs; whitening eps "
                  f"{r['hyperparameters']['whiten']:g}), {r['train_seconds']:.0f} s", flush=True)
    for part, how in (("twolayer", dict(recipe="twolayer")), ("overfit", dict(recipe="overfit")),
                      ("numpy_cnn", dict(recipe="numpy-cnn")), ("resnet", dict(model="resnet"))):
        if part not in args.only:
            continue
        label = f"--recipe {how['recipe']}" if "recipe" in how else f"--model {how['model']}"
        r = train(TrainConfig(dataset="cifar10", data_options=data, **how), out_root=args.out)
        figures.update({f"{part}_test": r["test_accuracy"], f"{part}_val": r["val_accuracy"],
                        f"{part}_train_accuracy": r["train_accuracy"], f"{part}_seconds": r["train_seconds"],
                        f"{part}_model": r["model"], f"{part}_epochs": r["epochs_done"]})
        print(f"{part} ({label}, {r['model']}): test {r['test_accuracy']:.4f}, final train accuracy "
              f"{r['train_accuracy']:.4f}, {r['train_seconds']:.0f} s of training", flush=True)
    if "linear_sweep" in args.only:
        r = sweep_linear(LinearSweepConfig(dataset="cifar10", data_options=data, loss="softmax", grid_size=(24, 15)),
                         out_root=args.out, progress=False)
        report = write_report(r["run_dir"])
        figures.update(linear_sweep_seconds=r["train_seconds"], linear_sweep_configs=r["configs"],
                       linear_sweep_test=r["test_accuracy"], linear_sweep_report=str(report))
        print(f"linear sweep: {r['configs']} configs in {r['train_seconds']:.0f} s, best test {r['test_accuracy']:.4f}; "
              f"scatter plots and templates in {report}", flush=True)
    import torch

    figures.update(total_seconds=round(time.perf_counter() - t_all, 1), cpus=os.cpu_count(),
                   machine=platform.processor() or platform.machine(), torch_threads=torch.get_num_threads(),
                   load_average_1min=round(os.getloadavg()[0], 2))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
