"""The training configuration: one typed dataclass, saved as ``config.json`` in every run directory.

Unknown keys and out-of-range values are errors (:class:`~imgclass.errors.ImgclassError`),
never silently ignored, so a typo in a sweep or a hand-edited config cannot
train something other than what was asked for.

A setting that is not given takes its value from the recipes
(:mod:`imgclass.train.recipes`): per model kind, per kind and dataset, and an
optional named ``recipe``. So Python and the command line train the same model
for the same request. A config read back from a run (:meth:`TrainConfig.from_dict`)
is complete and takes nothing from the recipes: it reproduces that run.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from imgclass.data.splits import check_split_size, check_train_fraction
from imgclass.errors import ImgclassError, check_config_dict
from imgclass.fileio import check_name
from imgclass.modelspec import ModelSpec
from imgclass.train import recipes

ENGINES = ("numpy", "torch")
LOSSES = ("softmax", "hinge")
OPTIMIZERS = ("sgd", "nesterov", "adam", "adamw", "muon")
SCHEDULES = ("constant", "step", "cosine", "onecycle", "triangle")
NORMALIZE = ("channel", "pixel", "none")
FINETUNE = ("head", "last", "all")  # imgclass.deep.transfer: the new classifier, + the last block, every layer


class _FromRecipe:
    """The default of a setting left to the recipes (replaced in ``__post_init__``)."""

    def __repr__(self) -> str:
        return "<from recipe>"


FROM_RECIPE = _FromRecipe()


def _recipe():
    return field(default=FROM_RECIPE)


@dataclass
class TrainConfig:
    """Everything that decides a training run (with the seed, it decides the result).

    Data
        ``dataset`` (a registry name), ``data_options`` (loader options such as
        ``data_dir``), ``val`` (validation part of the training data: fraction or
        count), ``train_fraction`` (train on a stratified subset), ``normalize``.
    Model
        ``engine`` numpy|torch, ``model`` (a :class:`~imgclass.modelspec.ModelSpec`, its dict, a preset
        name or the text form; parsed once, then always a ModelSpec), ``loss`` softmax|hinge,
        ``label_smoothing`` (torch only), ``recipe`` (a named recipe of :mod:`imgclass.train.recipes`).
    Optimization
        ``optimizer`` sgd|nesterov|adam|adamw|muon (muon: conv filter banks by Muon with ``muon_lr``,
        everything else by Nesterov SGD), ``lr`` (the peak lr for onecycle and triangle),
        ``momentum``, ``weight_decay`` (L2 on weights, never on biases or batchnorm),
        ``norm_lr_scale`` (torch: lr multiplier of biases and batchnorm), ``batch_size``, ``epochs``,
        ``schedule`` constant|step|cosine|onecycle|triangle (linear 0.2 -> 1 over the first 23%, then
        -> 0.07), ``clip_grad`` (max global gradient norm; 0 = off), ``lookahead`` (torch: every 5 steps
        the weights and a slow copy pull together, harder as training ends; the slow copy is kept).
    Evaluation and stopping
        ``eval_points`` (0 = after every epoch; N = N evenly spaced times over
        the run), ``patience`` (early stopping after this many evaluation points
        without a better validation accuracy; 0 = off; the best weights are restored).
    Augmentation (training batches only)
        ``crop_padding``, ``flip`` (both engines), ``jitter`` (torch); ``tta_flip`` averages the logits
        of each test image and its mirror image at evaluation; ``ema`` (torch; a decay such as 0.999;
        0 = off) evaluates and saves an exponential moving average of the weights; ``progressive`` (torch,
        ``"SIZE:FRACTION"``, e.g. ``"24:0.75"``) trains the first FRACTION of the steps on images resized to
        SIZE x SIZE; ``tta_shift`` (torch) also averages 1-pixel shifted views at evaluation.
    Speed
        ``device`` auto|cpu|cuda, ``channels_last`` (None = on for CUDA, off on the CPU), ``amp``
        (None = on for CUDA; True on the CPU = bfloat16 autocast), ``dtype`` (numpy engine:
        float32|float64), ``threads``; ``sync_bn`` (under torchrun on CUDA: batchnorm statistics over the
        whole global batch, torch's SyncBatchNorm); ``stream`` (images on disk, a folder's: True reads each
        batch from the decoded-image cache, False loads the split into memory, None streams when the split
        as floats would take more than a quarter of the memory; the result is the same).

    Settings not given come from the recipes (:func:`imgclass.train.recipes.resolve`).
    """

    dataset: str = "digits"
    data_options: dict = field(default_factory=dict)
    val: float | int = _recipe()
    train_fraction: float = _recipe()
    normalize: str = _recipe()
    engine: str = _recipe()
    model: ModelSpec | dict | str = _recipe()
    recipe: str = ""
    loss: str = _recipe()
    label_smoothing: float = _recipe()
    optimizer: str = _recipe()
    lr: float = _recipe()
    muon_lr: float = _recipe()
    norm_lr_scale: float = _recipe()
    momentum: float = _recipe()
    weight_decay: float = _recipe()
    batch_size: int = _recipe()
    epochs: int = _recipe()
    schedule: str = _recipe()
    clip_grad: float = _recipe()
    eval_points: int = _recipe()
    patience: int = _recipe()
    crop_padding: int = _recipe()
    flip: bool = _recipe()
    jitter: float = _recipe()
    tta_flip: bool = _recipe()
    ema: float = _recipe()
    lookahead: bool = _recipe()
    progressive: str = _recipe()
    tta_shift: bool = _recipe()
    pretrained: bool = _recipe()
    finetune: str = _recipe()
    sync_bn: bool = _recipe()
    stream: bool | None = _recipe()
    device: str = _recipe()
    channels_last: bool | None = _recipe()
    amp: bool | None = _recipe()
    dtype: str = _recipe()
    threads: int = _recipe()
    seed: int = 0
    name: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.recipe, str):
            raise ImgclassError(f"recipe must be a recipe name, got {self.recipe!r}")
        if not isinstance(self.dataset, str) or not self.dataset:
            raise ImgclassError(f"dataset must be a dataset name, got {self.dataset!r}")
        named = recipes.named(self.recipe, self.dataset)
        if self.engine is FROM_RECIPE:
            self.engine = named.get("engine", "torch")
        if self.model is FROM_RECIPE:
            self.model = named.get("model", recipes.default_model(self.dataset, self.engine))
        self.model = _spec(self.model)
        values = recipes.resolve(self.model.kind, self.dataset, self.engine, self.recipe,
                                 finetune=None if self.finetune is FROM_RECIPE else self.finetune)
        for f in dataclasses.fields(self):
            if getattr(self, f.name) is FROM_RECIPE:
                setattr(self, f.name, values[f.name])
        self.validate()

    @property
    def kind(self) -> str:
        """The model kind (``linear``, ``mlp``, ``cnn`` or ``resnet``)."""
        return self.model.kind

    def validate(self) -> None:
        """Raise :class:`ImgclassError` naming the first bad value and what is allowed."""
        choices = {"engine": ENGINES, "loss": LOSSES, "optimizer": OPTIMIZERS, "schedule": SCHEDULES,
                   "normalize": NORMALIZE, "device": ("auto", "cpu", "cuda"), "dtype": ("float32", "float64")}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ImgclassError(f"{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")
        positive = {"lr": self.lr, "batch_size": self.batch_size, "epochs": self.epochs}
        for name, v in positive.items():
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not (v > 0 and math.isfinite(v)):
                raise ImgclassError(f"{name} must be a finite number > 0, got {v!r}")
        for name in ("batch_size", "epochs", "eval_points", "patience", "crop_padding", "threads", "seed"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ImgclassError(f"{name} must be an integer >= 0, got {v!r}")
        nonneg = {"weight_decay": self.weight_decay, "clip_grad": self.clip_grad, "momentum": self.momentum,
                  "jitter": self.jitter, "label_smoothing": self.label_smoothing}
        for name, v in nonneg.items():
            if not (isinstance(v, (int, float)) and v >= 0 and math.isfinite(v)):
                raise ImgclassError(f"{name} must be a finite number >= 0, got {v!r}")
        if not (isinstance(self.muon_lr, (int, float)) and self.muon_lr > 0 and math.isfinite(self.muon_lr)):
            raise ImgclassError(f"muon_lr must be a finite number > 0, got {self.muon_lr!r}")
        if not (isinstance(self.norm_lr_scale, (int, float)) and self.norm_lr_scale > 0
                and math.isfinite(self.norm_lr_scale)):
            raise ImgclassError(f"norm_lr_scale must be a finite number > 0, got {self.norm_lr_scale!r}")
        if parse_progressive(self.progressive) and self.kind not in ("fast", "resnet"):
            raise ImgclassError(f"progressive resizing needs a net that pools globally (fast or resnet); a {self.kind}'s "
                                "fully connected layers take one image size")
        if not isinstance(self.pretrained, bool):
            raise ImgclassError(f"pretrained must be true or false, got {self.pretrained!r}")
        if self.pretrained and self.kind != "efficientnet":
            raise ImgclassError(f"pretrained weights exist for --model efficientnet-lite0 only, not for a {self.kind} "
                                "net")
        if self.stream is not None and not isinstance(self.stream, bool):
            raise ImgclassError(f"stream must be true, false or null (automatic), got {self.stream!r}")
        if not isinstance(self.sync_bn, bool):
            raise ImgclassError(f"sync_bn must be true or false, got {self.sync_bn!r}")
        if self.finetune not in FINETUNE:
            raise ImgclassError(f"finetune must be one of {', '.join(FINETUNE)}, got {self.finetune!r}")
        check_train_fraction(self.train_fraction)
        if not 0 <= self.ema < 1:
            raise ImgclassError(f"ema must be a decay in [0, 1) (e.g. 0.999; 0 = off), got {self.ema}")
        if self.label_smoothing >= 1:
            raise ImgclassError(f"label_smoothing must be < 1, got {self.label_smoothing}")
        if self.engine == "numpy":
            unsupported = {"label_smoothing": self.label_smoothing > 0, "jitter": self.jitter > 0, "ema": self.ema > 0,
                           "amp": bool(self.amp), "channels_last": bool(self.channels_last),
                           "optimizer muon": self.optimizer == "muon", "schedule triangle": self.schedule == "triangle",
                           "lookahead": bool(self.lookahead), "progressive": bool(self.progressive),
                           "tta_shift": bool(self.tta_shift), "norm_lr_scale": self.norm_lr_scale != 1,
                           "sync_bn": self.sync_bn, "stream": bool(self.stream)}
            bad = [k for k, v in unsupported.items() if v]
            if bad:
                raise ImgclassError(f"the numpy engine does not support {', '.join(bad)}; use --engine torch")
            if self.device == "cuda":
                raise ImgclassError("the numpy engine runs on the CPU; use --engine torch for --device cuda")
            if self.kind in ("resnet", "fast", "efficientnet"):
                raise ImgclassError(f"{self.kind} nets are only available on the torch engine; use --engine torch "
                                    "or a cnn model")
        if not isinstance(self.data_options, dict):
            raise ImgclassError(f"data_options must be a dict, got {type(self.data_options).__name__}")
        check_split_size(self.val)
        if self.name:
            check_name(self.name, "name")  # before any training: the run directory must stay inside --out

    def to_dict(self) -> dict:
        """Every field, JSON-ready (the model as its ModelSpec dict)."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["data_options"] = dict(self.data_options)
        d["model"] = self.model.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        """Build from a stored dict (a run's ``config.json``); unknown keys are an error.

        A stored config is complete; keys it lacks (written by an older imgclass) take the plain
        defaults (:data:`imgclass.train.recipes.BASE`), never a recipe, so the run it describes
        is rebuilt as it was.
        """
        check_config_dict(cls, d, "training configuration")
        base = {"engine": "torch", "model": "cnn", **recipes.BASE}
        return cls(**{**{k: v for k, v in base.items() if k not in d}, **d})

    def replace(self, **changes) -> "TrainConfig":
        """A copy with ``changes``; everything else stays as it is (no recipe is looked up again)."""
        return self.from_dict({**self.to_dict(), **changes})


