"""The training configuration: one typed dataclass, saved as ``config.json`` in every run directory.

Unknown keys and out-of-range values are errors (:class:`~imgclass.errors.ImgclassError`),
never silently ignored, so a typo in a sweep or a hand-edited config cannot
train something other than what was asked for.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from imgclass.errors import ImgclassError

ENGINES = ("numpy", "torch")
LOSSES = ("softmax", "hinge")
OPTIMIZERS = ("sgd", "nesterov", "adam", "adamw")
SCHEDULES = ("constant", "step", "cosine", "onecycle")
NORMALIZE = ("channel", "pixel", "none")


@dataclass
class TrainConfig:
    """Everything that decides a training run (with the seed, it decides the result).

    Data
        ``dataset`` (a registry name), ``data_options`` (loader options such as
        ``data_dir``), ``val`` (validation part of the training data: fraction or
        count), ``train_fraction`` (train on a stratified subset), ``normalize``.
    Model
        ``engine`` numpy|torch, ``model`` (a :class:`~imgclass.modelspec.ModelSpec` as a dict,
        or a preset name), ``loss`` softmax|hinge, ``label_smoothing`` (torch only).
    Optimization
        ``optimizer`` sgd|nesterov|adam|adamw, ``lr`` (the peak lr for onecycle),
        ``momentum``, ``weight_decay`` (L2 on weights, never on biases or batchnorm),
        ``batch_size``, ``epochs``, ``schedule`` constant|step|cosine|onecycle,
        ``clip_grad`` (max global gradient norm; 0 = off).
    Evaluation and stopping
        ``eval_points`` (0 = after every epoch; N = N evenly spaced times over
        the run), ``patience`` (early stopping after this many evaluation points
        without a better validation accuracy; 0 = off; the best weights are restored).
    Augmentation (torch engine, training batches only)
        ``crop_padding``, ``flip``, ``jitter``; ``tta_flip`` averages the logits of each
        test image and its mirror image at evaluation; ``ema`` (a decay such as 0.999; 0 = off)
        evaluates and saves an exponential moving average of the weights.
    Speed
        ``device`` auto|cpu|cuda, ``channels_last`` (None = on for CUDA, off on the CPU), ``amp``
        (None = on for CUDA; True on the CPU = bfloat16 autocast), ``dtype`` (numpy engine:
        float32|float64), ``threads``.
    """

    dataset: str = "digits"
    data_options: dict = field(default_factory=dict)
    val: float | int = 0.1
    train_fraction: float = 1.0
    normalize: str = "channel"
    engine: str = "torch"
    model: dict | str = "cnn"
    loss: str = "softmax"
    label_smoothing: float = 0.0
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    batch_size: int = 128
    epochs: int = 5
    schedule: str = "constant"
    clip_grad: float = 0.0
    eval_points: int = 0
    patience: int = 0
    crop_padding: int = 0
    flip: bool = False
    jitter: float = 0.0
    tta_flip: bool = False
    ema: float = 0.0
    device: str = "auto"
    channels_last: bool | None = None
    amp: bool | None = None
    dtype: str = "float32"
    threads: int = 0
    seed: int = 0
    name: str = ""

    def __post_init__(self) -> None:
        self.validate()

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
        if not 0 < self.train_fraction <= 1:
            raise ImgclassError(f"train_fraction must be in (0, 1], got {self.train_fraction}")
        if not 0 <= self.ema < 1:
            raise ImgclassError(f"ema must be a decay in [0, 1) (e.g. 0.999; 0 = off), got {self.ema}")
        if self.label_smoothing >= 1:
            raise ImgclassError(f"label_smoothing must be < 1, got {self.label_smoothing}")
        if self.engine == "numpy":
            unsupported = {"label_smoothing": self.label_smoothing > 0, "crop_padding": self.crop_padding > 0,
                           "flip": self.flip, "jitter": self.jitter > 0, "tta_flip": self.tta_flip,
                           "ema": self.ema > 0,
                           "amp": bool(self.amp), "channels_last": bool(self.channels_last)}
            bad = [k for k, v in unsupported.items() if v]
            if bad:
                raise ImgclassError(f"the numpy engine does not support {', '.join(bad)}; use --engine torch")
            if self.device == "cuda":
                raise ImgclassError("the numpy engine runs on the CPU; use --engine torch for --device cuda")
        if not isinstance(self.data_options, dict):
            raise ImgclassError(f"data_options must be a dict, got {type(self.data_options).__name__}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        """Build from a dict (e.g. a run's ``config.json``); unknown keys are an error."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ImgclassError(f"unknown config key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return cls(**d)

    def replace(self, **changes) -> "TrainConfig":
        return self.from_dict({**self.to_dict(), **changes})
