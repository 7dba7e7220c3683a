"""Every training recipe imgclass knows: tuned defaults per model kind and dataset, and named recipes.

A :class:`~imgclass.train.config.TrainConfig` takes what it is not given from here, so
``TrainConfig(dataset="fashion-mnist", model="cnn")`` in Python and
``imgclass train --dataset fashion-mnist --model cnn`` train the same model. The
layers, each on top of the one before (a value given explicitly always wins):

1. :data:`BASE` — the plain defaults;
2. :data:`KIND` — per model kind (``cnn`` for ``cnn:16,32`` and for the preset ``cifar-classic``), then
   :data:`FINETUNING` per kind and fine-tuning mode (a pretrained net trained whole);
3. :data:`DATASET` — per ``(kind, dataset)``, then per ``(kind, dataset, engine)``;
4. :data:`NAMED` — a named recipe (``recipe="overfit"``), generic then per dataset; it may also set
   the model and the engine.

With no model given, :data:`MODEL` names the model per dataset and engine (the fast net on CIFAR-10).

On the numpy engine the settings tuned for PyTorch (:data:`TORCH_ONLY`) are left out of layers 2 and 3. Each entry
names the benchmark that chose it; ``imgclass train --help`` prints this table (:func:`help_text`).
"""

from __future__ import annotations

from imgclass.data.registry import ALIASES
from imgclass.errors import ImgclassError

#: The plain defaults of every recipe-controlled TrainConfig field.
BASE: dict = dict(
    val=0.1, train_fraction=1.0, normalize="channel", loss="softmax", label_smoothing=0.0, optimizer="adam",
    lr=1e-3, muon_lr=0.08, norm_lr_scale=1.0, momentum=0.9, weight_decay=0.0, batch_size=128, epochs=5,
    schedule="constant", clip_grad=0.0, eval_points=0, patience=0, crop_padding=0, flip=False, jitter=0.0,
    tta_flip=False, ema=0.0, lookahead=False, progressive="", tta_shift=False, pretrained=False, finetune="head",
    sync_bn=False, stream=None, device="auto", channels_last=None, amp=None, dtype="float32", threads=0,
)

KIND: dict[str, dict] = {
    "linear": dict(optimizer="sgd", lr=0.05, epochs=10, batch_size=128, normalize="pixel"),
    "mlp": dict(optimizer="adam", lr=1e-3, epochs=10, batch_size=128),
    # channels_last: measured faster on the CPU for every conv net tried (e.g. 84 vs 99 ms per step)
    "cnn": dict(optimizer="adam", lr=3e-3, epochs=10, batch_size=128, schedule="onecycle", channels_last=True),
    "resnet": dict(optimizer="adamw", lr=3e-3, epochs=10, batch_size=128, schedule="onecycle", weight_decay=5e-4,
                   channels_last=True),
    # the fast net (imgclass.deep.fastnet) and its training, after airbench's ideas: Muon on the 3x3 filters,
    # Nesterov SGD (momentum 0.85) elsewhere with biases at 64x the rate, a triangular schedule, label
    # smoothing 0.2, 2-pixel translations and flips, lookahead averaging, flip + shift test-time views, the
    # first 5 of 7 epochs at 24 px (a 24 px step costs half a 32 px one). airbench's per-1024-examples lr 11.5
    # and wd 0.0153 (summed loss) are lr 0.375 and weight decay 1.33e-3 for the mean loss of a 256-image
    # batch. Validation twice (half-way, end): with its 6 test-time views it costs ~23 s per 5,000 images.
    # benchmarks/cifar10_speed.py, 3 seeds on 2 CPU cores: 88.54% +- 0.19 test after 605 s of training.
    "fast": dict(optimizer="muon", lr=0.375, momentum=0.85, weight_decay=1.33e-3, norm_lr_scale=64.0, muon_lr=0.08,
                 batch_size=256, epochs=7, schedule="triangle", label_smoothing=0.2, crop_padding=2, flip=True,
                 lookahead=True, tta_flip=True, tta_shift=True, progressive="24:0.715", channels_last=True,
                 eval_points=2),
    # transfer learning (imgclass.deep.transfer): the ImageNet EfficientNet-Lite0, a new classifier trained with
    # AdamW on the frozen backbone's cached features (finetune=head; --finetune all trains every layer, the
    # pretrained ones at 1/10 of the rate); the net does the ImageNet scaling itself, so normalize=none.
    # Chosen on validation (100 CIFAR-10 training images per class to train, 3,000 other training images to
    # score, 224 px): the first recipe (10 epochs) 71.8%, + flip test-time views 72.3%, + flips of the training
    # images (their mirrors' cached features) and 30 epochs 74.0%, 60 epochs 75.1% (100 epochs 74.5%; batch 32,
    # lr 5e-4 or 2e-3, no label smoothing, dropout 0.5, weight decay 1e-2, cosine: 73.5-75.2%, none better
    # by more than the noise of 3,000 images, +-0.8). 128 px with the same recipe: 71.9%.
    # With the hidden-layer classifier (modelspec: hidden=1024), benchmarks/transfer.py: 73.1% test; on all 50,000
    # training images 84.0% after 803 s of training on 2 cores.
    "efficientnet": dict(pretrained=True, finetune="head", optimizer="adamw", lr=1e-3, weight_decay=1e-4,
                         batch_size=64, epochs=60, schedule="onecycle", label_smoothing=0.1, normalize="none",
                         flip=True, tta_flip=True),
}

