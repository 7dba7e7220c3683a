"""The engines behind the one Trainer: the protocol they follow, the NumPy engine, and building either.

An engine owns a model, its optimizer and its learning-rate schedule, and the training data
once bound. The Trainer, the run directory and evaluation only use the :class:`Engine`
protocol, so everything downstream is the same for both engines. The PyTorch engine is in
:mod:`imgclass.train.torch_engine`; :func:`build_engine` imports it (and with it PyTorch) only
when a torch engine is asked for.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from imgclass.modelspec import build_numpy
from imgclass.nn import optim, schedules
from imgclass.nn.augment import Augment
from imgclass.train.config import schedule_steps


@runtime_checkable
class Engine(Protocol):
    """What the Trainer and the run directory need from an engine.

    ``x`` arrays are preprocessed inputs (N, ...), ``y`` integer labels (N,), ``idx`` sample indices.
    """

    name: str  # "numpy" or "torch"
    device: str  # where it computes, e.g. "cpu", "cuda:0"
    weights_file: str  # the run directory file of its final weights: model.npz or model.pt

    def bind(self, x_train: np.ndarray, y_train: np.ndarray) -> None: ...
    def train_step(self, idx: np.ndarray) -> tuple[float, int]: ...  # (loss, correct) of one minibatch
    def evaluate(self, x: np.ndarray, y: np.ndarray) -> tuple[float, float]: ...  # (loss, accuracy)
    def scores(self, x: np.ndarray) -> np.ndarray: ...  # evaluation-mode class scores (N, K)
    def loss_of(self, scores: np.ndarray, y: np.ndarray) -> float: ...  # data loss of given scores

    @property
    def lr(self) -> float: ...

    def num_parameters(self) -> int: ...
    def model_state(self) -> dict: ...  # the evaluated weights (early stopping)
    def load_model_state(self, state: dict) -> None: ...
    def state_dict(self) -> dict: ...  # model + optimizer + schedule + RNGs (resume)
    def load_state_dict(self, state: dict) -> None: ...
    def save_weights(self, path: str | Path) -> Path: ...  # the final weights, atomically
    def load_weights(self, path: str | Path) -> None: ...


def build_engine(cfg, in_shape: tuple[int, ...], num_classes: int, total_steps: int) -> Engine:
    """The engine ``cfg.engine`` with a freshly initialized ``cfg.model`` (seeded by ``cfg.seed``)."""
    if cfg.engine == "numpy":
        model = build_numpy(cfg.model, in_shape, num_classes, loss=cfg.loss, seed=cfg.seed, dtype=np.dtype(cfg.dtype))
        return NumpyEngine(model, cfg, total_steps)
    from imgclass.train.torch_engine import TorchEngine # PyTorch loads here, when a torch engine is built

    return TorchEngine.build(cfg, in_shape, num_classes, total_steps)


def cuda_available() -> bool:
    """Whether a CUDA device is here (imports PyTorch)."""
    import torch

    return torch.cuda.is_available()


def _numpy_layers(module):
    yield module
    for child in getattr(module, "layers", ()):
        yield from _numpy_layers(child)


class NumpyEngine:
    """A :class:`~imgclass.nn.models.Classifier` trained by the hand-written optimizers in :mod:`imgclass.nn.optim`.

    Weight decay is the optimizer's L2 term on weights only (``ParamRef.decay``);
    the classifier's own ``reg`` is left at 0 so the two are not applied twice.
    """

    name = "numpy"
    device = "cpu"
    weights_file = "model.npz"

    def __init__(self, model, cfg, total_steps: int):
        self.model, self.cfg = model, cfg
        self.dtype = np.dtype(cfg.dtype)
        params = model.parameters()
        if cfg.optimizer in ("sgd", "nesterov"):
            self.optimizer = optim.SGD(params, cfg.lr, momentum=cfg.momentum, nesterov=cfg.optimizer == "nesterov",
                                       weight_decay=cfg.weight_decay)
        elif cfg.optimizer == "adam":
            self.optimizer = optim.Adam(params, cfg.lr, weight_decay=cfg.weight_decay)
        else:
            self.optimizer = optim.AdamW(params, cfg.lr, weight_decay=cfg.weight_decay)
        self.schedule = {
            "constant": lambda: None,
            "step": lambda: schedules.StepLR(self.optimizer, schedule_steps(total_steps), 0.1),
            "cosine": lambda: schedules.CosineLR(self.optimizer, total_steps),
            "onecycle": lambda: schedules.OneCycleLR(self.optimizer, cfg.lr, total_steps, pct_start=0.25),
        }[cfg.schedule]()
        self.augment = Augment(crop_padding=cfg.crop_padding, flip=cfg.flip, seed=cfg.seed)
        self.x = self.y = None

    def bind(self, x_train: np.ndarray, y_train: np.ndarray) -> None:
        self.x, self.y = x_train.astype(self.dtype, copy=False), y_train

    @property
    def lr(self) -> float:
        return float(self.optimizer.lr)

    def train_step(self, idx: np.ndarray) -> tuple[float, int]:
        xb, yb = self.x[idx], self.y[idx]
        if self.augment.active and xb.ndim == 4:
            xb = self.augment(xb)
        self.model.train()
        with np.errstate(over="ignore", invalid="ignore"):  # a diverging loss is reported just below
            scores = self.model.forward(xb)  # (B, K)
            loss, dscores = self.model.data_loss(scores, yb)
        if not np.isfinite(loss):
            return float(loss), 0
        self.model.backward(dscores)
        if self.cfg.clip_grad:
            params = self.model.parameters()
            norm = math.sqrt(sum(float(np.sum(p.grad.astype(np.float64) ** 2)) for p in params))
            if norm > self.cfg.clip_grad:
                for p in params:
                    p.grads[p.key] = p.grad * (self.cfg.clip_grad / (norm + 1e-12))
        self.optimizer.step()
        if self.schedule is not None:
            self.schedule.step()
        return float(loss), int(np.sum(np.argmax(scores, axis=1) == yb))

    def scores(self, x: np.ndarray, batch_size: int = 1000) -> np.ndarray:
        """Evaluation-mode scores; with ``tta_flip`` the mean of each image's and its mirror image's."""
        x = x.astype(self.dtype, copy=False)
        s = self.model.predict_scores(x, batch_size)
        if self.cfg.tta_flip and x.ndim == 4:
            s = (s + self.model.predict_scores(np.ascontiguousarray(x[..., ::-1]), batch_size)) / 2
        return s

    def loss_of(self, scores: np.ndarray, y: np.ndarray) -> float:
        """The data loss (no regularization) of given scores."""
        return float(self.model.data_loss(scores, y)[0])

    def evaluate(self, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        s = self.scores(x)
        return self.loss_of(s, y), float(np.mean(np.argmax(s, axis=1) == y))

    def num_parameters(self) -> int:
        return self.model.num_parameters()

    def save_weights(self, path: str | Path) -> Path:
        return self.model.save(path)

    def load_weights(self, path: str | Path) -> None:
        self.model.load(path)

    def model_state(self) -> dict:
        return {k: v.copy() for k, v in self.model.state_dict().items()}

    def load_model_state(self, state: dict) -> None:
        self.model.load_state_dict(state)

    def state_dict(self) -> dict:
        rngs = [layer.rng.bit_generator.state for layer in _numpy_layers(self.model.net) if hasattr(layer, "rng")]
        return {"model": self.model_state(), "optimizer": self.optimizer.state_dict(),
                "schedule": None if self.schedule is None else self.schedule.state_dict(), "layer_rngs": rngs,
                "augment": self.augment.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.load_model_state(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.schedule is not None:
            self.schedule.load_state_dict(state["schedule"])
        layers = [layer for layer in _numpy_layers(self.model.net) if hasattr(layer, "rng")]
        for layer, s in zip(layers, state["layer_rngs"]):
            layer.rng.bit_generator.state = s
        if "augment" in state:  # checkpoints of older runs had no augmentation state
            self.augment.load_state_dict(state["augment"])