def parse_progressive(text: str) -> tuple[int, float] | None:
    """``"24:0.75"`` -> (24, 0.75): the image size of the first 75% of the steps; ``""`` -> None."""
    if not text:
        return None
    try:
        size, fraction = text.split(":")
        size, fraction = int(size), float(fraction)
    except (AttributeError, ValueError):
        raise ImgclassError(f"progressive must be SIZE:FRACTION such as 24:0.75, got {text!r}") from None
    if size < 4 or not 0 < fraction < 1:
        raise ImgclassError(f"progressive needs a size >= 4 and a fraction in (0, 1), got {text!r}")
    return size, fraction


def schedule_steps(total_steps: int) -> int:
    """The ``step`` schedule's step size: the learning rate drops 10x after each third of the run."""
    return max(1, math.ceil(total_steps / 3))


def _spec(model) -> ModelSpec:
    if isinstance(model, ModelSpec):
        return model
    if isinstance(model, dict):
        return ModelSpec.from_dict(model)
    if isinstance(model, str):
        return ModelSpec.parse(model)
    raise ImgclassError(f"model must be a model description (text, dict or ModelSpec), got {model!r}")


#: The plain defaults of every field (what a stored config lacking a key means).
DEFAULTS: dict = {"dataset": "digits", "data_options": {}, "engine": "torch", "model": "cnn", "recipe": "",
                  "seed": 0, "name": "", **recipes.BASE}
