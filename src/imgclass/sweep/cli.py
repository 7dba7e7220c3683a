"""``imgclass sweep``: the command line over :func:`imgclass.sweep.worker.sweep` (imports nothing heavy at load time)."""

from __future__ import annotations

import argparse

from imgclass.cliargs import emit
from imgclass.errors import ImgclassError
from imgclass.sweep.space import parse_space
from imgclass.train import recipes
from imgclass.train.cli import add_train_args, config_from_args

SPACE_HELP = """search space (--space NAME=KIND:ARGS, repeatable, or --space-file FILE.json):
  lr=loguniform:1e-4:1e-1   weight_decay=loguniform:1e-6:1e-2   momentum=uniform:0.8:0.99
  epochs=int:2:8   model.hidden=logint:32:512   batch_size=categorical:64,128,256
  NAME is a training setting (lr, weight_decay, batch_size, epochs, optimizer, schedule, ...) or
  model.FIELD of the --model being tuned (hidden, channels, fc, dropout, batchnorm, ...).
  Default: lr log-uniform within 10x of the recipe's lr, and weight_decay log-uniform in [1e-6, 1e-2].
  A space file is a JSON object {NAME: "loguniform:1e-4:1e-1" | [choices] | {"type": .., "low": .., "high": ..}}.
  --seed seeds every trial's training (all trials share the validation split) and the sampler.

several workers, one study: start the same command (same --storage and --study) on each machine, e.g.
  imgclass sweep --model mlp --trials 40 --storage postgresql://user:pw@db/sweeps --study mlp-lr
  --trials counts finished (complete or pruned) trials in the whole study; a killed worker's trial is
  failed after 3 heartbeats and retried; 'imgclass sweep --resume' continues the latest study."""


def add_commands(sub, command) -> None:
    p = command(sub, "sweep", cmd_sweep,
                "tune hyperparameters of any model with Optuna (TPE, random or grid search, median or "
                "successive-halving pruning), one worker or many sharing a study; every trial is a run "
                "directory; the best is tested once")
    p.epilog = SPACE_HELP + "\n\n" + recipes.help_text()
    add_train_args(p)
    p.conflict_handler = "resolve"  # --resume, --name and --seeds mean something else here
    g = p.add_argument_group("sweep")
    g.add_argument("--trials", type=int, default=None, metavar="N",
                   help="finished (complete or pruned) trials wanted in the study [20; with --resume: the study's]")
    g.add_argument("--space", action="append", default=None, metavar="NAME=KIND:ARGS",
                   help="one searched parameter (repeat for more); see below [lr and weight_decay]")
    g.add_argument("--space-file", default=None, metavar="FILE", help="search space as a JSON object")
    g.add_argument("--sampler", choices=("tpe", "random", "grid"), default=None,
                   help="TPE (Bayesian), random, or grid search [tpe]")
    g.add_argument("--grid-points", type=int, default=None, metavar="K",
                   help="grid sampler: values per numeric parameter (log-spaced for log kinds) [3]")
    g.add_argument("--pruner", choices=("median", "halving", "none"), default=None,
                   help="stop poor trials early from their validation accuracy at each evaluation point "
                        "(more points: --eval-points) [median]")
    g.add_argument("--storage", default=None, metavar="URL",
                   help="Optuna storage: postgresql://user:password@host/db shares a study between machines; "
                        "a file path is SQLite [OUT/sweeps.db]")
    g.add_argument("--study", default=None, metavar="NAME",
                   help="create this study, or join it if it exists with the same settings "
                        "[a new study named like its sweep directory]")
    g.add_argument("--resume", action="store_true",
                   help="continue --study (else the latest study in the storage) with its stored settings until "
                        "--trials have finished; a killed worker's running trial is failed and retried")
    g.add_argument("--report-only", action="store_true",
                   help="run no trial: test the best once (if not yet), redraw the plots, rewrite sweep.json")
    g.add_argument("--heartbeat", type=int, default=10, metavar="SECONDS",
                   help="a running trial's heartbeat period; one silent for 3 periods counts as killed")
    g.add_argument("--name", default=None, help="sweep directory name [engine-model-dataset]")
    g.add_argument("--seeds", type=int, default=1, help=argparse.SUPPRESS)


