"""``imgclass evaluate``: the command line over :func:`imgclass.evaluate.run.evaluate_run`."""

from __future__ import annotations

import argparse


def cmd_evaluate(args: argparse.Namespace) -> int:
    from imgclass.cli import emit
    from imgclass.evaluate.metrics import format_metrics
    from imgclass.evaluate.run import evaluate_run

    m = evaluate_run(args.run_dir, again=args.again)
    uses = m["test_uses"]
    note = ("test split used once (at the end of training); these figures come from its stored scores"
            if uses == 1 else f"note: the test split has been used {uses} times for this run (see test_log.json)")
    text = "\n".join([format_metrics(m), "", note, "plots: " + ", ".join(m["plots"])])
    emit(args, text, m)
    return 0


def add_commands(sub, command) -> None:
    p = command(sub, "evaluate", cmd_evaluate,
                "test-split accuracy, per-class accuracy, confusion matrix and plots of a finished run")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory written by 'imgclass train'")
    p.add_argument("--again", action="store_true",
                   help="recompute the test scores with the model (recorded as another use of the test split) "
                        "instead of reporting from the scores stored at the end of training")
