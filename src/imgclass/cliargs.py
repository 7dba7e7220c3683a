"""The argparse pieces every subcommand shares: the help formatter, dataset and split flags, ``emit``.

Each package's ``cli`` module builds its subcommands from these (``add_commands(sub, command)``)
and :mod:`imgclass.cli` imports them all; nothing here imports more than argparse and the
error type, so ``imgclass --help`` stays fast.
"""

from __future__ import annotations

import argparse
import json

from imgclass.data.registry import DATASET_HELP
from imgclass.errors import ImgclassError


class Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
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


def size(value: str) -> tuple[int, int]:
    """'32' -> (32, 32); '28x32' -> (28, 32)."""
    try:
        parts = [int(v) for v in value.lower().split("x")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected N or HxW, got {value!r}") from None
    if len(parts) not in (1, 2) or min(parts) < 1:
        raise argparse.ArgumentTypeError(f"expected N or HxW with positive sizes, got {value!r}")
    return (parts[0], parts[-1])


def val(text: str) -> float | int:
    """A validation part: '0.1' is a fraction, '5000' a count."""
    try:
        return float(text) if "." in text or "e" in text.lower() else int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a fraction (0.1) or a count (5000), got {text!r}") from None


def floats(text: str) -> list[float]:
    """'1e-3,1e-2' -> [0.001, 0.01]."""
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def bool_flag(group, name: str, help_text: str) -> None:
    """``--NAME`` / ``--no-NAME``, None when neither is given (the recipe decides)."""
    group.add_argument(f"--{name}", dest=name.replace("-", "_"), action=argparse.BooleanOptionalAction,
                       default=None, help=help_text)


def add_data_args(p: argparse.ArgumentParser, *, flag_default: str | None = None) -> None:
    """Flags that choose and read a dataset (shared by every data-consuming command).

    The dataset is a positional NAME; with ``flag_default`` it is ``--dataset NAME``
    (default ``flag_default``), and a positional NAME is still accepted.
    """
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
    g.add_argument("--image-size", type=size, default=None, metavar="N|HxW",
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


def data_options(args: argparse.Namespace) -> dict:
    """The loader options given on the command line (those left out are not in the dict)."""
    given = {"data_dir": args.data_dir, "download": args.download, "seed": args.data_seed,
             "test_fraction": args.test_fraction, "image_size": args.image_size, "channels": args.channels,
             "class_names": args.class_names}
    return {k: v for k, v in given.items() if v is not None}


def add_split_args(p, seed_help: str) -> None:
    """--val, --seed, --normalize and --gamma: the split and features of 'linear' and 'study baselines'."""
    p.add_argument("--val", type=val, default=0.1, metavar="V",
                   help="validation split of the training data: a fraction (0.1) or a count (5000)")
    p.add_argument("--seed", type=int, default=0, help=seed_help)
    p.add_argument("--normalize", choices=("pixel", "channel", "none"), default="pixel",
                   help="standardize with the training set's per-pixel or per-channel mean/std")
    p.add_argument("--gamma", type=float, default=1.0,
                   help="raise the [0, 1] pixel intensities to this power before normalizing (1 = unchanged; "
                        "0.3-0.5 helps linear models on Fashion-MNIST)")