#: Per model kind and fine-tuning mode, on top of KIND: a pretrained net trained whole (``--finetune all``)
#: runs the backbone on every step, so it trains for fewer epochs than a classifier on cached features.
FINETUNING: dict[tuple[str, str], dict] = {
    # benchmarks/transfer.py (100 images per class), 224 px: 80.31% test after 504 s of training on 2 cores with the
    # hidden-layer classifier, 78.48% in 430 s with one Linear layer (not tuned on validation: the epochs of the
    # first benchmark, 75.5% at 128 px)
    ("efficientnet", "all"): dict(epochs=4),
    # the last block and the head conv on the trunk's cached maps: on 45,000 CIFAR-10 training images (validation:
    # the other 5,000, flip test-time views), 3 epochs 85.84%, 5 epochs 86.78% (438 s of training on 2 cores with
    # bfloat16), against the frozen backbone's 84.8% after 60
    ("efficientnet", "last"): dict(epochs=5),
}

#: The model of ``imgclass train`` when --model is not given, per (dataset, engine); else ``cnn``.
MODEL: dict[tuple[str, str], str] = {
    # benchmarks/cifar10_speed.py: the fast net at 3/4 of airbench94's width (full width: ~1.7x the time
    # per step; half width 84.5% in ~2.4 min)
    ("cifar10", "torch"): "fast:48,192,192",
}

DATASET: dict[tuple, dict] = {
    # benchmarks/fashion_cnn.py, 2 CPU cores, 3 seeds: 93.32% ± 0.04 test accuracy in ~135 s; 92% after 59.7 s
    # and 93% after 97 s on average. amp = bfloat16 autocast, ~1.9x faster per step on AVX512-BF16 CPUs;
    # ema = the evaluated weights are a moving average (reaches 92% ~10 s sooner)
    ("cnn", "fashion-mnist"): dict(epochs=12, lr=4e-3, label_smoothing=0.1, flip=True, tta_flip=True, ema=0.999),
    ("resnet", "fashion-mnist"): dict(epochs=8, label_smoothing=0.1, flip=True, tta_flip=True),
    # the reference of benchmarks/cifar10_speed.py (the CIFAR-10 default before the fast net): cnn 32,64
    # fc 128 with batchnorm, 77.98% test after 455 s; the USI ablation's training recipe.
    ("cnn", "cifar10"): dict(epochs=20, label_smoothing=0.1, flip=True, crop_padding=4, tta_flip=True),
    # --model resnet (ResNet-8) on CIFAR-10, chosen on validation: the kind's recipe alone (10 epochs) 74.7%,
    # + flips, 4-pixel crops, label smoothing 0.1 and flip test-time views 75.9% (train accuracy 74.6%: it
    # underfits), the same over 20 epochs 80.0% (test 80.41% after 828 s of training on 2 cores,
    # benchmarks/cifar10_assignments.py --only resnet)
    ("resnet", "cifar10"): dict(epochs=20, label_smoothing=0.1, flip=True, crop_padding=4, tta_flip=True),
    # benchmarks/numpy_fashion.py --model twolayer: TwoLayerNet 784-400-10, He init, L2 1e-4, Adam one-cycle
    ("mlp", "fashion-mnist", "numpy"): dict(lr=2e-3, epochs=12, schedule="onecycle", weight_decay=1e-4,
                                            normalize="pixel", val=5000),
    # benchmarks/numpy_fashion.py --model cnn: [conv3x3-bn-relu-pool] x (16, 32), fc 128, Adam one-cycle
    ("cnn", "fashion-mnist", "numpy"): dict(epochs=4, lr=3e-3, val=5000),
}

