"""Time-to-accuracy of the default CIFAR-10 training on the CPU, against the previous default in the same run.

    python benchmarks/cifar10_speed.py --data-dir DATA/cifar10            # 3 seeds + the reference, ~65 min
    python benchmarks/cifar10_speed.py --seeds 1 --no-reference
    python benchmarks/cifar10_speed.py --set epochs=16 progressive=24:0.75  # a longer run of the same recipe

The recipe is what ``imgclass train --dataset cifar10`` trains with no other flag: the fast net
(imgclass.deep.fastnet, written for imgclass from airbench's published ideas) with the ``fast`` recipe of
imgclass.train.recipes. The reference is the CIFAR-10 default before it, ``imgclass train --dataset cifar10
--model cnn`` (cnn 32,64 fc 128 with batchnorm, 20 epochs of Adam one-cycle, flips, crops, label smoothing).

To measure time-to-accuracy, a probe scores the test split (with the run's own test-time views) at
``--probes`` evenly spaced points of each run. This is measurement only: nothing is chosen on it. "Time" is
the wall time of the training steps (the Trainer's ``train_seconds``, as airbench counts it): neither the
probes nor the validation evaluations are on the clock; ``wall_seconds`` is the whole run's. The figures,
per seed and as the mean over seeds: seconds to reach 75%, 85%, 90% and 91% test accuracy (null when a
seed never does: then the mean is null too and ``seeds_reaching_*`` says how many did), the final test
accuracy (the test split scored once by the run), the training seconds.
``speedup_to_75`` = reference / recipe seconds to 75% (a level both reach), measured in this run. The last
line of output is one JSON object with ``mean_test_accuracy``, ``std_test_accuracy``,
``mean_train_seconds``, ``mean_seconds_to_85``, ``mean_seconds_to_90``, ``mean_seconds_to_91``,
``reference_test_accuracy``, ``reference_seconds`` and more.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np

from imgclass.train import TrainConfig
from imgclass.train.callbacks import Callback
from imgclass.train.run import prepare, train

TARGETS = (0.75, 0.85, 0.90, 0.91)


class TestProbe(Callback):
    """Scores the test split at every evaluation point, on the clock of the training steps."""

    def __init__(self, x_test: np.ndarray, y_test: np.ndarray):
        self.x_test, self.y_test = x_test, y_test
        self.points: list[tuple[float, float, float]] = []  # (training seconds, epoch, test accuracy)

    def on_eval(self, trainer, row):
        acc = float(np.mean(np.argmax(trainer.engine.scores(self.x_test), axis=1) == self.y_test))
        self.points.append((round(trainer.seconds, 1), round(row["epoch"], 2), round(acc, 4)))
        print(f"  epoch {row['epoch']:.2f}: {self.points[-1][0]:.0f} s, val {row['val_acc']:.4f}, "
              f"test probe {acc:.4f}", flush=True)


def time_to(points, target):
    return next((t for t, _, acc in points if acc >= target), None)


def key(target: float) -> str:
    return f"seconds_to_{round(target * 100)}"


def run(cfg: TrainConfig, label: str, out: str, probes: int) -> dict:
    p = prepare(cfg)  # the probe needs the test split exactly as training preprocesses it
    probe = TestProbe(p.x_test, p.split.y_test)
    del p
    cfg = cfg.replace(eval_points=probes)
    t0 = time.perf_counter()
    r = train(cfg, out_root=out, progress=False, callbacks=[probe])
    figures = {"label": label, "seed": cfg.seed, "test_accuracy": r["test_accuracy"], "val_accuracy": r["val_accuracy"],
               "train_seconds": r["train_seconds"], "wall_seconds": round(time.perf_counter() - t0, 1),
               "parameters": r["parameters"], "epochs": cfg.epochs, "curve": probe.points}
    figures.update({key(t): time_to(probe.points, t) for t in TARGETS})
    print(f"{label:<10} seed {cfg.seed}: test {r['test_accuracy']:.4f} after {r['train_seconds']:.0f} s of training; "
          + ", ".join(f"{round(t * 100)}% at {figures[key(t)]} s" for t in TARGETS), flush=True)
    return figures


def mean_or_none(values):
    return None if not values or any(v is None for v in values) else round(float(np.mean(values)), 1)


def parse_sets(pairs: list[str]) -> dict:
    out = {}
    for kv in pairs:
        k, v = kv.split("=", 1)
        try:
            out[k] = json.loads(v)
        except json.JSONDecodeError:
            out[k] = v
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", default=None, help="where the CIFAR-10 python batches are [imgclass's search]")
    ap.add_argument("--seeds", type=int, default=3, help="seeds of the recipe [3]")
    ap.add_argument("--probes", type=int, default=4,
                    help="test-accuracy probes over a run [4: each costs a test + validation scoring]")
    ap.add_argument("--no-reference", dest="reference", action="store_false", help="skip the reference run")
    ap.add_argument("--out", default="/tmp/imgclass-bench-runs", help="parent of the run directories")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                    help="override recipe values, e.g. --set epochs=16 model=fast:64,256,256 (JSON values)")
    args = ap.parse_args()
    data = {"data_dir": args.data_dir} if args.data_dir else {}
    base = {"dataset": "cifar10", "data_options": data, **parse_sets(args.set)}  # the rest: the default recipe
    runs = [run(TrainConfig(**base, seed=seed), "recipe", args.out, args.probes) for seed in range(args.seeds)]
    tests = [r["test_accuracy"] for r in runs]
    figures = {"benchmark": "cifar10_speed", "recipe": TrainConfig(**base).to_dict(), "runs": runs,
               "mean_test_accuracy": round(float(np.mean(tests)), 4),
               "std_test_accuracy": round(float(np.std(tests, ddof=1)), 4) if len(runs) > 1 else 0.0,
               "mean_train_seconds": round(float(np.mean([r["train_seconds"] for r in runs])), 1)}
    for t in TARGETS:
        figures[f"mean_{key(t)}"] = mean_or_none([r[key(t)] for r in runs])
        figures[f"seeds_reaching_{round(t * 100)}"] = sum(r[key(t)] is not None for r in runs)
    figures.update(reference_test_accuracy=None, reference_seconds=None)
    if args.reference:
        ref = run(TrainConfig(dataset="cifar10", data_options=data, model="cnn", seed=0), "reference", args.out,
                  args.probes)
        figures.update(reference=ref, reference_test_accuracy=ref["test_accuracy"],
                       reference_seconds=ref["train_seconds"])
        if ref[key(0.75)] and figures[f"mean_{key(0.75)}"]:
            figures["speedup_to_75"] = round(ref[key(0.75)] / figures[f"mean_{key(0.75)}"], 2)
    import torch

    from imgclass.deep.device import cpu_has_native_bf16

    figures.update(cpus=os.cpu_count(), torch=torch.__version__, torch_threads=torch.get_num_threads(),
                   native_bf16=cpu_has_native_bf16(), cuda=torch.cuda.is_available(),
                   machine=platform.processor() or platform.machine(), load_average_1min=round(os.getloadavg()[0], 2))
    print(f"recipe: mean test accuracy {figures['mean_test_accuracy']:.4f} ± {figures['std_test_accuracy']:.4f} over "
          f"{len(runs)} seed(s), {figures['mean_train_seconds']:.0f} s of training; mean time to "
          + ", ".join(f"{round(t * 100)}%: {figures[f'mean_{key(t)}']} s "
                      f"({figures[f'seeds_reaching_{round(t * 100)}']}/{len(runs)} seeds)" for t in TARGETS)
          + (f"; reference: {figures['reference_test_accuracy']:.4f} after {figures['reference_seconds']:.0f} s"
             if args.reference else ""))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
