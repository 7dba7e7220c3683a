"""The ``imgclass`` command line: one subcommand = one library call.

Every command that produces results takes ``--json`` and then prints one
JSON object as its last line of standard output. Errors the user can fix
print ``imgclass: error: ...`` without a traceback and exit with status 1;
bad flags exit with status 2 (argparse); Ctrl-C exits with 130.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from imgclass import __version__
from imgclass.autograd import cli as autograd_cli
from imgclass.cliargs import Formatter, emit
from imgclass.data import cli as data_cli
from imgclass.errors import ImgclassError, os_error_message
from imgclass.evaluate import cli as evaluate_cli
from imgclass.export import cli as export_cli
from imgclass.filters import cli as filters_cli
from imgclass.linear import cli as linear_cli
from imgclass.pretrained import cli as pretrained_cli
from imgclass.studies import cli as studies_cli
from imgclass.sweep import cli as sweep_cli
from imgclass.train import cli as train_cli

#: The subcommand modules, in --help order: each has ``add_commands(sub, command)``, where
#: ``command(parent, name, func, help_text)`` makes a subparser with ``--json``. They import the
#: library they call inside their handlers, so ``imgclass --help`` loads neither PyTorch nor scikit-learn.
COMMAND_MODULES = (data_cli, linear_cli, train_cli, evaluate_cli, export_cli, studies_cli, sweep_cli, pretrained_cli,
                   filters_cli, autograd_cli)


def cmd_demo(args: argparse.Namespace) -> int:
    from imgclass.demo import run_demo  # the library loads when the command runs

    r = run_demo(seed=args.seed, epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, engine=args.engine,
                 out_root=args.out, progress=args.progress)
    text = (
        f"{r['engine']} CNN on digits ({r['train_size']} train / {r['val_size']} val / {r['test_size']} test, "
        f"{r['parameters']:,} parameters): {r['epochs_done']:g} epochs in {r['train_seconds']:.1f} s\n"
        f"best val accuracy {r['val_accuracy']:.4f}\n"
        f"test accuracy {r['test_accuracy']:.4f}   (test split used once; best class {r['best_class']}, "
        f"worst {r['worst_class']})\n"
        f"run directory {r['run_dir']}  (plots in plots/; 'imgclass evaluate {r['run_dir']}' for the full table)"
    )
    emit(args, text, r)
    return 0


def cmd_gradcheck(args: argparse.Namespace) -> int:
    from imgclass.nn.checks import (  # the library loads when the command runs
        format_rows,
        run_checks,
    )

    rows = run_checks(seed=args.seed, precision=args.precision)
    failed = [f"{c} {g}" for c, g, e, b in rows if not e < b]
    text = format_rows(rows) + f"\n{len(rows) - len(failed)}/{len(rows)} gradients within their bounds"
    result = {"checks": [{"component": c, "gradient": g, "rel_error": e, "bound": b} for c, g, e, b in rows],
              "max_rel_error": max(e for _, _, e, _ in rows), "failed": failed}
    emit(args, text, result)
    if failed:
        print(f"imgclass: error: {len(failed)} gradient(s) exceed their bound: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="imgclass", formatter_class=Formatter,
        description="Image classification from a linear classifier to a tuned CNN.\n"
                    "Run 'imgclass COMMAND --help' for the flags of a command.",
    )
    parser.add_argument("--version", action="version", version=f"imgclass {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(parent, name, func, help_text, json_flag=True):
        p = parent.add_parser(name, help=help_text, description=help_text, formatter_class=Formatter)
        p.set_defaults(func=func)
        if json_flag:
            p.add_argument("--json", action="store_true",
                           help="also print the results as one JSON object on the last line")
        return p

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
    p = command(sub, "gradcheck", cmd_gradcheck,
                "check every NumPy layer, loss and model against numeric gradients; exit 1 if a bound is exceeded")
    p.add_argument("--seed", type=int, default=0, help="seed of the random test inputs")
    p.add_argument("--precision", choices=("extended", "float64"), default=None,
                   help="numeric oracle: 'extended' = 80-bit long double with a 4th-order stencil (good to ~1e-13; "
                        "default where available), 'float64' = the classic float64 2nd-order check")

    for module in COMMAND_MODULES:
        module.add_commands(sub, command)
    return parser


def distributed_launch() -> bool:
    """Whether torchrun (or its environment variables) started this process as one of several."""
    return os.environ.get("WORLD_SIZE", "1") not in ("", "0", "1")


def main(argv: list[str] | None = None) -> int:
    code = _main(argv)
    if distributed_launch():
        # one of several processes: leave now, with everything written (atomically), the process group left
        # (after a run) and the output flushed, without the interpreter's own teardown. That teardown can abort
        # the process: after a successful run, about 1 torchrun job in 30 here ended with "terminate called
        # without an active exception" (SIGABRT) in process 0 or 1 after its atexit handlers had run, and
        # torchrun then reports the whole job failed; after a failed one, gloo can abort while the others exit.
        # Either way the exit status would no longer say what happened.
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def _main(argv: list[str] | None = None) -> int:
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="imgclass: %(levelname)s: %(message)s", stream=sys.stderr)
    try:
        if distributed_launch() and getattr(args.func, "__name__", "") != "cmd_train":
            raise ImgclassError("only 'imgclass train' runs under torchrun (one model, several processes); run other "
                                "commands as one process")
        return args.func(args)
    except ImgclassError as e:
        print(f"imgclass: error: {e}", file=sys.stderr)
        return 1
    except OSError as e:  # a full disk, a read-only or missing folder, a file where a folder should be ...
        print(f"imgclass: error: {os_error_message(e)}", file=sys.stderr)
        return 1
    except MemoryError as e:  # an absurd size: a model, batch or image that cannot fit (nothing was written)
        print(f"imgclass: error: out of memory ({e or 'an allocation failed'}); choose a smaller model, --batch-size "
              "or image size", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("imgclass: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