NAMED: dict[str, dict] = {
    # the cs231n sanity check: a small net on 1% of the training split must reach ~100% training accuracy
    # (CIFAR-10: 450 images memorized, train accuracy 1.0 after 1.2 s, benchmarks/cifar10_assignments.py)
    "overfit": dict(engine="numpy", model="mlp:100", train_fraction=0.01, epochs=40, lr=2e-3, schedule="onecycle",
                    weight_decay=0.0, normalize="pixel", val=5000),
    # the two-layer net of the assignments, on the from-scratch NumPy engine
    "twolayer": dict(engine="numpy", model="twolayer", lr=2e-3, epochs=12, schedule="onecycle", weight_decay=1e-4,
                     normalize="pixel"),
    # a CNN on the from-scratch NumPy engine: [conv3x3-bn-relu-pool] x (32, 64, 128), fc 256, flips and
    # flip TTA, Adam one-cycle (CIFAR-10: 76.98% test after 557 s of training, benchmarks/cifar10_assignments.py)
    "numpy-cnn": dict(engine="numpy", model="cnn:32,64,128;fc=256", epochs=5, lr=3e-3, schedule="onecycle",
                      weight_decay=5e-4, flip=True, tta_flip=True, val=5000),
    # the USI assignment's ladder (imgclass study ablation; its CLI and the notebook use this one) on top of the
    # cnn kind and dataset recipes: the last step (cifar-classic;bn;nobias with every change) underfits in the
    # cnn on cifar10 recipe's 20 epochs (train accuracy 74.4%). Chosen on validation, 2 CPU cores: 20 epochs
    # 79.42%, 40 epochs 82.54% (82.65% test); Nesterov SGD lr 0.1 + shifted test views at 20 epochs 79.72%
    "usi": dict(epochs=40),
}
NAMED_DATASET: dict[tuple[str, str], dict] = {
    # 3072-512-10 with random flips, 10 epochs: 57.52% test after 108 s of training on 2 cores
    # (benchmarks/cifar10_assignments.py; the 1000-unit net with dropout 0.2, 7 epochs: 56.4% validation)
    ("twolayer", "cifar10"): dict(model="mlp:512", epochs=10, lr=1e-3, weight_decay=5e-4, flip=True),
}

# ------------------------------------------------------------------ imgclass linear (SVM and softmax)

#: The SGD recipe of ``imgclass linear train`` on every dataset: shuffled epochs, Polyak averaging of the
#: second half of the iterates (see benchmarks/linear_fashion.py and benchmarks/cifar10_assignments.py).
LINEAR: dict = dict(iters=6000, batch_size=200, sampling="epochs", averaging=0.5)
#: Per dataset on top: the intensity power (benchmarks/linear_gamma_cv.py chose 0.3 on Fashion-MNIST).
LINEAR_DATASET: dict[str, dict] = {"fashion-mnist": dict(gamma=0.3)}
#: When --lr/--reg are not given, the validation split chooses among these, log-spaced (low, high, count),
#: all trained at once by one batched sweep (imgclass.linear.sweep).
LINEAR_SEARCH: dict[str, dict] = {"svm": dict(lr=(1e-4, 1e-1, 7), reg=(1e-5, 1e-1, 5)),
                                  "softmax": dict(lr=(1e-3, 1.0, 7), reg=(1e-5, 1e-1, 5))}
#: Per (loss, dataset): ZCA whitening of the standardized pixels before SGD (``whiten``: eps relative to the
#: largest eigenvalue, :func:`imgclass.data.zca_matrix`); the weights are mapped back to pixels after training.
#: Chosen on the validation split: CIFAR-10 SVM 39.1% -> 40.6% (eps 1e-4: 40.2%, 1e-3: 40.4%, 3e-3: 39.8% with
#: a 3,000-iteration sweep); it costs the CIFAR-10 softmax 0.9 points (40.7% -> 39.8%) and the Fashion-MNIST
#: SVM 0.7 (85.9% -> 85.2%), so it is on for that one pair only.
LINEAR_WHITEN: dict[tuple[str, str], float] = {("svm", "cifar10"): 3e-4}
#: The candidates on whitened features: their best learning rates are 10-100x smaller.
LINEAR_SEARCH_WHITENED: dict[str, dict] = {"svm": dict(lr=(1e-6, 1e-3, 7), reg=(1e-3, 10.0, 5)),
                                           "softmax": dict(lr=(1e-5, 1e-2, 7), reg=(1e-3, 10.0, 5))}

