"""Optimizers for the NumPy engine, written by hand in NumPy: SGD, RMSProp, Adam, AdamW.

Every optimizer has the same small surface (as in tinygrad's ``nn/optim.py``):
it is built over a list of :class:`~imgclass.nn.parameter.ParamRef`, ``zero_grad()``
clears their gradients, ``step()`` updates their values, and each algorithm
only supplies one private per-parameter update, ``_update``. Each update rule
is the one ``torch.optim`` defines for the same algorithm (tests check 20
steps against PyTorch to 1e-12 relative in float64).

Two choices differ from PyTorch on purpose:

* ``weight_decay`` applies only to parameters whose ``ParamRef.decay`` is True
  (weights), never to biases or batchnorm shifts/scales. ``torch.optim``
  decays every parameter of a group unless you give it two param groups,
  one with ``weight_decay=0``.
* All parameters share one ``lr`` attribute (PyTorch has one per param
  group); learning-rate schedules in :mod:`imgclass.nn.schedules` set it.

Updates are in place (``value -= ...``), so a layer's ``params`` dict keeps
pointing at the same array, and they keep the parameter's dtype: a float32
parameter, its gradient (cast to float32) and its buffers stay float32.

Hyperparameters are checked when the optimizer is built, as ``torch.optim``
does (an optimizer is not a scikit-learn estimator: it has no ``set_params``).
"""

from __future__ import annotations

import math

import numpy as np

from imgclass.errors import ImgclassError
from imgclass.nn.parameter import ParamRef


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ImgclassError(message)


