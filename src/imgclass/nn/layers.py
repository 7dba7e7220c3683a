"""Thin layer classes over :mod:`imgclass.nn.functional`.

Each layer keeps ``params`` and ``grads`` dicts with the same keys (and
``buffers`` for state that is not trained, such as batchnorm's running
statistics). ``forward`` stores the op's cache; ``backward`` turns the
upstream gradient into the input gradient and fills ``grads``. Train/eval
mode is the explicit ``training`` flag, set by :meth:`Module.train`.
"""

from __future__ import annotations

import numpy as np

from imgclass.errors import ImgclassError
from imgclass.nn import conv as C
from imgclass.nn import pool as P
from imgclass.nn import functional as F
from imgclass.nn import init as I
from imgclass.nn.parameter import ParamRef


def _pair(v) -> tuple[int, int]:
    return (v, v) if isinstance(v, (int, np.integer)) else tuple(v)


def init_weight(shape: tuple, method: str | float, rng: np.random.Generator, dtype) -> np.ndarray:
    """Initial weights: ``"he"`` (Kaiming normal), ``"xavier"`` (Glorot uniform) or a float std (normal)."""
    if isinstance(method, (int, float)) and not isinstance(method, bool):
        return I.normal(shape, float(method), rng, dtype=dtype)
    if method == "he":
        return I.kaiming_normal(shape, rng, dtype=dtype)
    if method == "xavier":
        return I.xavier_uniform(shape, rng, dtype=dtype)
    raise ImgclassError(f"unknown init {method!r}: use 'he', 'xavier' or a standard deviation")


