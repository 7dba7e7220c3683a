"""The ``imgclass`` command line: one subcommand = one library call.

Every command that produces results takes ``--json`` and then prints one
JSON object as its last line of standard output. Errors the user can fix
print ``imgclass: error: ...`` without a traceback and exit with status 1;
bad flags exit with status 2 (argparse); Ctrl-C exits with 130.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from imgclass import __version__
from imgclass.errors import ImgclassError


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Show defaults in --help and keep the description's line breaks.

    A default of None (the value comes from elsewhere, and the help text says
    where, in [brackets]) and the defaults of on/off switches are not shown.
    """

    def _get_help_string(self, action):
        if action.default is None or isinstance(action.default, bool):
            return action.help
        return super()._get_help_string(action)


def emit(args: argparse.Namespace, text: str, result: dict) -> None:
    """Print ``text``; with ``--json`` also print ``result`` as one JSON line (always the last line)."""
    print(text)
    if args.json:
        print(json.dumps(result, sort_keys=False))


_emit = emit

#: Packages that add their own subcommands: each has a ``cli`` module with
#: ``add_commands(sub, command)``, where ``command(parent, name, func, help_text)``
#: makes a subparser with ``--json``. Their modules must import quickly (no torch at top level).
PLUGIN_MODULES: tuple[str, ...] = ("imgclass.train.cli", "imgclass.evaluate.cli", "imgclass.filters.cli", "imgclass.pretrained.cli", "imgclass.autograd.cli", "imgclass.sweep.cli")


