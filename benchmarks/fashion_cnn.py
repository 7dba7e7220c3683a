"""Time-to-accuracy of the default Fashion-MNIST CNN recipe on the CPU, against a plain reference CNN (run by hand).

    python benchmarks/fashion_cnn.py                 # recipe x 3 seeds + the reference once, ~10 min on 2 cores
    python benchmarks/fashion_cnn.py --seeds 1 --no-reference

The recipe is what ``imgclass train --dataset fashion-mnist --model cnn``
uses by default (imgclass.train.cli.recipe). The reference is the plain CNN
the issue measured: two conv layers with batchnorm (422k parameters), Adam
1e-3, batch 128, constant learning rate, no augmentation, channels_last.

To measure time-to-accuracy, a probe scores the test split at evenly spaced
points during training (``--probes`` per epoch). This is measurement only:
nothing is selected on it, and the probe's own time is not counted. "Time"
is the wall time of training plus the validation evaluations since the
first step. The figures: seconds to reach 92% and 93% test accuracy (null if
never), the final test accuracy, each per seed, and the mean over seeds;
``speedup_to_92`` = reference time-to-92% / recipe mean time-to-92% (when
the reference gets there) and ``epoch_time_ratio`` = reference / recipe
seconds per epoch, both measured in this run. The last line of output is one JSON object.
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

TARGETS = (0.92, 0.93)
REFERENCE = dict(model="cnn:32,64;fc=128;bn", optimizer="adam", lr=1e-3, batch_size=128, schedule="constant",
                 channels_last=True, epochs=10)


class TestProbe(Callback):
    """Scores the test split at every evaluation point; subtracts its own time from the clock."""

    def __init__(self):
        self.start = None
        self.paused = 0.0
        self.points: list[tuple[float, float, float]] = []  # (seconds, epoch, test accuracy)
        self.x_test = self.y_test = None

    def on_train_begin(self, trainer):
        self.start = time.perf_counter()

    def on_eval(self, trainer, row):
        t0 = time.perf_counter()
        acc = float(np.mean(np.argmax(trainer.engine.scores(self.x_test), axis=1) == self.y_test))
        t1 = time.perf_counter()
        self.points.append((round(t0 - self.start - self.paused, 2), row["epoch"], round(acc, 4)))
        self.paused += t1 - t0


def time_to(points, target):
    return next((t for t, _, acc in points if acc >= target), None)


def run(cfg: TrainConfig, label: str, out: str) -> dict:
    probe = TestProbe()
    p = prepare(cfg)  # the probe needs the test split exactly as training preprocesses it
    probe.x_test, probe.y_test = p.x_test, p.split.y_test
    del p
    r = train(cfg, out_root=out, progress=False, callbacks=[probe])
    figures = {"label": label, "seed": cfg.seed, "test_accuracy": r["test_accuracy"],
               "parameters": r["parameters"], "epochs": cfg.epochs,
               "train_seconds_total": probe.points[-1][0],
               "seconds_per_epoch": round(probe.points[-1][0] / cfg.epochs, 2), "curve": probe.points}
    for target in TARGETS:
        figures[f"seconds_to_{int(target * 100)}"] = time_to(probe.points, target)
    print(f"{label:<10} seed {cfg.seed}: test {r['test_accuracy']:.4f} after {probe.points[-1][0]:.0f} s; "
          + "  ".join(f"{int(t * 100)}% at {figures[f'seconds_to_{int(t * 100)}']} s" for t in TARGETS), flush=True)
    return figures


def mean_or_none(values):
    return None if any(v is None for v in values) else round(float(np.mean(values)), 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=3, help="seeds of the recipe (default: 3)")
    ap.add_argument("--probes", type=int, default=4, help="test-accuracy probes per epoch (default: 4)")
    ap.add_argument("--no-reference", dest="reference", action="store_false", help="skip the reference CNN")
    ap.add_argument("--out", default="/tmp/imgclass-bench-runs", help="parent of the run directories")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                    help="override recipe values, e.g. --set epochs=6 lr=0.004 (JSON values)")
    args = ap.parse_args()
    base = {"model": "cnn", "dataset": "fashion-mnist", "val": 5000}  # the rest: the recipe TrainConfig resolves
    for kv in args.set:
        k, v = kv.split("=", 1)
        try:
            base[k] = json.loads(v)
        except json.JSONDecodeError:
            base[k] = v
    runs = []
    for seed in range(args.seeds):
        cfg = TrainConfig(**base, seed=seed)
        runs.append(run(cfg.replace(eval_points=args.probes * cfg.epochs), "recipe", args.out))
    figures = {"recipe": TrainConfig(**base).to_dict(), "runs": runs,
               "mean_test_accuracy": round(float(np.mean([r["test_accuracy"] for r in runs])), 4),
               "std_test_accuracy": round(float(np.std([r["test_accuracy"] for r in runs], ddof=1)), 4)
               if len(runs) > 1 else 0.0}
    for t in TARGETS:
        key = f"seconds_to_{int(t * 100)}"
        figures[f"mean_{key}"] = mean_or_none([r[key] for r in runs])
        figures[f"seeds_reaching_{int(t * 100)}"] = sum(r[key] is not None for r in runs)
    if args.reference:
        ref_cfg = TrainConfig(**{**REFERENCE, "dataset": "fashion-mnist", "val": 5000}, seed=0)
        ref = run(ref_cfg.replace(eval_points=args.probes * ref_cfg.epochs), "reference", args.out)
        figures["reference"] = ref
        if ref["seconds_to_92"] and figures["mean_seconds_to_92"]:
            figures["speedup_to_92"] = round(ref["seconds_to_92"] / figures["mean_seconds_to_92"], 2)
        figures["epoch_time_ratio"] = round(ref["seconds_per_epoch"] / np.mean([r["seconds_per_epoch"] for r in runs]), 2)
    import torch

    figures.update(cpus=os.cpu_count(), torch=torch.__version__, torch_threads=torch.get_num_threads(),
                   machine=platform.machine(), load_average_1min=round(os.getloadavg()[0], 2))
    print(f"recipe: mean test accuracy {figures['mean_test_accuracy']:.4f} ± {figures['std_test_accuracy']:.4f} "
          f"over {len(runs)} seed(s); mean time to 92%: {figures['mean_seconds_to_92']} s "
          f"({figures['seeds_reaching_92']}/{len(runs)} seeds reach it), to 93%: {figures['mean_seconds_to_93']} s "
          f"({figures['seeds_reaching_93']}/{len(runs)})"
          + (f"; reference: {figures['reference']['test_accuracy']:.4f} after {REFERENCE['epochs']} epochs, "
             f"to 92%: {figures['reference']['seconds_to_92']} s, "
             f"{figures['epoch_time_ratio']}x the recipe's time per epoch" if args.reference else ""))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
