"""A sweep of distributed trainings: Optuna trials in one shared study, each trial one ``torchrun`` job.

    python examples/distributed_sweep.py --storage postgresql://user:pw@host/db --study photos --trials 20 \\
        --nproc-per-node 4 -- --dataset folder:photos --model resnet --epochs 30

Start the same command on every machine (or group of GPUs) that should run trials: the workers share
the study in PostgreSQL and stop once ``--trials`` trials are complete between them. Each trial runs
``torchrun --standalone --nproc-per-node N -m imgclass train ... --lr LR --weight-decay WD --no-test``
into its own run directory (``--no-test``: trials never touch the test split) and reports the run's
best validation accuracy. Everything after ``--`` is passed to ``imgclass train`` unchanged. At the end
the best configuration is printed as the one ``imgclass train`` command to run (once, with the test).
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from pathlib import Path


def why_failed(stderr: str) -> str:
    """The lines of a failed torchrun job's output that say why: imgclass's own error, else torchrun's summary.

    torchrun ends with a box of ``=`` lines around the root cause (rank, exit code, signal or traceback):
    its last line alone says nothing.
    """
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    ours = [line for line in lines if "imgclass: error:" in line]
    if ours:
        return ours[-1][ours[-1].index("imgclass: error:"):]
    summary = [line for line in lines if line.split(":")[0].strip() in ("rank", "exitcode", "traceback")]
    if summary:
        return "; ".join(" ".join(line.split()) for line in summary[-3:])
    plain = [line for line in lines if line.strip("=-")]
    return plain[-1] if plain else "no output"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    train_args = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[:argv.index("--")] if "--" in argv else argv
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--storage", required=True, help="Optuna storage URL, e.g. postgresql://user:pw@host/db")
    ap.add_argument("--study", required=True, help="study name (shared by the workers)")
    ap.add_argument("--trials", type=int, default=10, help="complete trials between all workers [10]")
    ap.add_argument("--nproc-per-node", type=int, default=1, help="training processes per trial [1]")
    ap.add_argument("--out", default="runs/distributed-sweep", help="parent of the trials' run directories")
    ap.add_argument("--lr", default="1e-4:1e-1", metavar="LOW:HIGH", help="log-uniform learning rate range")
    ap.add_argument("--weight-decay", default="1e-6:1e-2", metavar="LOW:HIGH", help="log-uniform L2 range")
    args = ap.parse_args(argv)

    import optuna
    from optuna.trial import TrialState

    def bounds(text):
        low, high = (float(v) for v in text.split(":"))
        return low, high

    failures = []  # this worker's failed trials, in a row

    def objective(trial: optuna.Trial) -> float:
        params = {"lr": trial.suggest_float("lr", *bounds(args.lr), log=True),
                  "weight-decay": trial.suggest_float("weight_decay", *bounds(args.weight_decay), log=True)}
        out = Path(args.out) / args.study / f"trial{trial.number:04d}"
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
               str(args.nproc_per_node), "-m", "imgclass", "train", *train_args,
               *(f"--{k}={v}" for k, v in params.items()), "--no-test", "--no-progress", "--out", str(out)]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:  # a failed trial is marked failed in the study; the sweep goes on
            failures.append(trial.number)
            out.mkdir(parents=True, exist_ok=True)
            log = out / "torchrun.log"
            log.write_text(done.stdout + done.stderr)
            raise RuntimeError(f"trial {trial.number} failed ({why_failed(done.stderr)}); its whole output is in {log}")
        (result,) = out.glob("*/results.json")
        value = json.loads(result.read_text())["val_accuracy"]
        trial.set_user_attr("run_dir", str(result.parent))
        return value

    study = optuna.create_study(study_name=args.study, storage=args.storage, direction="maximize",
                                load_if_exists=True)

    def complete() -> int:  # read from the storage before every trial: the workers' shared count
        return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))

    while complete() < args.trials:  # several workers may overshoot by one trial each, never fall short
        before = len(failures)
        study.optimize(objective, n_trials=1, catch=(RuntimeError,))
        if len(failures) == before:
            failures.clear()
        elif len(failures) >= 3:
            print("three trials in a row failed; see the errors above", file=sys.stderr)
            return 1
    best = study.best_trial
    print(f"best of {len(study.get_trials(states=(TrialState.COMPLETE,)))} trials: val accuracy {best.value:.4f} "
          f"({best.user_attrs['run_dir']})")
    print("train it once, with the test: torchrun --nproc-per-node", args.nproc_per_node, "-m imgclass train",
          shlex.join([*train_args, f"--lr={best.params['lr']:.4g}", f"--weight-decay={best.params['weight_decay']:.4g}"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