def _as_float(cls: str, name: str, value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ImgclassError(f"{cls}: {name} must be a number, got {value!r}") from None


class Optimizer:
    """Base class: holds the parameters, the learning rate and per-parameter buffers.

    Parameters
    ----------
    params : list of ParamRef
        The parameters to update, e.g. everything a model's ``parameters()``
        returns. Their ``value`` arrays are updated in place.
    lr : float
        Learning rate, > 0. Kept as the public attribute ``lr``, which a
        schedule may change between steps.

    Attributes
    ----------
    params : list of ParamRef
    lr : float
    steps : int
        Number of ``step()`` calls so far (Adam's bias correction uses it).
    state : list of dict of str -> ndarray
        Per-parameter buffers (same order as ``params``), each the shape and
        dtype of its parameter, e.g. ``{"momentum_buffer": ...}``.
    """

    #: names of the per-parameter buffers, created as zeros like each parameter
    _buffers: tuple[str, ...] = ()

    def __init__(self, params: list[ParamRef], lr: float):
        cls = type(self).__name__
        params = list(params)
        _check(len(params) > 0, f"{cls}: got an empty parameter list; pass the model's parameters")
        for p in params:
            _check(isinstance(p, ParamRef), f"{cls}: parameters must be ParamRef, got {type(p).__name__}")
        lr = _as_float(cls, "lr", lr)
        _check(lr > 0 and math.isfinite(lr), f"{cls}: lr must be a finite number > 0, got {lr}; pass e.g. lr=1e-3")
        self.params = params
        self.lr = lr
        self.steps = 0
        self.state = [{name: np.zeros_like(p.value) for name in self._buffers} for p in params]

    def zero_grad(self) -> None:
        """Set every parameter's gradient to zeros (new arrays, same shape and dtype)."""
        for p in self.params:
            p.zero_grad()

    def step(self) -> None:
        """Update every parameter in place from its current gradient."""
        self.steps += 1
        lr = float(self.lr)
        for p, state in zip(self.params, self.state):
            value = p.value
            grad = np.asarray(p.grad, dtype=value.dtype)
            if grad.shape != value.shape:
                raise ImgclassError(
                    f"{type(self).__name__}: gradient of {p.name or p.key!r} has shape {grad.shape}, "
                    f"parameter has {value.shape}; run the backward pass before step()"
                )
            self._update(value, grad, state, p.decay, lr)

    def _update(self, value: np.ndarray, grad: np.ndarray, state: dict, decay: bool, lr: float) -> None:
        """Update one parameter ``value`` in place (each algorithm defines this)."""
        raise NotImplementedError

    def state_dict(self) -> dict:
        """Everything needed to resume: plain ints, floats, str and copied numpy arrays.

        Returns
        -------
        dict
            ``{"optimizer": class name, "lr": float, "steps": int,
            "state": [{buffer name: ndarray}, ...]}`` with one buffer dict per
            parameter, in ``params`` order.
        """
        return {
            "optimizer": type(self).__name__,
            "lr": float(self.lr),
            "steps": int(self.steps),
            "state": [{k: v.copy() for k, v in s.items()} for s in self.state],
        }

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore ``lr``, the step count and (copies of) the buffers from :meth:`state_dict`.

        Other hyperparameters (momentum, betas, ...) come from the constructor.
        """
        cls = type(self).__name__
        try:
            name, lr, steps, state = (state_dict[k] for k in ("optimizer", "lr", "steps", "state"))
        except (KeyError, TypeError):
            raise ImgclassError(f"{cls}: not an optimizer state_dict (needs optimizer, lr, steps, state)") from None
        _check(name == cls, f"{cls}: state_dict was saved by {name}; build a {name} to load it")
        _check(len(state) == len(self.params),
               f"{cls}: state_dict has {len(state)} parameters, this optimizer {len(self.params)}; "
               "build the optimizer over the same model")
        new_state = []
        for p, saved, mine in zip(self.params, state, self.state):
            _check(set(saved) == set(mine), f"{cls}: buffers {sorted(saved)} do not match {sorted(mine)}")
            for k, v in saved.items():
                v = np.asarray(v)
                _check(v.shape == p.value.shape,
                       f"{cls}: buffer {k!r} of {p.name or p.key!r} has shape {v.shape}, parameter {p.value.shape}")
            new_state.append({k: np.array(v, dtype=p.value.dtype) for k, v in saved.items()})
        self.lr = float(lr)
        self.steps = int(steps)
        self.state = new_state


class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum, by hand in NumPy.

    The rule of ``torch.optim.SGD`` (dampening 0)::

        g = grad + weight_decay * value        # only if decay
        buf = momentum * buf + g               # if momentum > 0
        g = g + momentum * buf if nesterov else buf
        value -= lr * g

    Parameters
    ----------
    params : list of ParamRef
    lr : float
        > 0.
    momentum : float, default 0.0
        >= 0.
    nesterov : bool, default False
        Needs ``momentum > 0``.
    weight_decay : float, default 0.0
        L2 penalty coefficient added to the gradient, >= 0; only parameters
        with ``decay=True`` (torch decays all of them by default).
    """

    def __init__(self, params, lr: float, momentum: float = 0.0, nesterov: bool = False, weight_decay: float = 0.0):
        momentum = _as_float("SGD", "momentum", momentum)
        weight_decay = _as_float("SGD", "weight_decay", weight_decay)
        _check(momentum >= 0, f"SGD: momentum must be >= 0, got {momentum}; use e.g. 0.9, or 0 for none")
        _check(not nesterov or momentum > 0, "SGD: nesterov=True needs momentum > 0; set momentum (e.g. 0.9)")
        _check(weight_decay >= 0, f"SGD: weight_decay must be >= 0, got {weight_decay}")
        self._buffers = ("momentum_buffer",) if momentum > 0 else ()
        super().__init__(params, lr)
        self.momentum, self.nesterov, self.weight_decay = momentum, bool(nesterov), weight_decay

    def _update(self, value, grad, state, decay, lr):
        if decay and self.weight_decay:
            grad = grad + self.weight_decay * value
        if self.momentum:
            buf = state["momentum_buffer"]
            buf *= self.momentum
            buf += grad
            grad = grad + self.momentum * buf if self.nesterov else buf
        value -= lr * grad


class RMSProp(Optimizer):
    """RMSProp (uncentered, no momentum), by hand in NumPy.

    The rule of ``torch.optim.RMSprop``::

        g = grad + weight_decay * value        # only if decay
        square_avg = alpha * square_avg + (1 - alpha) * g * g
        value -= lr * g / (sqrt(square_avg) + eps)

    Parameters
    ----------
    params : list of ParamRef
    lr : float, default 1e-2
    alpha : float, default 0.99
        Decay of the squared-gradient average, in [0, 1).
    eps : float, default 1e-8
        Added to the root mean square, >= 0.
    weight_decay : float, default 0.0
        L2 penalty, only for parameters with ``decay=True``.
    """

    _buffers = ("square_avg",)

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8, weight_decay: float = 0.0):
        alpha = _as_float("RMSProp", "alpha", alpha)
        eps = _as_float("RMSProp", "eps", eps)
        weight_decay = _as_float("RMSProp", "weight_decay", weight_decay)
        _check(0 <= alpha < 1, f"RMSProp: alpha must be in [0, 1), got {alpha}; use e.g. 0.99")
        _check(eps >= 0, f"RMSProp: eps must be >= 0, got {eps}; use e.g. 1e-8")
        _check(weight_decay >= 0, f"RMSProp: weight_decay must be >= 0, got {weight_decay}")
        super().__init__(params, lr)
        self.alpha, self.eps, self.weight_decay = alpha, eps, weight_decay

    def _update(self, value, grad, state, decay, lr):
        if decay and self.weight_decay:
            grad = grad + self.weight_decay * value
        sq = state["square_avg"]
        sq *= self.alpha
        sq += (1 - self.alpha) * grad * grad
        value -= lr * grad / (np.sqrt(sq) + self.eps)


