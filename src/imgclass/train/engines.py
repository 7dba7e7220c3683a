"""The two engines behind one Trainer: the NumPy engine and the PyTorch engine.

An engine owns a model, its optimizer and its learning-rate schedule, and
the training data once bound. The Trainer only calls this surface::

    bind(x_train, y_train)             # arrays (N, ...) preprocessed, labels (N,)
    train_step(idx) -> (loss, correct) # one minibatch given by sample indices
    evaluate(x, y) -> (loss, accuracy) # evaluation mode, no updates
    scores(x) -> ndarray (N, K)        # evaluation-mode class scores
    lr                                 # current learning rate
    model_state() / load_model_state() # weights only (early stopping)
    state_dict() / load_state_dict()   # model + optimizer + schedule + RNGs (resume)

so everything downstream (history, checkpoints, early stopping, runs,
evaluation) is the same for both engines.
"""

from __future__ import annotations

import copy
import math

import numpy as np

from imgclass.errors import ImgclassError


def schedule_steps(total_steps: int) -> int:
    """StepLR's step size: the learning rate drops 10x after each third of the run."""
    return max(1, math.ceil(total_steps / 3))


# ------------------------------------------------------------------------------ NumPy


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

    def __init__(self, model, cfg, total_steps: int):
        from imgclass.nn import optim, schedules

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
        self.x = self.y = None

    def bind(self, x_train: np.ndarray, y_train: np.ndarray) -> None:
        self.x, self.y = x_train.astype(self.dtype, copy=False), y_train

    @property
    def lr(self) -> float:
        return float(self.optimizer.lr)

    def train_step(self, idx: np.ndarray) -> tuple[float, int]:
        xb, yb = self.x[idx], self.y[idx]
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
        return self.model.predict_scores(x.astype(self.dtype, copy=False), batch_size)

    def loss_of(self, scores: np.ndarray, y: np.ndarray) -> float:
        """The data loss (no regularization) of given scores."""
        return float(self.model.data_loss(scores, y)[0])

    def evaluate(self, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        s = self.scores(x)
        return self.loss_of(s, y), float(np.mean(np.argmax(s, axis=1) == y))

    def model_state(self) -> dict:
        return {k: v.copy() for k, v in self.model.state_dict().items()}

    def load_model_state(self, state: dict) -> None:
        self.model.load_state_dict(state)

    def state_dict(self) -> dict:
        rngs = [layer.rng.bit_generator.state for layer in _numpy_layers(self.model.net) if hasattr(layer, "rng")]
        return {"model": self.model_state(), "optimizer": self.optimizer.state_dict(),
                "schedule": None if self.schedule is None else self.schedule.state_dict(), "layer_rngs": rngs}

    def load_state_dict(self, state: dict) -> None:
        self.load_model_state(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.schedule is not None:
            self.schedule.load_state_dict(state["schedule"])
        layers = [layer for layer in _numpy_layers(self.model.net) if hasattr(layer, "rng")]
        for layer, s in zip(layers, state["layer_rngs"]):
            layer.rng.bit_generator.state = s


# ------------------------------------------------------------------------------ PyTorch


class TorchEngine:
    """A ``torch.nn.Module`` trained with ``torch.optim``; CUDA, mixed precision and channels_last when they help.

    The training set is moved to the device once as one tensor; minibatches
    are index lookups on it, and augmentation runs on whole batches there.
    """

    name = "torch"

    def __init__(self, module, cfg, total_steps: int):
        import torch

        from imgclass.deep import augment, device as devices, losses

        self.cfg = cfg
        self.device = devices.resolve_device(cfg.device)
        # No in_shape: "automatic" is then a fixed rule (on for CUDA, off on the CPU), never a timing, so a
        # seed and a config decide the numbers bit for bit; recipes turn it on where benchmarks found it faster.
        self.module = devices.prepare_model(module, self.device, channels_last=cfg.channels_last)
        self.channels_last = devices.is_channels_last(self.module)
        if self.device.type == "cuda":
            self.amp = devices.amp_dtype(self.device) if cfg.amp in (None, True) else None
        else:  # CPU: bfloat16 autocast only when asked for (about 2x faster for small CNNs on AVX512-BF16 CPUs)
            self.amp = torch.bfloat16 if cfg.amp else None
        self.scaler = torch.amp.GradScaler("cuda") if self.amp == torch.float16 else None
        self.loss_fn = losses.loss_function(cfg.loss, label_smoothing=cfg.label_smoothing)
        decay, no_decay = losses.decayed_parameters(self.module)  # conv/affine weights; not biases or batchnorm
        groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
        if cfg.optimizer in ("sgd", "nesterov"):
            self.optimizer = torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum,
                                             nesterov=cfg.optimizer == "nesterov")
        elif cfg.optimizer == "adam":
            self.optimizer = torch.optim.Adam(groups, lr=cfg.lr)
        else:
            self.optimizer = torch.optim.AdamW(groups, lr=cfg.lr)
        sched = torch.optim.lr_scheduler
        self.schedule = {
            "constant": lambda: None,
            "step": lambda: sched.StepLR(self.optimizer, schedule_steps(total_steps), 0.1),
            "cosine": lambda: sched.CosineAnnealingLR(self.optimizer, total_steps),
            "onecycle": lambda: sched.OneCycleLR(self.optimizer, cfg.lr, total_steps=total_steps, pct_start=0.25,
                                                 cycle_momentum=False),
        }[cfg.schedule]()
        # EMA: an exponential moving average of the weights, used for every evaluation and saved as the model
        self.ema = copy.deepcopy(self.module).requires_grad_(False) if cfg.ema else None
        self.ema_steps = 0
        self.augment = augment.Augment(crop_padding=cfg.crop_padding, flip=cfg.flip, jitter=cfg.jitter,
                                       seed=cfg.seed)
        self.x = self.y = None

    def _tensor(self, x: np.ndarray):
        import torch

        t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(self.device)
        if self.channels_last and t.ndim == 4:
            t = t.contiguous(memory_format=torch.channels_last)
        return t

    def bind(self, x_train: np.ndarray, y_train: np.ndarray) -> None:
        import torch

        self.x = self._tensor(x_train)
        self.y = torch.from_numpy(np.asarray(y_train, dtype=np.int64)).to(self.device)

    @property
    def lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def _autocast(self):
        import contextlib

        import torch

        if self.amp is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp)

    def train_step(self, idx: np.ndarray) -> tuple[float, int]:
        import torch

        index = torch.from_numpy(idx).to(self.device)
        xb, yb = self.x[index], self.y[index]
        if self.x.ndim == 4:
            xb = self.augment(xb)
        self.module.train()
        with self._autocast():
            logits = self.module(xb)  # (B, K)
            loss = self.loss_fn(logits.float(), yb)
        loss_value = float(loss.detach())
        if not math.isfinite(loss_value):
            return loss_value, 0
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(self.optimizer)
        else:
            loss.backward()
        if self.cfg.clip_grad:
            torch.nn.utils.clip_grad_norm_(self.module.parameters(), self.cfg.clip_grad)
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        if self.schedule is not None:
            self.schedule.step()
        if self.ema is not None:
            self._update_ema()
        correct = int((logits.argmax(1) == yb).sum())
        return loss_value, correct

    def _update_ema(self) -> None:
        """ema = d·ema + (1 − d)·weights, with d warming up as (1 + t)/(10 + t) to ``cfg.ema``; buffers copied."""
        import torch

        d = min(self.cfg.ema, (1 + self.ema_steps) / (10 + self.ema_steps))
        self.ema_steps += 1
        with torch.no_grad():
            torch._foreach_lerp_(list(self.ema.parameters()), list(self.module.parameters()), 1.0 - d)
            for e, b in zip(self.ema.buffers(), self.module.buffers()):
                e.copy_(b)

    @property
    def eval_module(self):
        """The network that is evaluated and saved: the EMA of the weights when ``cfg.ema`` is set."""
        return self.ema if self.ema is not None else self.module

    def scores(self, x: np.ndarray, batch_size: int = 128) -> np.ndarray:
        """Evaluation-mode logits. Batches of ~128 keep conv activations in cache: on 2 CPU cores a
        small CNN scores 5,000 28x28 images in 0.4 s this way and in 1.2 s in batches of 1,000."""
        import torch

        net = self.eval_module.eval()
        out = []
        with torch.inference_mode(), self._autocast():
            for i in range(0, len(x), batch_size):
                xb = self._tensor(x[i:i + batch_size])
                logits = net(xb).float()
                if self.cfg.tta_flip and xb.ndim == 4:
                    logits = (logits + net(torch.flip(xb, dims=[3])).float()) / 2
                out.append(logits.cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, 0), np.float32)

    def loss_of(self, scores: np.ndarray, y: np.ndarray) -> float:
        """The training loss (label smoothing included) of given scores, without weight decay."""
        import torch

        with torch.no_grad():
            return float(self.loss_fn(torch.from_numpy(scores), torch.from_numpy(np.asarray(y, dtype=np.int64))))

    def evaluate(self, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        s = self.scores(x)
        return self.loss_of(s, y), float(np.mean(np.argmax(s, axis=1) == y))

    def model_state(self) -> dict:
        """The evaluated weights (the EMA ones when ``cfg.ema`` is set), on the CPU."""
        return {k: v.detach().cpu().clone() for k, v in self.eval_module.state_dict().items()}

    def load_model_state(self, state: dict) -> None:
        self.module.load_state_dict(state)
        if self.ema is not None:
            self.ema.load_state_dict(state)

    def state_dict(self) -> dict:
        raw = {k: v.detach().cpu().clone() for k, v in self.module.state_dict().items()}
        return {"model": raw, "optimizer": self.optimizer.state_dict(),
                "ema": None if self.ema is None else {"model": self.model_state(), "steps": self.ema_steps},
                "schedule": None if self.schedule is None else self.schedule.state_dict(),
                "scaler": None if self.scaler is None else self.scaler.state_dict(),
                "augment": self.augment.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.load_model_state(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.schedule is not None:
            self.schedule.load_state_dict(state["schedule"])
        if self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.augment.load_state_dict(state["augment"])
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"]["model"])
            self.ema_steps = int(state["ema"]["steps"])
