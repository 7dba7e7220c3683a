"""``imgclass evaluate``, ``report``, ``study`` and ``compare``: the command line over :mod:`imgclass.evaluate`."""

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


def cmd_report(args: argparse.Namespace) -> int:
    from imgclass.cli import emit
    from imgclass.evaluate.report import run_kind, write_report

    kind = run_kind(args.run_dir)
    path = write_report(args.run_dir, args.out)
    emit(args, f"wrote {path} ({kind}; {path.stat().st_size / 1e6:.1f} MB, self-contained)",
         {"report": str(path), "kind": kind, "bytes": path.stat().st_size})
    return 0


def _fractions(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated fractions such as 0.1,0.5,1; got {text!r}") \
            from None


def cmd_study_train_fraction(args: argparse.Namespace) -> int:
    from imgclass.cli import emit
    from imgclass.errors import ImgclassError
    from imgclass.evaluate.studies import format_train_fraction, train_fraction_study
    from imgclass.train.cli import config_from_args

    given = [flag for flag, bad in (("--resume", args.resume), ("--seeds", args.seeds != 1),
                                    ("--train-fraction", args.train_fraction is not None)) if bad]
    if given:
        raise ImgclassError(f"'imgclass study train-fraction' does not take {', '.join(given)}; "
                            "it sets the training fraction of each run from --fractions")
    s = train_fraction_study(config_from_args(args), args.fractions, out_root=args.out, name=args.name,
                             progress=args.progress)
    emit(args, format_train_fraction(s), s)
    return 0


def cmd_study_baselines(args: argparse.Namespace) -> int:
    from imgclass.cli import _data_options, dataset_name, emit
    from imgclass.evaluate.studies import baselines_study, format_baselines

    s = baselines_study(dataset_name(args), val=args.val, seed=args.seed, normalize=args.normalize,
                        gamma=args.gamma, C=args.C, max_iter=args.max_iter, lr=args.lr, reg=args.reg,
                        iters=args.iters, subset=args.subset, repeats=args.repeats, out_root=args.out,
                        data_options=_data_options(args))
    emit(args, format_baselines(s), s)
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from imgclass.cli import emit
    from imgclass.evaluate.compare import compare_runs, format_comparison, write_comparison_html

    c = compare_runs(args.run_dirs)
    text = format_comparison(c)
    if args.html:
        c["html"] = str(write_comparison_html(c, args.html))
        text += f"\nwrote {c['html']}"
    emit(args, text, c)
    return 0


def add_commands(sub, command) -> None:
    from imgclass.cli import _Formatter, add_data_args, add_split_args
    from imgclass.train.cli import add_train_args

    p = command(sub, "evaluate", cmd_evaluate,
                "test-split accuracy, per-class accuracy, confusion matrix and plots of a finished run")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory written by 'imgclass train'")
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

    study = sub.add_parser("study", help="experiments made of several runs: training fraction, linear baselines",
                           description="Experiments made of several runs, each written to one study directory "
                                       "(render it with 'imgclass report STUDY_DIR').", formatter_class=_Formatter)
    study_sub = study.add_subparsers(dest="study_command", metavar="SUBCOMMAND", required=True)
    p = command(study_sub, "train-fraction", cmd_study_train_fraction,
                "train the same model on growing fractions of the training split; plot test accuracy against the "
                "fraction")
    add_train_args(p)
    for action in p._actions:  # the train flags, as a study uses them
        if action.dest in ("seeds", "resume", "train_fraction"):
            action.help = argparse.SUPPRESS  # refused: the study sets the fraction of each run
        elif action.dest == "name":
            action.help = "name of the study directory [study-train-fraction-ENGINE-MODEL-DATASET-SEED]"
        elif action.dest == "out":
            action.help = "parent directory of the study directory (its runs go inside it)"
    p.add_argument("--fractions", type=_fractions, default="0.1,0.2,0.5,1.0", metavar="F,F,...",
                   help="training fractions, each in (0, 1]")
    p = command(study_sub, "baselines", cmd_study_baselines,
                "scikit-learn's LogisticRegression and LinearSVC next to imgclass's SoftmaxClassifier and LinearSVM "
                "on the split 'imgclass linear' uses: accuracy and fit time in one table")
    add_data_args(p, flag_default="digits")
    add_split_args(p, seed_help="seed of the split, the subset and the SGD minibatches")
    p.add_argument("--subset", type=int, default=None, metavar="N",
                   help="fit on N training images (a seeded random subset) to keep it fast [all]")
    p.add_argument("--C", dest="C", type=float, default=1.0, help="scikit-learn: inverse regularization strength")
    p.add_argument("--max-iter", type=int, default=1000, help="scikit-learn: solver iteration limit")
    p.add_argument("--lr", type=float, default=0.03, help="imgclass: SGD learning rate")
    p.add_argument("--reg", type=float, default=None,
                   help="imgclass: L2 strength (reg * ||W||^2) [1 / (2 C N), the objective LogisticRegression uses]")
    p.add_argument("--iters", type=int, default=1500, help="imgclass: SGD iterations (minibatches of 200)")
    p.add_argument("--repeats", type=int, default=3, metavar="N",
                   help="fit each model N times and report the fastest (one-time costs left out)")
    p.add_argument("--out", default="runs", metavar="DIR", help="parent directory of the study directory")
