"""``imgclass train``: the command line over :func:`imgclass.train.run.train`.

A flag that is not given is not passed on: :class:`~imgclass.train.config.TrainConfig` then takes
it from the recipes (:mod:`imgclass.train.recipes`), exactly as it does in Python.
"""

from __future__ import annotations

import argparse
import dataclasses

from imgclass.cliargs import add_data_args, bool_flag, data_options, dataset_name, emit, val
from imgclass.errors import ImgclassError
from imgclass.train import recipes
from imgclass.train.config import ENGINES, FINETUNE, LOSSES, NORMALIZE, OPTIMIZERS, SCHEDULES, TrainConfig


def add_train_args(p: argparse.ArgumentParser) -> None:
    """Every TrainConfig setting as a flag (default None: from the recipe), plus --seeds, --out, --name, --resume."""
    add_data_args(p, flag_default="digits")
    p.add_argument("--engine", choices=ENGINES, default=None, help="numpy (from scratch) or torch [default: torch]")
    p.add_argument("--model", default=None, metavar="SPEC",
                   help="linear | mlp | cnn | resnet | a preset (e.g. cifar-classic, resnet20) | the text form, e.g. "
                        "'cnn:32,64;fc=128;bn;dropout=0.25' or 'mlp:512,256;bn' [cnn, or the --recipe's]")
    p.add_argument("--recipe", default=None, choices=tuple(recipes.NAMED), metavar="NAME",
                   help=f"a named recipe ({', '.join(recipes.NAMED)}); flags given on top of it still win")
    g = p.add_argument_group("optimization")
    g.add_argument("--loss", choices=LOSSES, default=None, help="cross-entropy (softmax) or multiclass hinge [softmax]")
    g.add_argument("--label-smoothing", type=float, default=None, metavar="E", help="torch engine, softmax loss")
    g.add_argument("--optimizer", choices=OPTIMIZERS, default=None,
                   help="nesterov = SGD with Nesterov momentum; muon = Muon for conv filters, Nesterov SGD for the rest")
    g.add_argument("--lr", type=float, default=None, help="learning rate (the peak for onecycle and triangle)")
    g.add_argument("--muon-lr", type=float, default=None, metavar="LR",
                   help="--optimizer muon: the conv filter banks' learning rate [0.08]")
    g.add_argument("--norm-lr-scale", type=float, default=None, metavar="X",
                   help="torch: learning rate multiplier of biases and batchnorm [1]")
    g.add_argument("--momentum", type=float, default=None, help="sgd/nesterov momentum [0.9]")
    g.add_argument("--weight-decay", type=float, default=None, metavar="L2",
                   help="L2 on weights (not biases/batchnorm); decoupled for adamw [0]")
    g.add_argument("--batch-size", type=int, default=None, help="minibatch size")
    g.add_argument("--epochs", type=int, default=None, help="passes over the training split")
    g.add_argument("--schedule", choices=SCHEDULES, default=None,
                   help="learning rate over the run: constant, step (x0.1 after each third), cosine, onecycle, "
                        "triangle (0.2 -> 1 over the first 23%%, then linearly to 0.07)")
    g.add_argument("--clip-grad", type=float, default=None, metavar="NORM", help="clip the global gradient norm [0 = off]")
    g = p.add_argument_group("validation, stopping, data")
    g.add_argument("--val", type=val, default=None, metavar="V", help="validation part of train: fraction or count [0.1]")
    g.add_argument("--train-fraction", type=float, default=None, metavar="F", help="train on this fraction [1.0]")
    g.add_argument("--normalize", choices=NORMALIZE, default=None, help="statistics from the training split [channel]")
    g.add_argument("--eval-points", type=int, default=None, metavar="N",
                   help="0 = validate after every epoch; N = N evenly spaced times over the run [0]")
    g.add_argument("--patience", type=int, default=None,
                   help="early stopping: evaluation points without a better val accuracy [0 = off]; "
                        "the best-on-validation weights are always the ones tested")
    g = p.add_argument_group("augmentation (torch engine)")
    g.add_argument("--crop-padding", type=int, default=None, metavar="P", help="random crops of the image padded by P [0]")
    bool_flag(g, "flip", "random horizontal flips of training images")
    g.add_argument("--jitter", type=float, default=None, help="colour jitter strength for RGB images [0]")
    bool_flag(g, "tta-flip", "test-time augmentation: average each image's and its mirror's logits")
    g.add_argument("--ema", type=float, default=None, metavar="DECAY",
                   help="evaluate and save an exponential moving average of the weights, e.g. 0.999 [0 = off]")
    bool_flag(g, "lookahead", "every 5 steps pull the weights and a slow copy together, harder as training ends")
    g.add_argument("--progressive", default=None, metavar="SIZE:FRACTION",
                   help="train the first FRACTION of the steps on images resized to SIZE x SIZE, e.g. 24:0.75")
    bool_flag(g, "tta-shift", "test-time augmentation: also average 1-pixel shifted views")
    g = p.add_argument_group("transfer learning (--model efficientnet-lite0)")
    bool_flag(g, "pretrained", "start from the ImageNet weights [on for efficientnet-lite0]")
    g.add_argument("--finetune", choices=FINETUNE, default=None,
                   help="head: freeze the pretrained backbone and train a new classifier on its features, cached "
                        "in ~/.cache/imgclass/features (at most $IMGCLASS_FEATURE_CACHE_GB, default 8; least recently "
                        "used go first); last: the same with the last block and the head conv training too, on the "
                        "cached maps of the blocks before (for thousands of images; ~1.5 min an epoch on CIFAR-10); "
                        "all: train every layer, the pretrained ones at 1/10 of the learning rate [head]")
    g = p.add_argument_group("several processes (torchrun --nproc-per-node N -m imgclass train ...)")
    bool_flag(g, "sync-bn", "CUDA under torchrun: batchnorm statistics over the whole global batch (SyncBatchNorm) "
                            "instead of each process's part [off]; --batch-size is always the global batch")
    g = p.add_argument_group("speed and reproducibility")
    g.add_argument("--device", choices=("auto", "cpu", "cuda"), default=None, help="auto = cuda when available [auto]")
    bool_flag(g, "stream", "read each training batch from the on-disk cache of decoded images (folder datasets) "
                           "instead of loading the split into memory [automatic: when it would take over 1/4 of "
                           "the memory]; the same result either way")
    bool_flag(g, "channels-last", "channels_last memory format [automatic: on CUDA, and on CPU when faster]")
    bool_flag(g, "amp", "mixed precision [automatic: on for CUDA and for CPUs with native bfloat16 (AVX512-BF16, "
                         "AMX), about 2x faster for CNNs there; off on other CPUs, where it is slower]")
    g.add_argument("--dtype", choices=("float32", "float64"), default=None, help="numpy engine precision [float32]")
    g.add_argument("--threads", type=int, default=None, help="torch CPU threads [0 = torch's default]")
    g.add_argument("--seed", type=int, default=None, help="seed of split, init, batches, augmentation [0]")
    g.add_argument("--seeds", type=int, default=1, metavar="N",
                   help="train N runs with seeds seed..seed+N-1 and report mean ± std test accuracy")
    g = p.add_argument_group("output")
    g.add_argument("--out", default="runs", metavar="DIR", help="parent directory of run directories")
    g.add_argument("--name", default=None, help="run name [engine-model-dataset-seed]")
    g.add_argument("--resume", default=None, metavar="RUN_DIR",
                   help="continue an interrupted run from its checkpoint (other flags are read from its config.json)")
    g.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    g.add_argument("--no-test", dest="test", action="store_false",
                   help="do not evaluate on the test split (a sweep's trial: results.json then has the validation "
                        "accuracy and test_accuracy null)")


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The TrainConfig of the flags that were given; the recipes fill in the rest (as in Python)."""
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)
             if f.name not in ("dataset", "data_options") and getattr(args, f.name, None) is not None}
    return TrainConfig(dataset=dataset_name(args), data_options=data_options(args), **given)


#: What may be given with --resume: how the run is watched, not what it computes.
RESUME_FLAGS = ("resume", "progress", "json", "test")


def flags_given(args: argparse.Namespace, add_args=None) -> list[str]:
    """The flags of ``args`` set to something other than their defaults, as typed (``--lr``, ``--no-flip``)."""
    p = argparse.ArgumentParser(add_help=False)
    (add_args or add_train_args)(p)
    given = []
    for action in p._actions:
        if action.dest in RESUME_FLAGS or getattr(args, action.dest, action.default) == action.default:
            continue
        given.append(max(action.option_strings, key=len))
    return given


def check_resume_flags(args: argparse.Namespace) -> None:
    """--resume continues a run exactly as its config.json says: any other flag is refused by name."""
    given = flags_given(args)
    if given:
        raise ImgclassError(f"--resume continues {args.resume} with the flags it was started with (its config.json); "
                            f"{', '.join(given)} cannot change a run half-way: drop {'it' if len(given) == 1 else 'them'}"
                            ", or start a new run with the new flags. With --resume only --no-progress, --no-test and "
                            "--json may be given")


def cmd_train(args: argparse.Namespace) -> int:
    from imgclass.train import distributed

    if args.seeds < 1:
        raise ImgclassError(f"--seeds must be an integer >= 1 (the number of runs), got {args.seeds}")
    if args.seeds > 1 and distributed.launched():
        raise ImgclassError(distributed.NO_SEEDS)
    code = _cmd_train(args)  # on an error under torchrun, imgclass.cli.main ends the process without a teardown
    distributed.shutdown()
    return code


def _cmd_train(args: argparse.Namespace) -> int:
    from imgclass.train import distributed
    from imgclass.train.run import train, train_seeds

    w = distributed.setup()  # under torchrun: meet the other processes first
    if args.resume:
        from imgclass.runs import Run

        w.lead(lambda: str(Run.open(args.resume, kind="train").path))  # a missing run first: the bigger mistake
        check_resume_flags(args)
        r = train(resume=args.resume, progress=args.progress, test=args.test)
    else:
        cfg = config_from_args(args)
        if args.seeds > 1:
            r = train_seeds(cfg, args.seeds, out_root=args.out, progress=args.progress)
            text = (f"{len(r['seeds'])} seeds: test accuracy {r['test_accuracy']:.4f} ± {r['test_accuracy_std']:.4f} "
                    f"({', '.join(f'{a:.4f}' for a in r['test_accuracies'])})\nruns in {r['run_dir']}")
            emit(args, text, r)
            return 0
        r = train(cfg, out_root=args.out, progress=args.progress, test=args.test)
    if not distributed.world().leader:
        return 0  # process 0 reports for the whole run
    val_text = "" if r["val_accuracy"] is None else f"   best val accuracy {r['val_accuracy']:.4f} (step {r['best_step']})"
    tested = (f"test accuracy {r['test_accuracy']:.4f}   (test split used once)" if r["test_accuracy"] is not None
              else "test split not used (--no-test)")
    text = (f"{r['engine']} {r['model']} on {r['dataset']} ({r['parameters']:,} parameters, {r['device']}): "
            f"{r['epochs_done']:g} epochs in {r['train_seconds']:.1f} s{' (stopped early)' if r['stopped_early'] else ''}\n"
            f"final train loss {r['train_loss']:.4f}   train accuracy {r['train_accuracy']:.4f}{val_text}\n"
            f"{tested}\nrun directory {r['run_dir']}" +
            (f"\ntrained by {r['processes']} processes" if r.get("processes") else ""))
    emit(args, text, r)
    return 0


def add_commands(sub, command) -> None:
    p = command(sub, "train", cmd_train,
                "train a model with either engine through the Trainer; write a resumable run directory; "
                "test once at the end")
    p.epilog = recipes.help_text()
    add_train_args(p)
