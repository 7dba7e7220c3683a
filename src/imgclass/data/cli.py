"""``imgclass data list|info|show``: the command line over :mod:`imgclass.data`."""

from __future__ import annotations

import argparse

from imgclass.cliargs import add_data_args, data_options, dataset_name, emit, val
from imgclass.data.info import describe, format_description
from imgclass.data.plots import save_dataset_plots
from imgclass.data.registry import available, load
from imgclass.data.splits import make_split


def load_from_args(args: argparse.Namespace):
    """Call :func:`imgclass.data.load` with the dataset flags that were given."""
    return load(dataset_name(args), **data_options(args))


def cmd_data_list(args: argparse.Namespace) -> int:
    names = available()
    emit(args, "\n".join(names), {"datasets": names})
    return 0


def cmd_data_info(args: argparse.Namespace) -> int:
    ds = load_from_args(args)
    split = make_split(ds, val=args.val, seed=args.seed) if args.val else None
    d = describe(ds, split)
    emit(args, format_description(d), d)
    return 0


def cmd_data_show(args: argparse.Namespace) -> int:
    ds = load_from_args(args)
    paths = save_dataset_plots(ds, args.out_dir, per_class=args.per_class, seed=args.seed)
    emit(args, "\n".join(f"wrote {p}" for p in paths.values()),
         {"dataset": ds.name, **{k: str(p) for k, p in paths.items()}})
    return 0


def add_commands(sub, command) -> None:
    data = sub.add_parser("data", help="inspect and plot datasets", description="Inspect and plot datasets.")
    data_sub = data.add_subparsers(dest="data_command", metavar="SUBCOMMAND", required=True)
    command(data_sub, "list", cmd_data_list, "list the dataset names imgclass can load")

    p = command(data_sub, "info", cmd_data_info,
                "counts per split and per class, image shape, value range of a dataset")
    add_data_args(p)
    p.add_argument("--val", type=val, default=0, metavar="V",
                   help="also carve a validation split off train: a fraction (0.1) or a count (5000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the validation split")

    p = command(data_sub, "show", cmd_data_show,
                "write a PNG grid of samples per class and a PNG bar chart of class frequencies")
    add_data_args(p)
    p.add_argument("--out-dir", default="plots", metavar="DIR", help="directory for the PNG files")
    p.add_argument("--per-class", type=int, default=8, metavar="N", help="samples shown per class")
    p.add_argument("--seed", type=int, default=0, help="seed for picking the samples")
