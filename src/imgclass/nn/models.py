"""Classifiers on the NumPy engine: a base class and ready-made models.

A :class:`Classifier` wraps a network (a :class:`Sequential`) with a loss
and L2 regularization, in the style of the cs231n assignments:
``loss(x, y)`` runs forward and backward and leaves every parameter's
gradient in the layers' ``grads``, ready for an optimizer's ``step()``.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np

from imgclass.errors import ImgclassError
from imgclass.fileio import atomic_write
from imgclass.nn.layers import (
    BatchNorm1d, BatchNorm2d, Conv2d, Dropout, Flatten, Linear, MaxPool2d, Module, ReLU, Sequential,
)
from imgclass.nn.losses import hinge_loss, l2_regularization, softmax_loss
from imgclass.nn.parameter import ParamRef

LOSSES = ("softmax", "hinge")


class Classifier:
    """A network plus a loss: parameters, forward, backward, loss, predict, save/load.

    Parameters
    ----------
    net : Module
        Maps inputs to class scores (N, C).
    loss : {"softmax", "hinge"}
    reg : float
        L2 strength on weights (never on biases or batchnorm parameters).
    reg_convention : {"half", "full"}
        ``reg/2 * ||W||^2`` or ``reg * ||W||^2`` (see :func:`l2_regularization`).
    hinge_average : {"sum", "classes"}
    """

    def __init__(self, net: Module, loss: str = "softmax", reg: float = 0.0, reg_convention: str = "half",
                 hinge_average: str = "sum"):
        if loss not in LOSSES:
            raise ImgclassError(f"loss must be one of {', '.join(LOSSES)}, got {loss!r}")
        self.net, self.loss_name, self.reg = net, loss, reg
        self.reg_convention, self.hinge_average = reg_convention, hinge_average

    # --- the cs231n surface ---------------------------------------------------
    def forward(self, x: np.ndarray) -> np.ndarray:
        """Class scores (N, C) in the current mode."""
        return self.net.forward(x)

    def backward(self, dscores: np.ndarray) -> np.ndarray:
        return self.net.backward(dscores)

    def data_loss(self, scores: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        if self.loss_name == "softmax":
            return softmax_loss(scores, y)
        return hinge_loss(scores, y, average=self.hinge_average)

    def loss(self, x: np.ndarray, y: np.ndarray):
        """Forward, loss (data + L2), backward: fills every parameter's gradient; returns the loss."""
        scores = self.forward(x)
        loss, dscores = self.data_loss(scores, y)
        self.backward(dscores)
        decayed = [p for p in self.parameters() if p.decay]
        if self.reg and decayed:
            reg_loss, reg_grads = l2_regularization([p.value for p in decayed], self.reg, self.reg_convention)
            loss += reg_loss
            for p, g in zip(decayed, reg_grads):
                p.grads[p.key] = p.grads[p.key] + g
        return loss  # the dtype's scalar; extended-precision gradient checks rely on it

    def parameters(self) -> list[ParamRef]:
        return self.net.parameters()

    def train(self, mode: bool = True) -> "Classifier":
        self.net.train(mode)
        return self

    def eval(self) -> "Classifier":
        return self.train(False)

    def predict_scores(self, x: np.ndarray, batch_size: int = 1000) -> np.ndarray:
        """Scores in evaluation mode, in batches (no gradients kept)."""
        was = self.net.training
        self.net.train(False)
        try:
            return np.concatenate([self.net.forward(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])
        finally:
            self.net.train(was)

    def predict(self, x: np.ndarray, batch_size: int = 1000) -> np.ndarray:
        return np.argmax(self.predict_scores(x, batch_size), axis=1)

    def accuracy(self, x: np.ndarray, y: np.ndarray, batch_size: int = 1000) -> float:
        return float(np.mean(self.predict(x, batch_size) == y))

    def num_parameters(self) -> int:
        return int(sum(p.value.size for p in self.parameters()))

    # --- persistence ------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        state = {f"param/{p.name}": p.value for p in self.parameters()}
        state.update({f"buffer/{k}": v for k, v in self.net.named_buffers().items()})
        return state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Copy arrays into the existing parameters and buffers (shapes must match)."""
        targets = {f"param/{p.name}": p.value for p in self.parameters()}
        targets.update({f"buffer/{k}": v for k, v in self.net.named_buffers().items()})
        missing, unexpected = sorted(set(targets) - set(state)), sorted(set(state) - set(targets))
        if missing or unexpected:
            raise ImgclassError(f"saved parameters do not fit this model: missing {missing}, unexpected {unexpected}")
        for k, dst in targets.items():
            if state[k].shape != dst.shape:
                raise ImgclassError(f"{k}: saved shape {state[k].shape} differs from the model's {dst.shape}")
            dst[...] = state[k]

    def save(self, path: str | os.PathLike) -> Path:
        """Write parameters and buffers to an ``.npz`` file atomically."""
        buf = io.BytesIO()
        np.savez(buf, __meta__=json.dumps({"model": type(self).__name__}), **self.state_dict())
        with atomic_write(path) as f:
            f.write(buf.getvalue())
        return Path(path)

    def load(self, path: str | os.PathLike) -> "Classifier":
        try:
            with np.load(path, allow_pickle=False) as z:
                state = {k: z[k] for k in z.files if k != "__meta__"}
        except FileNotFoundError:
            raise ImgclassError(f"{path}: no such parameter file") from None
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
            raise ImgclassError(f"{path}: not a saved imgclass model ({e})") from e
        self.load_state_dict(state)
        return self

    def __repr__(self) -> str:
        return f"{type(self).__name__}(loss={self.loss_name}, reg={self.reg}, params={self.num_parameters()})\n{self.net!r}"


class LinearClassifier(Classifier):
    """Scores ``x @ W + b`` (``x @ W`` with ``bias=False``): the linear classifier as a one-layer network."""

    def __init__(self, d_in: int, num_classes: int, *, seed: int = 0, init: str | float = 1e-3,
                 bias: bool = True, dtype=np.float64, **kw):
        rng = np.random.default_rng(seed)
        super().__init__(Sequential(Linear(d_in, num_classes, rng=rng, init=init, bias=bias, dtype=dtype)), **kw)


class TwoLayerNet(Classifier):
    """affine - ReLU - affine, as in the cs231n assignments (weights normal with ``weight_scale``)."""

    def __init__(self, d_in: int, hidden: int, num_classes: int, *, seed: int = 0, weight_scale: str | float = 1e-3,
                 dtype=np.float64, **kw):
        rng = np.random.default_rng(seed)
        net = Sequential(Linear(d_in, hidden, rng=rng, init=weight_scale, dtype=dtype), ReLU(),
                         Linear(hidden, num_classes, rng=rng, init=weight_scale, dtype=dtype))
        super().__init__(net, **kw)


class MLP(Classifier):
    """Any depth: [affine - (batchnorm) - ReLU - (dropout)] x len(hidden), then affine.

    ``bias=False`` leaves every affine layer without a bias; with batchnorm the
    hidden affines never have one (batchnorm's shift takes its place).
    """

    def __init__(self, d_in: int, hidden: list[int] | tuple[int, ...], num_classes: int, *, batchnorm: bool = False,
                 dropout: float = 0.0, seed: int = 0, init: str | float = "he", bias: bool = True, dtype=np.float64,
                 **kw):
        rng = np.random.default_rng(seed)
        layers: list[Module] = []
        for i, h in enumerate(hidden):
            layers.append(Linear(d_in, h, rng=rng, init=init, bias=bias and not batchnorm, dtype=dtype))
            if batchnorm:
                layers.append(BatchNorm1d(h, dtype=dtype))
            layers.append(ReLU())
            if dropout:
                layers.append(Dropout(dropout, seed=seed + 1 + i))
            d_in = h
        layers.append(Linear(d_in, num_classes, rng=rng, init=init, bias=bias, dtype=dtype))
        super().__init__(Sequential(*layers), **kw)


class CNN(Classifier):
    """[conv KxK (pad K//2) - (batchnorm) - ReLU - maxpool 2] per entry of ``channels``, then
    flatten - (dropout) - [affine - ReLU - (dropout)] per entry of ``fc`` - affine.

    Parameters
    ----------
    in_shape : (C, H, W) of one input image
    channels : filters of each conv block, e.g. (32, 64)
    fc : widths of the hidden fully connected layers, e.g. (128,)
    bias : False leaves every conv and affine layer without a bias (convs
        before batchnorm never have one)
    """

    def __init__(self, in_shape: tuple[int, int, int], num_classes: int, *, channels=(32, 64), fc=(128,),
                 kernel: int = 3, batchnorm: bool = True, dropout: float = 0.0, seed: int = 0,
                 init: str | float = "he", bias: bool = True, dtype=np.float32, **kw):
        rng = np.random.default_rng(seed)
        c, h, w = in_shape
        layers: list[Module] = []
        for f in channels:
            layers.append(Conv2d(c, f, kernel, padding=kernel // 2, bias=bias and not batchnorm, rng=rng, init=init,
                                 dtype=dtype))
            if batchnorm:
                layers.append(BatchNorm2d(f, dtype=dtype))
            layers += [ReLU(), MaxPool2d(2)]
            c, h, w = f, h // 2, w // 2
        if h < 1 or w < 1:
            raise ImgclassError(f"{len(channels)} conv blocks halve {in_shape[1:]} to nothing; use fewer blocks")
        layers.append(Flatten())
        d = c * h * w
        for i, width in enumerate(fc):
            if dropout:
                layers.append(Dropout(dropout, seed=seed + 100 + i))
            layers += [Linear(d, width, rng=rng, init=init, bias=bias, dtype=dtype), ReLU()]
            d = width
        if dropout:
            layers.append(Dropout(dropout, seed=seed + 200))
        layers.append(Linear(d, num_classes, rng=rng, init=init, bias=bias, dtype=dtype))
        super().__init__(Sequential(*layers), **kw)
