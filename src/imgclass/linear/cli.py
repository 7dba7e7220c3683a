"""``imgclass linear train|sweep``: the command line over :mod:`imgclass.linear.run`."""

from __future__ import annotations

import argparse

from imgclass.cliargs import add_data_args, add_split_args, data_options, dataset_name, emit, floats
from imgclass.linear.config import LinearConfig, LinearSweepConfig
from imgclass.train import recipes


def _common(args: argparse.Namespace) -> dict:
    return dict(dataset=dataset_name(args), data_options=data_options(args), loss=args.loss, iters=args.iters,
                batch_size=args.batch_size, sampling=args.sampling, val=args.val,
                train_fraction=args.train_fraction, seed=args.seed,
                normalize=args.normalize, gamma=args.gamma, dtype=args.dtype)


def linear_config(args: argparse.Namespace) -> LinearConfig:
    return LinearConfig(**_common(args), whiten=args.whiten, lr=args.lr, reg=args.reg, bias=args.bias,
                        lr_decay=args.lr_decay, averaging=args.averaging)


def sweep_config(args: argparse.Namespace) -> LinearSweepConfig:
    return LinearSweepConfig(**_common(args), whiten=args.whiten, search=args.search, lr_range=args.lr_range,
                             reg_range=args.reg_range, grid_size=tuple(args.grid_size), lrs=args.lrs,
                             regs=args.regs, trials=args.trials)


def cmd_linear_train(args: argparse.Namespace) -> int:
    from imgclass.linear.run import train_linear # the library loads when the command runs

    r = train_linear(linear_config(args), out_root=args.out, progress=args.progress)
    val = "" if r["val_accuracy"] is None else f"   val accuracy {r['val_accuracy']:.4f}"
    sel = r["selection"]
    chosen = (f"lr {r['lr']:.3g}, reg {r['reg']:.3g}" + (f" (chosen on the validation split among {sel['configs']} "
                                                         f"configs in {sel['seconds']:.1f} s)" if sel else ""))
    text = (f"{r['model']} on {r['dataset']} ({r['train_size']} train), {chosen}; "
            f"{r['train_seconds']:.1f} s in all\n"
            f"train accuracy {r['train_accuracy']:.4f}{val}\n"
            f"test accuracy  {r['test_accuracy']:.4f}   (test split used once)\n"
            f"run directory  {r['run_dir']}")
    emit(args, text, r)
    return 0


def cmd_linear_sweep(args: argparse.Namespace) -> int:
    from imgclass.linear.run import sweep_linear # the library loads when the command runs

    r = sweep_linear(sweep_config(args), out_root=args.out, progress=args.progress)
    text = (f"{r['configs']} {r['model'].split(' (')[0]} configs on {r['dataset']} in {r['train_seconds']:.1f} s "
            f"({r['diverged']} diverged)\n"
            f"best lr {r['lr']:.3g}, reg {r['reg']:.3g}: train {r['train_accuracy']:.4f}, "
            f"val {r['val_accuracy']:.4f}\n"
            f"test accuracy of the best: {r['test_accuracy']:.4f}   (test split used once)\n"
            f"run directory  {r['run_dir']}")
    emit(args, text, r)
    return 0


def add_linear_args(p: argparse.ArgumentParser, config) -> None:
    """Flags shared by 'linear train' and 'linear sweep'; their defaults are the dataclass ``config``'s."""
    defaults = config()
    add_data_args(p, flag_default="digits")
    p.add_argument("--loss", choices=("svm", "softmax"), default="softmax",
                   help="multiclass hinge (SVM) or softmax cross-entropy")
    g = p.add_argument_group("training")
    g.add_argument("--iters", type=int, default=defaults.iters, help="SGD iterations (minibatches)")
    g.add_argument("--batch-size", type=int, default=defaults.batch_size, help="minibatch size")
    g.add_argument("--sampling", choices=("replacement", "epochs"), default=defaults.sampling,
                   help="minibatches drawn with replacement (course assignments) or shuffled epochs")
    add_split_args(g, seed_help="seed of the validation split, initialization and minibatches")
    g.add_argument("--train-fraction", type=float, default=1.0, metavar="F",
                   help="train on this seeded, stratified fraction of the training split [1.0]")
    g.add_argument("--dtype", choices=("float32", "float64"), default="float32", help="floating-point precision")
    g.add_argument("--out", default="runs", metavar="DIR", help="parent directory of the run directory")
    g.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")