def ranked(rows: list[dict]) -> list[dict]:
    """Rows sorted best first: completed by val accuracy, then pruned, then the rest, each by trial number."""
    order = {"COMPLETE": 0, "PRUNED": 1, "RUNNING": 2, "WAITING": 3, "FAIL": 4}
    return sorted(rows, key=lambda r: (order.get(r["state"], 5), -(r["value"] or 0.0), r["number"]))


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def format_result(r: dict) -> str:
    """The trials as a table sorted by validation accuracy, then the best and its one test evaluation."""
    counts = ", ".join(f"{n} {s.lower()}" for s, n in sorted(r["counts"].items()))
    lines = [f"study {r['study']} in {r['storage']}: {counts or 'no trials'} "
             f"({r['trials_requested']} to finish; this worker ran {r['ran']})"]
    names = list(r["space"])
    rows = ranked(r["trials"])
    header = ["rank", "trial", "state", "val acc", *names, "note"]
    table = [[str(i + 1), str(t["number"]), t["state"], "-" if t["value"] is None else f"{t['value']:.4f}",
              *[_fmt(t["params"].get(n, "-")) for n in names], t["note"] or ""] for i, t in enumerate(rows)]
    widths = [max(len(h), *(len(row[k]) for row in table)) if table else len(h) for k, h in enumerate(header)]
    for row in [header, *table]:
        lines.append("  ".join(c.ljust(w) if k in (2, len(header) - 1) else c.rjust(w)
                               for k, (c, w) in enumerate(zip(row, widths))).rstrip())
    b = r["best"]
    if b is None:
        lines.append("no trial has completed yet")
    else:
        params = ", ".join(f"{k}={_fmt(v)}" for k, v in b["params"].items())
        lines.append(f"best: trial {b['number']} ({params}): val accuracy {b['value']:.4f}")
        if b["test_accuracy"] is not None:
            how = "its run's model" if b["test_from"] == "reused" else "retrained"
            lines.append(f"test accuracy of the best: {b['test_accuracy']:.4f}   ({how}; test split used once)")
    if r["note"]:
        lines.append(f"note: {r['note']}")
    lines.append(f"sweep directory {r['sweep_dir']}")
    return "\n".join(lines)


def cmd_sweep(args: argparse.Namespace) -> int:
    import optuna

    from imgclass.sweep.worker import sweep  # the library loads when the command runs

    optuna.logging.set_verbosity(optuna.logging.INFO if args.verbose else optuna.logging.WARNING)
    if args.seeds != 1:
        raise ImgclassError("--seeds is for imgclass train; a sweep trains each trial with --seed")
    continuing = args.resume or args.report_only
    if continuing:
        given = [f for f, v in (("--space", args.space), ("--space-file", args.space_file), ("--sampler", args.sampler),
                                ("--pruner", args.pruner), ("--grid-points", args.grid_points)) if v is not None]
        if given:
            raise ImgclassError(f"{', '.join(given)} cannot change a study; --resume/--report-only use its own "
                                "settings (start a new --study to change them)")
        cfg = space = None
    else:
        cfg = config_from_args(args)
        space = parse_space(args.space, args.space_file) or None
    r = sweep(cfg, space, trials=args.trials if args.trials is not None or continuing else 20,
              sampler=args.sampler or "tpe", pruner=args.pruner or "median", storage=args.storage,
              study=args.study, resume=args.resume, report_only=args.report_only, out_root=args.out,
              name=args.name, heartbeat=args.heartbeat, grid_points=args.grid_points or 3, progress=args.progress)
    emit(args, format_result(r), r)
    return 0
