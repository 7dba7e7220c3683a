"""One model description for both engines.

A :class:`ModelSpec` says what a network is (``cnn: conv 32, conv 64, fc 128,
bn, dropout 0.25``) without saying which engine runs it.
:func:`build_numpy` turns it into a NumPy :class:`~imgclass.nn.models.Classifier`;
:func:`imgclass.deep.build_torch` turns the same spec into a ``torch.nn.Module``
with the same layers in the same order, so weights copy one-to-one
(:mod:`imgclass.deep.convert`).

Three ways to write a spec::

    ModelSpec(kind="cnn", channels=(32, 64), fc=(128,), batchnorm=True, dropout=0.25)
    ModelSpec.from_dict({"kind": "cnn", "channels": [32, 64], "dropout": 0.25})
    ModelSpec.parse("cnn:32,64;fc=128;bn;dropout=0.25")   # or a preset name: "cifar-classic"

Fields left out (``None``) take the kind's default (:data:`KIND_DEFAULTS`);
a field that does not apply to the kind (``channels`` for an MLP) is an
error, never silently ignored.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from imgclass.errors import ImgclassError
from imgclass.nn.models import CNN, MLP, LinearClassifier

KINDS = ("linear", "mlp", "cnn", "resnet", "fast", "efficientnet")

# The defaults of each kind; a field missing from a kind's entry does not apply to it.
KIND_DEFAULTS: dict[str, dict[str, Any]] = {
    "linear": {"bias": True, "init": 1e-3},  # LinearClassifier's cs231n init
    "mlp": {"hidden": (256,), "batchnorm": False, "dropout": 0.0, "bias": True, "init": "he"},
    "cnn": {"channels": (32, 64), "fc": (128,), "kernel": 3, "batchnorm": True, "dropout": 0.0, "bias": True,
            "init": "he"},
    "resnet": {"blocks": (1, 1, 1), "widths": (16, 32, 64), "dropout": 0.0},  # ResNet-8
    "fast": {"widths": (64, 256, 256)},  # imgclass.deep.fastnet: whitening stem + three conv groups
    # imgclass.deep.transfer: EfficientNet-Lite0 (ImageNet weights with --pretrained) and a new classifier; the
    # images are resized to size x size inside the net (CIFAR-10's 32 px upscaled). 224, the weights' own size:
    # on validation (benchmarks/transfer.py's setting) the frozen-backbone head gets 71.8% at 224 px, 68.8% at 128.
    # The new classifier has one hidden layer of 1024: on all of CIFAR-10's training images (the 45,000/5,000
    # split, flips, the recipe) 84.8% on validation, against 81.5% for one Linear layer; on 100 images per class
    # 74.4% against 75.1% (the noise of those 3,000 images: +-0.8)
    "efficientnet": {"size": 224, "dropout": 0.2, "hidden": (1024,)},
}
_EMPTY = {"hidden": (), "channels": (), "fc": (), "kernel": 3, "batchnorm": False, "dropout": 0.0, "bias": True,
          "blocks": (), "widths": (), "init": "he", "size": 0}  # the value of a field that does not apply
_TUPLES = ("hidden", "channels", "fc", "blocks", "widths")
_MAIN = {"mlp": "hidden", "cnn": "channels", "resnet": "blocks", "fast": "widths"}  # the list after "kind:" in the text form


@dataclass(frozen=True)
class ModelSpec:
    """What a network is, for either engine.

    Parameters
    ----------
    kind : {"linear", "mlp", "cnn", "resnet", "fast"}
    hidden : tuple of int
        MLP: widths of the hidden layers, ``[affine - (bn) - ReLU - (dropout)]`` each.
        EfficientNet: the new classifier's hidden layers (``()``: one Linear layer on the pooled features).
    channels : tuple of int
        CNN: filters of each ``conv KxK (pad K//2) - (bn) - ReLU - maxpool 2`` block.
    fc : tuple of int
        CNN: widths of the hidden fully connected layers after the conv blocks.
    kernel : int
        CNN: odd convolution kernel size.
    batchnorm : bool
        MLP/CNN: batchnorm after each hidden affine/conv (which then has no bias).
    dropout : float
        Drop probability in [0, 1): after each hidden ReLU (MLP), before each
        fully connected layer (CNN), before the classifier (ResNet), before each of the new
        classifier's Linear layers (EfficientNet).
    bias : bool
        Linear/MLP/CNN: biases on affine and conv layers, the last one
        included (``False`` for data with a bias column).
    blocks, widths : tuple of int
        ResNet: BasicBlocks per stage and each stage's channels (stride 2
        from the second stage on). Fast net (:mod:`imgclass.deep.fastnet`): the
        three conv groups' channels.
    init : "he", "xavier" or float
        Initial weights: He normal, Glorot uniform, or normal with this std.
    size : int
        EfficientNet: the images are resized to ``size`` x ``size`` inside the net.

    ``None`` for any field but ``kind`` means the kind's default.
    """

    kind: str = "cnn"
    hidden: tuple[int, ...] | None = None
    channels: tuple[int, ...] | None = None
    fc: tuple[int, ...] | None = None
    kernel: int | None = None
    batchnorm: bool | None = None
    dropout: float | None = None
    bias: bool | None = None
    blocks: tuple[int, ...] | None = None
    widths: tuple[int, ...] | None = None
    init: str | float | None = None
    size: int | None = None

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ImgclassError(f"model kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        defaults = KIND_DEFAULTS[self.kind]
        for f in fields(self)[1:]:
            value = getattr(self, f.name)
            if value is None:
                value = defaults.get(f.name, _EMPTY[f.name])
            elif f.name not in defaults:
                raise ImgclassError(f"{f.name!r} does not apply to {self.kind} models; "
                                    f"their options are {', '.join(defaults)}")
            object.__setattr__(self, f.name, _check(f.name, value))
        if self.kind == "resnet" and len(self.blocks) != len(self.widths):
            raise ImgclassError(f"resnet needs one width per stage: blocks {self.blocks}, widths {self.widths}")
        if self.kind == "resnet" and not self.blocks:
            raise ImgclassError("resnet needs at least one stage, e.g. blocks=(1, 1, 1)")
        if self.kind == "efficientnet" and self.size < 32:
            raise ImgclassError(f"an EfficientNet halves its input five times: size must be at least 32, got {self.size}")
        if self.kind == "fast" and len(self.widths) != 3:
            raise ImgclassError(f"a fast net has three conv groups: give three widths, got {self.widths}")

    # --- dict and text forms -------------------------------------------------------
    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ModelSpec":
        """A spec from a dict such as a ``config.json`` entry; unknown keys are an error."""
        if not isinstance(d, dict):
            raise ImgclassError(f"a model description must be a dict, got {type(d).__name__}")
        if "kind" not in d:
            raise ImgclassError(f"a model description needs a 'kind' ({', '.join(KINDS)}), got keys {sorted(d)}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ImgclassError(f"unknown model option(s) {', '.join(map(repr, unknown))}; "
                                f"known options are {', '.join(sorted(known))}")
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
        """The fields that apply to this kind, JSON-ready (tuples become lists)."""
        out: dict[str, Any] = {"kind": self.kind}
        for name in KIND_DEFAULTS[self.kind]:
            value = getattr(self, name)
            out[name] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def parse(cls, text: str) -> "ModelSpec":
        """A spec from its short text form or a preset name.

        ``kind[:n,n,...][;option[=value]]...`` where the list after the colon
        is ``hidden`` (mlp), ``channels`` (cnn) or ``blocks`` (resnet); ``bn``
        means ``batchnorm=true`` and ``nobias`` means ``bias=false``.
        A preset's name may head the options too: ``"cifar-classic;bn;nobias"``.
        Examples: ``"mlp:512,256;dropout=0.5"``, ``"cnn:32,64;fc=128;bn;dropout=0.25"``,
        ``"resnet:3,3,3;widths=16,32,64"``, ``"linear;nobias"``, ``"cifar-classic"``,
        ``"efficientnet-lite0;size=224"``.
        """
        text = text.strip()
        if text in PRESETS:
            return PRESETS[text]
        head, *options = [part.strip() for part in text.split(";")]
        kind, _, main = head.partition(":")
        kind = kind.strip()
        values: dict[str, Any] = {"kind": kind}
        if kind in PRESETS and not main:  # a preset with options on top: "efficientnet-lite0;size=224"
            values = PRESETS[kind].to_dict()
        elif main:
            if kind not in _MAIN:
                raise ImgclassError(f"{kind!r} takes no list after ':' in {text!r}")
            values[_MAIN[kind]] = main
        for opt in filter(None, options):
            key, eq, value = (s.strip() for s in opt.partition("="))
            if not eq:
                key, value = {"bn": ("batchnorm", "true"), "nobn": ("batchnorm", "false"),
                              "nobias": ("bias", "false")}.get(key, (key, "true"))
            values[key] = value
        try:
            return cls.from_dict(values)
        except ImgclassError as e:
            raise ImgclassError(f"bad model description {text!r}: {e}") from None

    def to_text(self) -> str:
        """The short text form; ``ModelSpec.parse(spec.to_text()) == spec``."""
        d = self.to_dict()
        kind = d.pop("kind")
        main = d.pop(_MAIN[kind]) if kind in _MAIN else []
        head = f"{kind}:{','.join(map(str, main))}" if main else kind
        parts = [f"{k}={','.join(map(str, v)) if isinstance(v, list) else v}" for k, v in d.items()]
        return ";".join([head, *parts])

    def __str__(self) -> str:
        return self.to_text()


def _check(name: str, value):
    """Validate and normalise one field (strings from the text form are accepted)."""
    try:
        if name in _TUPLES:
            if isinstance(value, str):
                value = [v for v in value.replace(" ", "").split(",") if v]
            if isinstance(value, (int, np.integer)):
                value = [value]
            return tuple(_positive_int(v) for v in value)
        if name == "size":  # 0: does not apply (the kind check below wants >= 32 for efficientnet)
            return 0 if value == 0 else _positive_int(value)
        if name == "kernel":
            k = _positive_int(value)
            if k % 2 == 0:
                raise ValueError(f"must be odd ('same' padding K//2), got {k}")
            return k
        if name in ("batchnorm", "bias"):
            return _bool(value)
        if name == "dropout":
            p = float(value)
            if not 0.0 <= p < 1.0:
                raise ValueError(f"must lie in [0, 1), got {p}")
            return p
        if name == "init":
            if isinstance(value, str) and value in ("he", "xavier"):
                return value
            std = float(value)
            if not (std >= 0 and math.isfinite(std)):
                raise ValueError(f"must be 'he', 'xavier' or a std >= 0, got {value!r}")
            return std
    except (TypeError, ValueError) as e:
        raise ImgclassError(f"model option {name}: {e}") from None
    raise AssertionError(name)


def _positive_int(v) -> int:
    if isinstance(v, bool) or isinstance(v, float) and not v.is_integer():
        raise ValueError(f"expected a positive integer, got {v!r}")
    n = int(v)
    if n < 1:
        raise ValueError(f"expected a positive integer, got {v!r}")
    return n


def _bool(v) -> bool:
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, str) and v.lower() in ("true", "yes", "on", "1", "false", "no", "off", "0"):
        return v.lower() in ("true", "yes", "on", "1")
    if isinstance(v, (int, np.integer)) and v in (0, 1):
        return bool(v)
    raise ValueError(f"expected true or false, got {v!r}")


PRESETS: dict[str, ModelSpec] = {  # names never equal a kind: "cnn" alone means the cnn defaults
    "twolayer": ModelSpec(kind="mlp", hidden=(400,)),  # the NumPy recipe's 784-400-10
    "mlp-bn": ModelSpec(kind="mlp", hidden=(512, 256), batchnorm=True, dropout=0.2),
    "cnn-small": ModelSpec(kind="cnn", channels=(16, 32), fc=(128,)),  # the NumPy recipe
    "cnn-dropout": ModelSpec(kind="cnn", channels=(32, 64), fc=(128,), batchnorm=True, dropout=0.25),
    # 3 x (conv 3x3 - ReLU - maxpool 2), then fc 256 and the classifier: the classic CIFAR-10 convnet
    "cifar-classic": ModelSpec(kind="cnn", channels=(32, 64, 128), fc=(256,), batchnorm=False, dropout=0.5),
    "resnet8": ModelSpec(kind="resnet", blocks=(1, 1, 1), widths=(16, 32, 64)),
    "resnet20": ModelSpec(kind="resnet", blocks=(3, 3, 3), widths=(16, 32, 64)),
    "fast-small": ModelSpec(kind="fast", widths=(32, 128, 128)),  # the fast net at half width
    "efficientnet-lite0": ModelSpec(kind="efficientnet"),  # transfer learning: train --pretrained --finetune
}


def build_numpy(spec: ModelSpec, in_shape: tuple[int, ...], num_classes: int, *, loss: str = "softmax",
                reg: float = 0.0, seed: int = 0, dtype=np.float32, reg_convention: str = "half",
                hinge_average: str = "sum"):
    """The NumPy-engine classifier a spec describes.

    Parameters
    ----------
    spec : ModelSpec
    in_shape : tuple of int
        One input's shape: ``(C, H, W)`` for a CNN; ``(D,)`` or ``(C, H, W)``
        for linear/MLP models (the first affine layer flattens).
    num_classes : int
    loss, reg, reg_convention, hinge_average
        As :class:`imgclass.nn.models.Classifier`.
    seed : int
        Initial weights and dropout masks.
    dtype : floating dtype

    Returns
    -------
    imgclass.nn.models.Classifier
        A :class:`LinearClassifier`, :class:`MLP` or :class:`CNN`.
    """
    if not isinstance(spec, ModelSpec):
        raise ImgclassError(f"expected a ModelSpec, got {type(spec).__name__}")
    if spec.kind in ("resnet", "fast", "efficientnet"):
        raise ImgclassError(f"{spec.kind} nets are only available on the torch engine; use --engine torch or a cnn "
                            "model")
    in_shape = tuple(int(s) for s in in_shape)
    if num_classes < 2:
        raise ImgclassError(f"a classifier needs at least 2 classes, got {num_classes}")
    kw = dict(loss=loss, reg=reg, reg_convention=reg_convention, hinge_average=hinge_average, seed=seed,
              dtype=dtype, init=spec.init, bias=spec.bias)
    if spec.kind == "linear":
        model = LinearClassifier(math.prod(in_shape), num_classes, **kw)
    elif spec.kind == "mlp":
        model = MLP(math.prod(in_shape), spec.hidden, num_classes, batchnorm=spec.batchnorm, dropout=spec.dropout, **kw)
    else:
        if len(in_shape) != 3:
            raise ImgclassError(f"a cnn needs images (C, H, W), got input shape {in_shape}; do not flatten the data")
        model = CNN(in_shape, num_classes, channels=spec.channels, fc=spec.fc, kernel=spec.kernel,
                    batchnorm=spec.batchnorm, dropout=spec.dropout, **kw)
    return model


def spec_text(model) -> str:
    """A model description (ModelSpec, dict, preset name or text) as its short text form, for display.

    What cannot be parsed is shown as it is (a report shows what it can).
    """
    try:
        if isinstance(model, ModelSpec):
            return model.to_text()
        if isinstance(model, dict):
            return ModelSpec.from_dict(model).to_text()
        return ModelSpec.parse(str(model)).to_text()
    except ImgclassError:
        return str(model)