def _size(value: str) -> tuple[int, int]:
    """'32' -> (32, 32); '28x32' -> (28, 32)."""
    try:
        parts = [int(v) for v in value.lower().split("x")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected N or HxW, got {value!r}") from None
    if len(parts) not in (1, 2) or min(parts) < 1:
        raise argparse.ArgumentTypeError(f"expected N or HxW with positive sizes, got {value!r}")
    return (parts[0], parts[-1])


def add_data_args(p: argparse.ArgumentParser, *, flag_default: str | None = None) -> None:
    """Flags that choose and read a dataset (shared by every data-consuming command).

    The dataset is a positional NAME; with ``flag_default`` it is ``--dataset NAME``
    (default ``flag_default``), and a positional NAME is still accepted.
    """
    from imgclass.data.registry import DATASET_HELP

    if flag_default is None:
        p.add_argument("dataset", metavar="NAME", help=f"dataset: {DATASET_HELP}")
    else:
        p.add_argument("--dataset", metavar="NAME", default=flag_default, help=f"dataset: {DATASET_HELP}")
        p.add_argument("dataset_positional", nargs="?", metavar="NAME", default=None,
                       help="the dataset as a positional argument (same as --dataset)")
        p.set_defaults(_dataset_flag=True, _dataset_default=flag_default)
    g = p.add_argument_group("dataset options")
    g.add_argument("--data-dir", metavar="DIR", default=None,
                   help="look here first for mnist/fashion-mnist/cifar10 files (then $IMGCLASS_DATA, "
                        "the user cache, /usr/share/datasets); downloads go here too")
    g.add_argument("--no-download", dest="download", action="store_const", const=False, default=None,
                   help="never download; fail if the files are not found locally")
    g.add_argument("--data-seed", type=int, default=None, metavar="S",
                   help="seed of the train/test split for datasets without one (digits, folder:) "
                        "[default: 0]")
    g.add_argument("--test-fraction", type=float, default=None, metavar="F",
                   help="test share for datasets without a split (digits: 0.25, folder: 0.2)")
    g.add_argument("--image-size", type=_size, default=None, metavar="N|HxW",
                   help="folder: resize every image to this [default: the most common size]")
    g.add_argument("--channels", type=int, choices=(1, 3), default=None,
                   help="folder: 1 = grayscale, 3 = RGB [default: 1 if all images are gray, else 3]")
    g.add_argument("--class-names", metavar="FILE", default=None,
                   help="idx: text file with one class name per line [default: DIR/classes.txt, else numbers]")


def dataset_name(args: argparse.Namespace) -> str:
    """The dataset chosen by a positional NAME or by ``--dataset``."""
    positional = getattr(args, "dataset_positional", None)
    if positional and getattr(args, "_dataset_flag", False):
        if args.dataset not in (positional, args._dataset_default):
            raise ImgclassError(f"two datasets given: {positional!r} and --dataset {args.dataset!r}")
        return positional
    return args.dataset


def load_from_args(args: argparse.Namespace):
    """Call :func:`imgclass.data.load` with the dataset flags that were given."""
    from imgclass.data import load

    return load(
        dataset_name(args), data_dir=args.data_dir, download=args.download, seed=args.data_seed,
        test_fraction=args.test_fraction, image_size=args.image_size, channels=args.channels,
        class_names=args.class_names,
    )


def cmd_data_list(args: argparse.Namespace) -> int:
    from imgclass.data import available

    names = available()
    _emit(args, "\n".join(names), {"datasets": names})
    return 0


def cmd_data_info(args: argparse.Namespace) -> int:
    from imgclass.data import make_split
    from imgclass.data.info import describe, format_description

    ds = load_from_args(args)
    split = make_split(ds, val=args.val, seed=args.seed) if args.val else None
    d = describe(ds, split)
    _emit(args, format_description(d), d)
    return 0


def cmd_data_show(args: argparse.Namespace) -> int:
    from imgclass.data.plots import save_dataset_plots

    ds = load_from_args(args)
    paths = save_dataset_plots(ds, args.out_dir, per_class=args.per_class, seed=args.seed)
    _emit(args, "\n".join(f"wrote {p}" for p in paths.values()),
          {"dataset": ds.name, **{k: str(p) for k, p in paths.items()}})
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from imgclass.demo import run_demo

    r = run_demo(seed=args.seed, epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, engine=args.engine,
                 out_root=args.out, progress=args.progress)
    text = (
        f"{r['engine']} CNN on digits ({r['train_size']} train / {r['val_size']} val / {r['test_size']} test, "
        f"{r['parameters']:,} parameters): {r['epochs_done']:g} epochs in {r['train_seconds']:.1f} s\n"
        f"best val accuracy {r['best_val_accuracy']:.4f}\n"
        f"test accuracy {r['test_accuracy']:.4f}   (test split used once; best class {r['best_class']}, "
        f"worst {r['worst_class']})\n"
        f"run directory {r['run_dir']}  (plots in plots/; 'imgclass evaluate {r['run_dir']}' for the full table)"
    )
    _emit(args, text, r)
    return 0


def cmd_gradcheck(args: argparse.Namespace) -> int:
    from imgclass.nn.checks import format_rows, run_checks

    rows = run_checks(seed=args.seed, precision=args.precision)
    failed = [f"{c} {g}" for c, g, e, b in rows if not e < b]
    text = format_rows(rows) + f"\n{len(rows) - len(failed)}/{len(rows)} gradients within their bounds"
    result = {"checks": [{"component": c, "gradient": g, "rel_error": e, "bound": b} for c, g, e, b in rows],
              "max_rel_error": max(e for _, _, e, _ in rows), "failed": failed}
    _emit(args, text, result)
    if failed:
        print(f"imgclass: error: {len(failed)} gradient(s) exceed their bound: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def _data_options(args: argparse.Namespace) -> dict:
    return {"data_dir": args.data_dir, "download": args.download, "seed": args.data_seed,
            "test_fraction": args.test_fraction, "image_size": args.image_size, "channels": args.channels,
            "class_names": args.class_names}


def _val(text: str) -> float | int:
    return float(text) if "." in text or "e" in text.lower() else int(text)


def add_split_args(p, seed_help: str) -> None:
    """--val, --seed, --normalize and --gamma: the split and features of 'linear' and 'study baselines'."""
    p.add_argument("--val", type=_val, default=0.1, metavar="V",
                   help="validation split of the training data: a fraction (0.1) or a count (5000)")
    p.add_argument("--seed", type=int, default=0, help=seed_help)
    p.add_argument("--normalize", choices=("pixel", "channel", "none"), default="pixel",
                   help="standardize with the training set's per-pixel or per-channel mean/std")
    p.add_argument("--gamma", type=float, default=1.0,
                   help="raise the [0, 1] pixel intensities to this power before normalizing (1 = unchanged; "
                        "0.3-0.5 helps linear models on Fashion-MNIST)")


def add_linear_args(p: argparse.ArgumentParser) -> None:
    """Flags shared by 'linear train' and 'linear sweep'."""
    p.add_argument("--loss", choices=("svm", "softmax"), default="softmax",
                   help="multiclass hinge (SVM) or softmax cross-entropy")
    g = p.add_argument_group("training")
    g.add_argument("--iters", type=int, default=1500, help="SGD iterations (minibatches)")
    g.add_argument("--batch-size", type=int, default=200, help="minibatch size")
    g.add_argument("--sampling", choices=("replacement", "epochs"), default="replacement",
                   help="minibatches drawn with replacement (course assignments) or shuffled epochs")
    add_split_args(g, seed_help="seed of the validation split, initialization and minibatches")
    g.add_argument("--dtype", choices=("float32", "float64"), default="float32", help="floating-point precision")
    g.add_argument("--out", default="runs", metavar="DIR", help="parent directory of the run directory")
    g.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")


def cmd_linear_train(args: argparse.Namespace) -> int:
    from imgclass.linear.run import train_linear

    r = train_linear(dataset_name(args), args.loss, learning_rate=args.lr, reg=args.reg, num_iters=args.iters,
                     batch_size=args.batch_size, sampling=args.sampling, bias=args.bias, val=args.val,
                     seed=args.seed, normalize=args.normalize, dtype=args.dtype, gamma=args.gamma,
                     lr_decay=args.lr_decay, averaging=args.averaging, out_root=args.out,
                     data_options=_data_options(args), progress=args.progress)
    val = "" if r["val_accuracy"] is None else f"   val accuracy {r['val_accuracy']:.4f}"
    text = (f"{r['loss']} on {r['dataset']} ({r['train_size']} train), fit in {r['fit_seconds']:.1f} s\n"
            f"train accuracy {r['train_accuracy']:.4f}{val}\n"
            f"test accuracy  {r['test_accuracy']:.4f}   (test split used once)\n"
            f"run directory  {r['run_dir']}")
    _emit(args, text, r)
    return 0


def _floats(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def cmd_linear_sweep(args: argparse.Namespace) -> int:
    import numpy as np

    from imgclass.linear.run import sweep_linear
    from imgclass.linear.sweep import grid, random_configs

    if args.search == "random":
        configs = random_configs(args.trials, tuple(args.lr_range), tuple(args.reg_range), seed=args.seed)
    else:
        lrs = args.lrs or list(np.geomspace(*args.lr_range, args.grid_size[0]))
        regs = args.regs or list(np.geomspace(*args.reg_range, args.grid_size[1]))
        configs = grid(lrs, regs)
    r = sweep_linear(dataset_name(args), args.loss, configs=configs, num_iters=args.iters, batch_size=args.batch_size,
                     sampling=args.sampling, val=args.val, seed=args.seed, normalize=args.normalize, dtype=args.dtype,
                     gamma=args.gamma, out_root=args.out, data_options=_data_options(args), progress=args.progress)
    text = (f"{r['configs']} {r['loss']} configs on {r['dataset']} in {r['sweep_seconds']:.1f} s "
            f"({r['diverged']} diverged)\n"
            f"best lr {r['best_lr']:.3g}, reg {r['best_reg']:.3g}: train {r['best_train_accuracy']:.4f}, "
            f"val {r['best_val_accuracy']:.4f}\n"
            f"test accuracy of the best: {r['test_accuracy']:.4f}   (test split used once)\n"
            f"run directory  {r['run_dir']}")
    _emit(args, text, r)
    return 0


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="imgclass", formatter_class=_Formatter,
        description="Image classification from a linear classifier to a tuned CNN.\n"
                    "Run 'imgclass COMMAND --help' for the flags of a command.",
    )
    parser.add_argument("--version", action="version", version=f"imgclass {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(parent, name, func, help_text, json_flag=True):
        p = parent.add_parser(name, help=help_text, description=help_text, formatter_class=_Formatter)
        p.set_defaults(func=func)
        if json_flag:
            p.add_argument("--json", action="store_true",
                           help="also print the results as one JSON object on the last line")
        return p

    data = sub.add_parser("data", help="inspect and plot datasets", description="Inspect and plot datasets.")
    data_sub = data.add_subparsers(dest="data_command", metavar="SUBCOMMAND", required=True)
    command(data_sub, "list", cmd_data_list, "list the dataset names imgclass can load")

    p = command(data_sub, "info", cmd_data_info,
                "counts per split and per class, image shape, value range of a dataset")
    add_data_args(p)
    p.add_argument("--val", type=lambda s: float(s) if "." in s else int(s), default=0, metavar="V",
                   help="also carve a validation split off train: a fraction (0.1) or a count (5000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the validation split")

    p = command(data_sub, "show", cmd_data_show,
                "write a PNG grid of samples per class and a PNG bar chart of class frequencies")
    add_data_args(p)
    p.add_argument("--out-dir", default="plots", metavar="DIR", help="directory for the PNG files")
    p.add_argument("--per-class", type=int, default=8, metavar="N", help="samples shown per class")
    p.add_argument("--seed", type=int, default=0, help="seed for picking the samples")

    p = command(sub, "demo", cmd_demo,
                "the whole pipeline on the bundled digits: train a small CNN, test once, write a run directory "
                "with plots")
    p.add_argument("--seed", type=int, default=0, help="seed of the splits, initialization and batch order")
    p.add_argument("--epochs", type=int, default=15, help="passes over the training set")
    p.add_argument("--lr", type=float, default=3e-3, help="peak learning rate (Adam, one-cycle schedule)")
    p.add_argument("--batch-size", type=int, default=64, help="minibatch size")
    p.add_argument("--engine", choices=("torch", "numpy"), default="torch",
                   help="PyTorch, or the from-scratch NumPy engine (same model, slower)")
    p.add_argument("--out", default="runs", metavar="DIR", help="parent directory of the run directory")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    linear = sub.add_parser("linear", help="linear classifiers (SVM, softmax): train one or sweep hyperparameters",
                            description="Linear classifiers: multiclass SVM and softmax trained by minibatch SGD.")
    linear_sub = linear.add_subparsers(dest="linear_command", metavar="SUBCOMMAND", required=True)
    p = command(linear_sub, "train", cmd_linear_train,
                "train one linear classifier, evaluate on the test split once, write a run directory with plots")
    add_data_args(p, flag_default="digits")
    add_linear_args(p)
    p.add_argument("--lr", type=float, default=1e-3, help="SGD learning rate")
    p.add_argument("--reg", type=float, default=1e-5, help="L2 regularization strength (reg * ||W||^2)")
    p.add_argument("--bias", choices=("vector", "trick", "none"), default="vector",
                   help="explicit bias vector, constant-1 feature (bias trick), or none")
    p.add_argument("--lr-decay", type=float, default=1.0,
                   help="multiply the learning rate by this after every epoch's worth of iterations")
    p.add_argument("--averaging", type=float, default=None, metavar="F",
                   help="Polyak averaging: the model is the mean of the SGD iterates after this fraction of "
                        "the iterations (e.g. 0.5; default: the last iterate)")

    p = command(linear_sub, "sweep", cmd_linear_sweep,
                "train a grid or random sample of (learning rate, regularization) pairs as one batched computation, "
                "pick the best on validation accuracy, test it once, plot the sweep")
    add_data_args(p, flag_default="digits")
    add_linear_args(p)
    p.set_defaults(iters=300)
    p.add_argument("--search", choices=("grid", "random"), default="grid",
                   help="a log-spaced grid, or log-uniform random pairs")
    p.add_argument("--lr-range", type=float, nargs=2, default=(1e-4, 1.0), metavar=("LO", "HI"),
                   help="learning-rate range")
    p.add_argument("--reg-range", type=float, nargs=2, default=(1e-6, 1e-1), metavar=("LO", "HI"),
                   help="regularization range")
    p.add_argument("--grid-size", type=int, nargs=2, default=(8, 6), metavar=("NLR", "NREG"),
                   help="grid: number of learning rates and of regularization strengths")
    p.add_argument("--lrs", type=_floats, default=None, metavar="A,B,...", help="grid: explicit learning rates")
    p.add_argument("--regs", type=_floats, default=None, metavar="A,B,...",
                   help="grid: explicit regularization strengths")
    p.add_argument("--trials", type=int, default=30, help="random: number of (lr, reg) pairs")

    p = command(sub, "gradcheck", cmd_gradcheck,
                "check every NumPy layer, loss and model against numeric gradients; exit 1 if a bound is exceeded")
    p.add_argument("--seed", type=int, default=0, help="seed of the random test inputs")
    p.add_argument("--precision", choices=("extended", "float64"), default=None,
                   help="numeric oracle: 'extended' = 80-bit long double with a 4th-order stencil (good to ~1e-13; "
                        "default where available), 'float64' = the classic float64 2nd-order check")

    import importlib

    for name in PLUGIN_MODULES:
        importlib.import_module(name).add_commands(sub, command)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="imgclass: %(levelname)s: %(message)s", stream=sys.stderr)
    try:
        return args.func(args)
    except ImgclassError as e:
        print(f"imgclass: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("imgclass: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
