"""``imgclass train``: the command line over :func:`imgclass.train.run.train`."""

from __future__ import annotations

import argparse
import dataclasses

from imgclass.train.config import ENGINES, LOSSES, NORMALIZE, OPTIMIZERS, SCHEDULES, TrainConfig

# What `imgclass train` uses for a flag that is not given, per model kind (then TrainConfig's defaults),
# then per (kind, dataset) on top. The fashion-mnist cnn entry is the recipe benchmarks/fashion_cnn.py measures.
RECIPES: dict[str, dict] = {
    "linear": dict(optimizer="sgd", lr=0.05, epochs=10, batch_size=128, normalize="pixel"),
    "mlp": dict(optimizer="adam", lr=1e-3, epochs=10, batch_size=128),
    # channels_last: measured faster on the CPU for every conv net tried (e.g. 84 vs 99 ms per step)
    "cnn": dict(optimizer="adam", lr=3e-3, epochs=10, batch_size=128, schedule="onecycle", channels_last=True),
    "resnet": dict(optimizer="adamw", lr=3e-3, epochs=10, batch_size=128, schedule="onecycle", weight_decay=5e-4,
                   channels_last=True),
}
DATASET_RECIPES: dict[tuple[str, str], dict] = {
    # benchmarks/fashion_cnn.py, 2 CPU cores, 3 seeds: 93.32% ± 0.04 test accuracy in ~135 s; 92% after 59.7 s
    # and 93% after 97 s on average. amp = bfloat16 autocast, ~1.9x faster per step here (AVX512-BF16);
    # ema = the evaluated weights are a moving average (reaches 92% ~10 s sooner)
    ("cnn", "fashion-mnist"): dict(epochs=12, lr=4e-3, label_smoothing=0.1, flip=True, tta_flip=True, amp=True,
                                   ema=0.999),
    ("resnet", "fashion-mnist"): dict(epochs=8, label_smoothing=0.1, flip=True, tta_flip=True, amp=True),
    ("cnn", "cifar10"): dict(epochs=20, label_smoothing=0.1, flip=True, crop_padding=4, tta_flip=True),
    ("resnet", "cifar10"): dict(epochs=20, label_smoothing=0.1, flip=True, crop_padding=4, tta_flip=True),
}
TORCH_ONLY = ("label_smoothing", "flip", "tta_flip", "crop_padding", "jitter", "channels_last", "amp", "ema")


def recipe(kind: str, dataset: str, engine: str) -> dict:
    """The defaults ``imgclass train`` uses for this model kind, dataset and engine."""
    values = {**RECIPES.get(kind, {}), **DATASET_RECIPES.get((kind, dataset), {})}
    if engine == "numpy":
        values = {k: v for k, v in values.items() if k not in TORCH_ONLY}
    return values


_DEFAULTS = {f.name: f.default for f in dataclasses.fields(TrainConfig) if f.default is not dataclasses.MISSING}


def _kind(model: str) -> str:
    return model.split(":", 1)[0].split(";", 1)[0]


def _recipe_help() -> str:
    lines = ["defaults per model kind, then per kind and dataset (a flag given on the command line wins;",
             f"the numpy engine leaves out {', '.join(TORCH_ONLY)}):"]
    lines += [f"  {k:<22} " + ", ".join(f"{n}={v}" for n, v in r.items()) for k, r in RECIPES.items()]
    lines += [f"  {k + ' on ' + d:<22} " + ", ".join(f"{n}={v}" for n, v in r.items())
              for (k, d), r in DATASET_RECIPES.items()]
    lines.append("  other flags: " + ", ".join(f"{n}={v}" for n, v in _DEFAULTS.items()
                                              if n not in ("data_options", "model", "name")))
    return "\n".join(lines)


def _bool_flag(g, name: str, help_text: str) -> None:
    g.add_argument(f"--{name}", dest=name.replace("-", "_"), action=argparse.BooleanOptionalAction, default=None,
                   help=help_text)