def add_commands(sub, command) -> None:
    linear = sub.add_parser("linear", help="linear classifiers (SVM, softmax): train one or sweep hyperparameters",
                            description="Linear classifiers: multiclass SVM and softmax trained by minibatch SGD.")
    linear_sub = linear.add_subparsers(dest="linear_command", metavar="SUBCOMMAND", required=True)
    p = command(linear_sub, "train", cmd_linear_train,
                "train one linear classifier, evaluate on the test split once, write a run directory with plots")
    add_linear_args(p, LinearConfig)
    for action in p._actions:
        if action.dest == "gamma":  # left out: the dataset's recipe (0.3 on Fashion-MNIST, else 1)
            action.default = None
            action.help += " [the dataset's recipe: " + ", ".join(
                f"{d} {v['gamma']}" for d, v in recipes.LINEAR_DATASET.items()) + ", else 1]"
    p.add_argument("--whiten", type=float, default=None, metavar="EPS",
                   help="train on ZCA-whitened pixels, EPS x the largest eigenvalue added to each (0: off); the "
                        "weights are mapped back, so the model stays linear in the pixels [the recipe: " + ", ".join(
                            f"{d} {loss} {v:g}" for (loss, d), v in recipes.LINEAR_WHITEN.items()) + ", else 0]")
    p.add_argument("--lr", type=float, default=None,
                   help="SGD learning rate [chosen on the validation split among the recipe's candidates]")
    p.add_argument("--reg", type=float, default=None,
                   help="L2 regularization strength (reg * ||W||^2) [chosen on the validation split]")
    p.add_argument("--bias", choices=("vector", "trick", "none"), default="vector",
                   help="explicit bias vector, constant-1 feature (bias trick), or none")
    p.add_argument("--lr-decay", type=float, default=1.0,
                   help="multiply the learning rate by this after every epoch's worth of iterations")
    p.add_argument("--averaging", type=float, default=recipes.LINEAR["averaging"], metavar="F",
                   help="Polyak averaging: the model is the mean of the SGD iterates after this fraction of "
                        "the iterations")
    p.add_argument("--no-averaging", dest="averaging", action="store_const", const=None,
                   help="the model is the last SGD iterate")

    p = command(linear_sub, "sweep", cmd_linear_sweep,
                "train a grid or random sample of (learning rate, regularization) pairs as one batched computation, "
                "pick the best on validation accuracy, test it once, plot the sweep")
    add_linear_args(p, LinearSweepConfig)
    p.add_argument("--search", choices=("grid", "random"), default="grid",
                   help="a log-spaced grid, or log-uniform random pairs")
    p.add_argument("--whiten", type=float, default=0.0, metavar="EPS",
                   help="sweep on ZCA-whitened pixels, EPS x the largest eigenvalue added to each, as 'linear train "
                        "--whiten' trains; the best weights are mapped back to the pixels [0: off]")
    ranges = recipes.LINEAR_SWEEP_RANGES
    p.add_argument("--lr-range", type=float, nargs=2, default=None, metavar=("LO", "HI"),
                   help="learning-rate range [{:g} {:g}; with --whiten {:g} {:g}]".format(
                       *ranges["pixels"]["lr"], *ranges["whitened"]["lr"]))
    p.add_argument("--reg-range", type=float, nargs=2, default=None, metavar=("LO", "HI"),
                   help="regularization range [{:g} {:g}; with --whiten {:g} {:g}]".format(
                       *ranges["pixels"]["reg"], *ranges["whitened"]["reg"]))
    p.add_argument("--grid-size", type=int, nargs=2, default=(8, 6), metavar=("NLR", "NREG"),
                   help="grid: number of learning rates and of regularization strengths")
    p.add_argument("--lrs", type=floats, default=None, metavar="A,B,...", help="grid: explicit learning rates")
    p.add_argument("--regs", type=floats, default=None, metavar="A,B,...",
                   help="grid: explicit regularization strengths")
    p.add_argument("--trials", type=int, default=30, help="random: number of (lr, reg) pairs")
