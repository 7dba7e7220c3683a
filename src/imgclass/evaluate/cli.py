"""``imgclass evaluate``, ``report`` and ``compare``: the command line over :mod:`imgclass.evaluate`."""

from __future__ import annotations

import argparse

from imgclass.cliargs import emit


def cmd_evaluate(args: argparse.Namespace) -> int:
    from imgclass.evaluate.run import evaluate_run # the library loads when the command runs
    from imgclass.metrics import format_metrics

    m = evaluate_run(args.run_dir, again=args.again)
    uses = m["test_uses"]
    if uses != 1:
        note = f"note: the test split has been used {uses} times for this run (see test_log.json)"
    elif m["test_log"][0].get("by") == "evaluate":  # a --no-test run: its one use was by imgclass evaluate
        note = (f"test split used once, by imgclass evaluate at {m['test_log'][0].get('time')} (the run was trained "
                "without it); these figures come from its stored scores")
    else:
        note = "test split used once (at the end of training); these figures come from its stored scores"
    text = "\n".join([format_metrics(m), "", note, "plots: " + ", ".join(m["plots"])])
    emit(args, text, m)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from imgclass.evaluate.report import write_report  # the library loads when the command runs
    from imgclass.runs import Run

    path = write_report(args.run_dir, args.out)
    kind = Run.open(args.run_dir).kind
    emit(args, f"wrote {path} ({kind}; {path.stat().st_size / 1e6:.1f} MB, self-contained)",
         {"report": str(path), "kind": kind, "bytes": path.stat().st_size})
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from imgclass.evaluate.compare import (  # loads on use
        compare_runs,
        format_comparison,
        write_comparison_html,
    )

    c = compare_runs(args.run_dirs)
    text = format_comparison(c)
    if args.html:
        c["html"] = str(write_comparison_html(c, args.html))
        text += f"\nwrote {c['html']}"
    emit(args, text, c)
    return 0


def add_commands(sub, command) -> None:
    p = command(sub, "evaluate", cmd_evaluate,
                "test-split accuracy, per-class accuracy, confusion matrix and plots of a finished run")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory written by 'imgclass train' or 'linear'")
    p.add_argument("--again", action="store_true",
                   help="recompute the test scores with the model (recorded as another use of the test split) "
                        "instead of reporting from the scores stored at the end of training")

    p = command(sub, "report", cmd_report,
                "write one self-contained HTML page (figures embedded, no network requests) for a run, a multi-seed "
                "run, a linear run or sweep, an optuna sweep or a study")
    p.add_argument("run_dir", metavar="RUN_DIR",
                   help="a directory written by imgclass train, linear train/sweep, sweep or study")
    p.add_argument("--out", default=None, metavar="FILE", help="where to write the page [RUN_DIR/report.html]")

    p = command(sub, "compare", cmd_compare,
                "put runs side by side (model, engine, parameters, accuracy, training time) in the terminal and "
                "an HTML page")
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR",
                   help="run directories (train, multi-seed, linear, linear sweep or optuna sweep)")
    p.add_argument("--html", default="compare.html", metavar="FILE",
                   help="also write the table as a self-contained HTML page here ('' = do not)")