#: The default ranges of ``imgclass linear sweep`` (LinearSweepConfig's lr_range/reg_range left out), on the
#: pixels or with --whiten: four decades of learning rate around where each loss's best ones lie, its 300
#: iterations needing larger rates than the 6,000 of a fit.
LINEAR_SWEEP_RANGES: dict[str, dict] = {"pixels": dict(lr=(1e-4, 1.0), reg=(1e-6, 1e-1)),
                                        "whitened": dict(lr=(1e-6, 1e-2), reg=(1e-3, 100.0))}


def linear_gamma(dataset: str) -> float:
    """The intensity power ``imgclass linear`` uses on ``dataset`` when none is given."""
    return LINEAR_DATASET.get(canonical(dataset), {}).get("gamma", 1.0)


def linear_whiten(loss: str, dataset: str) -> float:
    """The whitening eps ``imgclass linear`` uses for ``loss`` on ``dataset`` when none is given (0: none)."""
    return LINEAR_WHITEN.get((loss, canonical(dataset)), 0.0)


#: Settings tuned on the PyTorch engine (some only it has): the kind and (kind, dataset) recipes' values for
#: them are dropped on the numpy engine, whose own entries and named recipes set what it uses.
TORCH_ONLY = ("label_smoothing", "flip", "tta_flip", "crop_padding", "jitter", "channels_last", "amp", "ema",
              "muon_lr", "norm_lr_scale", "lookahead", "progressive", "tta_shift", "pretrained", "finetune", "sync_bn")


def default_model(dataset: str, engine: str) -> str:
    """The model trained when none is given: :data:`MODEL`'s entry for the dataset and engine, else ``cnn``."""
    return MODEL.get((canonical(dataset), engine), "cnn")


def canonical(dataset: str) -> str:
    """The registry name of a dataset given by an alias (``fashion`` -> ``fashion-mnist``)."""
    return ALIASES.get(dataset, dataset)


def named(name: str, dataset: str) -> dict:
    """A named recipe's settings on ``dataset`` (may include ``model`` and ``engine``); {} for no name."""
    if not name:
        return {}
    if name not in NAMED:
        raise ImgclassError(f"unknown recipe {name!r}; known recipes: {', '.join(NAMED)}")
    return {**NAMED[name], **NAMED_DATASET.get((name, canonical(dataset)), {})}


def resolve(kind: str, dataset: str, engine: str, name: str = "", finetune: str | None = None) -> dict:
    """The recipe values (no model or engine) for a model kind on a dataset and engine, named recipe on top.

    ``finetune``: the fine-tuning mode given explicitly (else the recipe's); a pretrained net trained whole
    takes :data:`FINETUNING`'s entry on top of its kind's.
    """
    ds = canonical(dataset)
    values = {**BASE, **KIND.get(kind, {})}
    values.update(FINETUNING.get((kind, finetune or values["finetune"]), {}))
    values.update(DATASET.get((kind, ds), {}))
    if engine == "numpy":  # what was tuned for the PyTorch engine; a numpy entry may set it again below
        values.update({k: BASE[k] for k in TORCH_ONLY})
    values.update(DATASET.get((kind, ds, engine), {}))
    values.update({k: v for k, v in named(name, dataset).items() if k not in ("model", "engine")})
    return values


def _row(values: dict) -> str:
    return ", ".join(f"{n}={v}" for n, v in values.items())


def help_text() -> str:
    """The recipe table as ``imgclass train --help`` prints it."""
    lines = ["recipes: defaults per model kind, then per kind and dataset[, engine], then --recipe NAME",
             f"(a flag given on the command line wins; the numpy engine leaves out {', '.join(TORCH_ONLY)}):"]
    lines += [f"  {k:<30} {_row(r)}" for k, r in KIND.items()]
    lines += [f"  {f'{k} --finetune {mode}':<30} {_row(r)}" for (k, mode), r in FINETUNING.items()]
    lines += [f"  {' on '.join(key[:2]) + (f' ({key[2]})' if len(key) > 2 else ''):<30} {_row(r)}"
              for key, r in DATASET.items()]
    lines += [f"  --recipe {k:<21} {_row(r)}" for k, r in NAMED.items()]
    lines += [f"  default model on {d} ({e}): {m}" for (d, e), m in MODEL.items()]
    lines.append("  other settings: " + _row({k: v for k, v in BASE.items()}))
    return "\n".join(lines)