class Module:
    """Base layer: parameters, gradients, buffers, a training flag."""

    decay_keys: tuple[str, ...] = ()  # parameters that L2 regularization applies to

    def __init__(self):
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.buffers: dict[str, np.ndarray] = {}
        self.training = True
        self.cache = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def backward(self, dout: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.forward(x)

    def parameters(self, prefix: str = "") -> list[ParamRef]:
        return [ParamRef(self.params, self.grads, k, prefix + k, k in self.decay_keys) for k in self.params]

    def named_buffers(self, prefix: str = "") -> dict[str, np.ndarray]:
        return {prefix + k: v for k, v in self.buffers.items()}

    def train(self, mode: bool = True) -> "Module":
        self.training = mode
        return self

    def eval(self) -> "Module":
        return self.train(False)

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"


class Linear(Module):
    """Fully connected: (N, D_in) -> (N, D_out); weight ``w`` is (D_in, D_out)."""

    decay_keys = ("w",)

    def __init__(self, d_in: int, d_out: int, *, rng: np.random.Generator, init: str | float = "he",
                 bias: bool = True, dtype=np.float64):
        super().__init__()
        self.d_in, self.d_out = d_in, d_out
        self.params["w"] = init_weight((d_in, d_out), init, rng, dtype)
        self.bias = bias
        if bias:  # no bias parameter at all otherwise (e.g. before batchnorm, where it has no effect)
            self.params["b"] = np.zeros(d_out, dtype)

    def forward(self, x):
        w = self.params["w"]
        out, self.cache = F.affine_forward(x, w, self.params["b"] if self.bias else np.zeros(w.shape[1], w.dtype))
        return out

    def backward(self, dout):
        dx, self.grads["w"], db = F.affine_backward(dout, self.cache)
        if self.bias:
            self.grads["b"] = db
        return dx

    def extra_repr(self):
        return f"{self.d_in}, {self.d_out}"


class Conv2d(Module):
    """2-D convolution (N, C_in, H, W) -> (N, C_out, H', W'); weight ``w`` is (C_out, C_in, KH, KW).

    ``input_grad = False`` (an attribute, default True) makes ``backward`` skip the input
    gradient and return None: for a network's first layer, whose input gradient nobody uses,
    that is about half of its backward pass on RGB images.
    """

    decay_keys = ("w",)

    def __init__(self, c_in: int, c_out: int, kernel=3, *, stride=1, padding=0, dilation=1, bias: bool = True,
                 rng: np.random.Generator, init: str | float = "he", dtype=np.float64):
        super().__init__()
        kh, kw = _pair(kernel)
        self.c_in, self.c_out, self.kernel = c_in, c_out, (kh, kw)
        self.stride, self.padding, self.dilation, self.bias = stride, padding, dilation, bias
        self.params["w"] = init_weight((c_out, c_in, kh, kw), init, rng, dtype)
        if bias:
            self.params["b"] = np.zeros(c_out, dtype)
        self.input_grad = True

    def forward(self, x):
        w = self.params["w"]
        b = self.params["b"] if self.bias else np.zeros(w.shape[0], w.dtype)
        out, self.cache = C.conv_forward(x, w, b, self.stride, self.padding, self.dilation)
        return out

    def backward(self, dout):
        dx, self.grads["w"], db = C.conv_backward(dout, self.cache, input_grad=self.input_grad)
        if self.bias:
            self.grads["b"] = db
        return dx

    def extra_repr(self):
        return (f"{self.c_in}, {self.c_out}, kernel={self.kernel}, stride={self.stride}, "
                f"padding={self.padding}, dilation={self.dilation}")


class ReLU(Module):
    def forward(self, x):
        out, self.cache = F.relu_forward(x)
        return out

    def backward(self, dout):
        return F.relu_backward(dout, self.cache)


class Flatten(Module):
    def forward(self, x):
        out, self.cache = F.flatten_forward(x)
        return out

    def backward(self, dout):
        return F.flatten_backward(dout, self.cache)


class MaxPool2d(Module):
    def __init__(self, kernel=2, stride=None):
        super().__init__()
        self.kernel, self.stride = kernel, stride

    def forward(self, x):
        out, self.cache = P.max_pool_forward(x, self.kernel, self.stride)
        return out

    def backward(self, dout):
        return P.max_pool_backward(dout, self.cache)

    def extra_repr(self):
        return f"kernel={self.kernel}, stride={self.stride or self.kernel}"


class AvgPool2d(MaxPool2d):
    def forward(self, x):
        out, self.cache = P.avg_pool_forward(x, self.kernel, self.stride)
        return out

    def backward(self, dout):
        return P.avg_pool_backward(dout, self.cache)


class BatchNorm(Module):
    """Batch normalization over features (N, D) or, with ``spatial``, channels of (N, C, H, W)."""

    def __init__(self, num_features: int, *, spatial: bool = False, momentum: float = 0.1, eps: float = 1e-5,
                 dtype=np.float64):
        super().__init__()
        self.num_features, self.spatial, self.momentum, self.eps = num_features, spatial, momentum, eps
        self.params["gamma"] = np.ones(num_features, dtype)
        self.params["beta"] = np.zeros(num_features, dtype)
        self.buffers["running_mean"] = np.zeros(num_features, dtype)
        self.buffers["running_var"] = np.ones(num_features, dtype)

    def forward(self, x):
        fwd = F.spatial_batchnorm_forward if self.spatial else F.batchnorm_forward
        out, self.cache = fwd(x, self.params["gamma"], self.params["beta"], self.buffers["running_mean"],
                              self.buffers["running_var"], self.training, self.momentum, self.eps)
        return out

    def backward(self, dout):
        bwd = F.spatial_batchnorm_backward if self.spatial else F.batchnorm_backward
        dx, self.grads["gamma"], self.grads["beta"] = bwd(dout, self.cache)
        return dx

    def extra_repr(self):
        return f"{self.num_features}, spatial={self.spatial}, momentum={self.momentum}"


def BatchNorm1d(d: int, **kw) -> BatchNorm:
    return BatchNorm(d, spatial=False, **kw)


def BatchNorm2d(c: int, **kw) -> BatchNorm:
    return BatchNorm(c, spatial=True, **kw)


class Dropout(Module):
    """Inverted dropout with drop probability ``p``; its own seeded generator."""

    def __init__(self, p: float = 0.5, *, seed: int = 0):
        super().__init__()
        self.p = p
        self.rng = np.random.default_rng(seed)

    def forward(self, x):
        out, self.cache = F.dropout_forward(x, self.p, self.training, self.rng)
        return out

    def backward(self, dout):
        return F.dropout_backward(dout, self.cache)

    def extra_repr(self):
        return f"p={self.p}"


class Sequential(Module):
    """Layers applied in order; backward runs them in reverse."""

    def __init__(self, *layers: Module):
        super().__init__()
        self.layers = list(layers)

    def forward(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, dout):
        for layer in reversed(self.layers):
            dout = layer.backward(dout)
        return dout

    def parameters(self, prefix: str = "") -> list[ParamRef]:
        return [p for i, layer in enumerate(self.layers) for p in layer.parameters(f"{prefix}{i}.")]

    def named_buffers(self, prefix: str = "") -> dict[str, np.ndarray]:
        return {k: v for i, layer in enumerate(self.layers) for k, v in layer.named_buffers(f"{prefix}{i}.").items()}

    def train(self, mode: bool = True) -> "Sequential":
        self.training = mode
        for layer in self.layers:
            layer.train(mode)
        return self

    def __repr__(self) -> str:
        return "Sequential(\n" + "\n".join(f"  ({i}) {layer!r}" for i, layer in enumerate(self.layers)) + "\n)"