class Adam(Optimizer):
    """Adam with L2 weight decay added to the gradient, by hand in NumPy.

    The rule of ``torch.optim.Adam`` (amsgrad off), at step ``t`` (from 1)::

        g = grad + weight_decay * value        # only if decay (Adam, not AdamW)
        m = m + (1 - beta1) * (g - m)
        v = beta2 * v + (1 - beta2) * g * g
        value -= lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)

    Parameters
    ----------
    params : list of ParamRef
    lr : float, default 1e-3
    betas : (float, float), default (0.9, 0.999)
        Decays of the first and second moment averages, each in [0, 1).
    eps : float, default 1e-8
        >= 0.
    weight_decay : float, default 0.0
        >= 0; only parameters with ``decay=True``.
    """

    _buffers = ("exp_avg", "exp_avg_sq")
    _decoupled = False  # AdamW: decay the weights directly instead of through the gradient

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0):
        cls = type(self).__name__
        try:
            beta1, beta2 = (float(b) for b in betas)
        except (TypeError, ValueError):
            raise ImgclassError(f"{cls}: betas must be two numbers, got {betas!r}; use e.g. (0.9, 0.999)") from None
        eps = _as_float(cls, "eps", eps)
        weight_decay = _as_float(cls, "weight_decay", weight_decay)
        for i, b in enumerate((beta1, beta2)):
            _check(0 <= b < 1, f"{cls}: betas[{i}] must be in [0, 1), got {b}; use e.g. betas=(0.9, 0.999)")
        _check(eps >= 0, f"{cls}: eps must be >= 0, got {eps}; use e.g. 1e-8")
        _check(weight_decay >= 0, f"{cls}: weight_decay must be >= 0, got {weight_decay}")
        super().__init__(params, lr)
        self.betas, self.eps, self.weight_decay = (beta1, beta2), eps, weight_decay

    def _update(self, value, grad, state, decay, lr):
        beta1, beta2 = self.betas
        if decay and self.weight_decay:
            if self._decoupled:
                value *= 1 - lr * self.weight_decay
            else:
                grad = grad + self.weight_decay * value
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m += (1 - beta1) * (grad - m)
        v *= beta2
        v += (1 - beta2) * grad * grad
        step_size = lr / (1 - beta1**self.steps)
        denom = np.sqrt(v) / math.sqrt(1 - beta2**self.steps) + self.eps
        value -= step_size * m / denom


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter), by hand in NumPy.

    The rule of ``torch.optim.AdamW``: first ``value *= 1 - lr * weight_decay``
    (only parameters with ``decay=True``), then the Adam step on the raw
    gradient. Parameters as :class:`Adam`, but ``weight_decay`` defaults to
    ``1e-2``.
    """

    _decoupled = True

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
