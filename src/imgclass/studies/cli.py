"""``imgclass study train-fraction|baselines``: the command line over :mod:`imgclass.studies`."""

from __future__ import annotations

import argparse

from imgclass.cliargs import Formatter, add_data_args, add_split_args, data_options, dataset_name, emit
from imgclass.errors import ImgclassError
from imgclass.studies.ladders import LADDERS
from imgclass.train.cli import add_train_args, config_from_args


def _fractions(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated fractions such as 0.1,0.5,1; got {text!r}") \
            from None


def cmd_study_train_fraction(args: argparse.Namespace) -> int:
    from imgclass.studies.train_fraction import (  # loads on use
        format_train_fraction,
        train_fraction_study,
    )

    given = [flag for flag, bad in (("--resume", args.resume), ("--seeds", args.seeds != 1),
                                    ("--train-fraction", args.train_fraction is not None)) if bad]
    if given:
        raise ImgclassError(f"'imgclass study train-fraction' does not take {', '.join(given)}; "
                            "it sets the training fraction of each run from --fractions")
    s = train_fraction_study(config_from_args(args), args.fractions, out_root=args.out, name=args.name,
                             progress=args.progress)
    emit(args, format_train_fraction(s), s)
    return 0


def cmd_study_ablation(args: argparse.Namespace) -> int:
    from imgclass.studies.ablation import ablation_study, format_ablation  # loads on use

    given = [flag for flag, bad in (("--resume", args.resume), ("--seeds", args.seeds != 1)) if bad]
    if given:
        raise ImgclassError(f"'imgclass study ablation' does not take {', '.join(given)}; the last step's seeds "
                            "are --final-seeds")
    s = ablation_study(config_from_args(args), args.ladder, final_seeds=args.final_seeds, out_root=args.out,
                       name=args.name, progress=args.progress)
    emit(args, format_ablation(s), s)
    return 0


def cmd_study_baselines(args: argparse.Namespace) -> int:
    from imgclass.studies.baselines import (  # loads on use
        baselines_study,
        format_baselines,
    )

    s = baselines_study(dataset_name(args), val=args.val, seed=args.seed, normalize=args.normalize,
                        gamma=args.gamma, C=args.C, max_iter=args.max_iter, lr=args.lr, reg=args.reg,
                        iters=args.iters, subset=args.subset, repeats=args.repeats, out_root=args.out,
                        data_options=data_options(args))
    emit(args, format_baselines(s), s)
    return 0


def add_commands(sub, command) -> None:
    study = sub.add_parser("study", help="experiments made of several runs: training fraction, linear baselines",
                           description="Experiments made of several runs, each written to one study directory "
                                       "(render it with 'imgclass report STUDY_DIR').", formatter_class=Formatter)
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
    p = command(study_sub, "ablation", cmd_study_ablation,
                "climb a ladder of training changes (the USI assignment's: baseline, + weight decay, + dropout, "
                "+ flip/colour jitter, no bias, + batchnorm), one run per step, the last over several seeds; "
                "one table and one report")
    add_train_args(p)
    p.set_defaults(dataset="cifar10", _dataset_default="cifar10", model="cifar-classic", recipe="usi")
    for action in p._actions:
        if action.dest in ("seeds", "resume"):
            action.help = argparse.SUPPRESS  # refused: --final-seeds
        elif action.dest == "name":
            action.help = "name of the study directory [study-ablation-LADDER-ENGINE-MODEL-DATASET-SEED]"
        elif action.dest == "out":
            action.help = "parent directory of the study directory (its runs go inside it)"
        elif action.dest == "dataset":
            action.default = "cifar10"
        elif action.dest == "model":
            action.default = "cifar-classic"
            action.help = "the network the ladder changes [cifar-classic, the USI assignment's]"
        elif action.dest == "recipe":
            action.default = "usi"
            action.help = ("the named recipe every step trains with [usi: the cnn on cifar10 recipe over 40 "
                           "epochs]; flags given on top of it still win")
    p.add_argument("--ladder", choices=tuple(LADDERS), default="usi", help="which ladder of changes")
    p.add_argument("--final-seeds", type=int, default=10, metavar="N",
                   help="seeds of the last step (mean ± std of its test accuracy)")
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