def add_train_args(p: argparse.ArgumentParser) -> None:
    from imgclass.cli import _val, add_data_args

    add_data_args(p, flag_default="digits")
    p.add_argument("--engine", choices=ENGINES, default=None, help="numpy (from scratch) or torch [default: torch]")
    p.add_argument("--model", default="cnn", metavar="SPEC",
                   help="linear | mlp | cnn | resnet | a preset (e.g. cifar-classic) | the text form, e.g. "
                        "'cnn:32,64;fc=128;bn;dropout=0.25' or 'mlp:512,256;bn'")
    g = p.add_argument_group("optimization")
    g.add_argument("--loss", choices=LOSSES, default=None, help="cross-entropy (softmax) or multiclass hinge [softmax]")
    g.add_argument("--label-smoothing", type=float, default=None, metavar="E", help="torch engine, softmax loss")
    g.add_argument("--optimizer", choices=OPTIMIZERS, default=None, help="nesterov = SGD with Nesterov momentum")
    g.add_argument("--lr", type=float, default=None, help="learning rate (the peak for --schedule onecycle)")
    g.add_argument("--momentum", type=float, default=None, help="sgd/nesterov momentum [0.9]")
    g.add_argument("--weight-decay", type=float, default=None, metavar="L2",
                   help="L2 on weights (not biases/batchnorm); decoupled for adamw [0]")
    g.add_argument("--batch-size", type=int, default=None, help="minibatch size")
    g.add_argument("--epochs", type=int, default=None, help="passes over the training split")
    g.add_argument("--schedule", choices=SCHEDULES, default=None,
                   help="learning rate over the run: constant, step (x0.1 after each third), cosine, onecycle")
    g.add_argument("--clip-grad", type=float, default=None, metavar="NORM", help="clip the global gradient norm [0 = off]")
    g = p.add_argument_group("validation, stopping, data")
    g.add_argument("--val", type=_val, default=None, metavar="V", help="validation part of train: fraction or count [0.1]")
    g.add_argument("--train-fraction", type=float, default=None, metavar="F", help="train on this fraction [1.0]")
    g.add_argument("--normalize", choices=NORMALIZE, default=None, help="statistics from the training split [channel]")
    g.add_argument("--eval-points", type=int, default=None, metavar="N",
                   help="0 = validate after every epoch; N = N evenly spaced times over the run [0]")
    g.add_argument("--patience", type=int, default=None,
                   help="early stopping: evaluation points without a better val accuracy [0 = off]; "
                        "the best-on-validation weights are always the ones tested")
    g = p.add_argument_group("augmentation (torch engine)")
    g.add_argument("--crop-padding", type=int, default=None, metavar="P", help="random crops of the image padded by P [0]")
    _bool_flag(g, "flip", "random horizontal flips of training images")
    g.add_argument("--jitter", type=float, default=None, help="colour jitter strength for RGB images [0]")
    _bool_flag(g, "tta-flip", "test-time augmentation: average each image's and its mirror's logits")
    g.add_argument("--ema", type=float, default=None, metavar="DECAY",
                   help="evaluate and save an exponential moving average of the weights, e.g. 0.999 [0 = off]")
    g = p.add_argument_group("speed and reproducibility")
    g.add_argument("--device", choices=("auto", "cpu", "cuda"), default=None, help="auto = cuda when available [auto]")
    _bool_flag(g, "channels-last", "channels_last memory format [automatic: on CUDA, and on CPU when faster]")
    _bool_flag(g, "amp", "mixed precision [automatic: on for CUDA; on the CPU only when given: bfloat16 autocast, "
                         "about 2x faster for CNNs on CPUs with AVX512-BF16]")
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


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    from imgclass.cli import _data_options, dataset_name

    values = recipe(_kind(args.model), dataset_name(args), args.engine or "torch")
    for f in dataclasses.fields(TrainConfig):
        v = getattr(args, f.name, None)
        if v is not None and f.name not in ("dataset", "data_options"):
            values[f.name] = v
    options = {k: v for k, v in _data_options(args).items() if v is not None}
    return TrainConfig(dataset=dataset_name(args), data_options=options, **values)


def cmd_train(args: argparse.Namespace) -> int:
    from imgclass.cli import emit
    from imgclass.train.run import train, train_seeds

    if args.resume:
        r = train(resume=args.resume, progress=args.progress)
    else:
        cfg = config_from_args(args)
        if args.seeds > 1:
            r = train_seeds(cfg, args.seeds, out_root=args.out, progress=args.progress)
            text = (f"{len(r['seeds'])} seeds: test accuracy {r['test_accuracy_mean']:.4f} ± {r['test_accuracy_std']:.4f} "
                    f"({', '.join(f'{a:.4f}' for a in r['test_accuracies'])})\nruns in {r['run_dir']}")
            emit(args, text, r)
            return 0
        r = train(cfg, out_root=args.out, progress=args.progress)
    val = "" if r["best_val_accuracy"] is None else f"   best val accuracy {r['best_val_accuracy']:.4f} (step {r['best_step']})"
    text = (f"{r['engine']} {r['model']['kind']} on {r['dataset']} ({r['parameters']:,} parameters, {r['device']}): "
            f"{r['epochs_done']:g} epochs in {r['train_seconds']:.1f} s{' (stopped early)' if r['stopped_early'] else ''}\n"
            f"final train loss {r['final_train_loss']:.4f}   train accuracy {r['final_train_accuracy']:.4f}{val}\n"
            f"test accuracy {r['test_accuracy']:.4f}   (test split used once)\n"
            f"run directory {r['run_dir']}")
    emit(args, text, r)
    return 0


def add_commands(sub, command) -> None:
    p = command(sub, "train", cmd_train,
                "train a model with either engine through the Trainer; write a resumable run directory; "
                "test once at the end")
    p.epilog = _recipe_help()
    add_train_args(p)
