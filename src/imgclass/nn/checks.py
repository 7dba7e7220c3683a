"""``imgclass gradcheck``: every layer, loss and model against centered differences.

Each check builds a small problem, runs the hand-written backward pass and
reports, per gradient, the largest relative error against the numeric
gradient next to the bound it must stay under. No PyTorch here: the tests
add the PyTorch comparison.

Precision. In float64 a centered difference of a scalar loss carries an
absolute rounding error of about ``eps * |loss| / h``, which is ~1e-9
relative on the smallest gradient entries: the oracle, not the backward
pass, then limits what a check can show. So by default (where NumPy's
``longdouble`` is the 80-bit x87 type, as on x86-64 Linux) every check runs
the same code in extended precision with a 4th-order stencil, an oracle
good to ~1e-13, against the bounds the project holds the engine to.
``precision="float64"`` runs the classic float64, 2nd-order check; there the
oracle's own error reaches a few 1e-8 on unlucky entries, so every bound is
multiplied by ``Oracle.slack`` = 1000 (the float64 tests in tests/nn check the
unrelaxed bounds on fixed inputs).

"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np

from imgclass.errors import ImgclassError
from imgclass.nn import conv as C
from imgclass.nn import pool as P
from imgclass.nn import functional as F
from imgclass.nn.gradcheck import numerical_gradient, numerical_gradient_array, rel_error
from imgclass.nn.layers import Dropout
from imgclass.nn.losses import hinge_loss, softmax_loss
from imgclass.nn.models import CNN, MLP, LinearClassifier, TwoLayerNet

Row = tuple[str, str, float, float]  # (component, gradient, error, bound)


EXTENDED_AVAILABLE = np.finfo(np.longdouble).eps < 1e-18


@dataclass(frozen=True)
class Oracle:
    """How numeric gradients are taken: dtype of the whole computation, stencil order, step."""

    dtype: type
    order: int
    h: float
    h_loss: float  # scalar losses: the step that balances rounding and truncation
    slack: float  # multiplies every bound: how far the oracle itself can be off

    @classmethod
    def get(cls, precision: str) -> "Oracle":
        if precision == "extended":
            if not EXTENDED_AVAILABLE:
                raise ImgclassError("extended precision is not available here (np.longdouble is float64); "
                                    "use --precision float64")
            return cls(np.longdouble, 4, 1e-5, 1e-4, 1.0)
        if precision == "float64":
            return cls(np.float64, 2, 1e-5, 3e-5, 1000.0)
        raise ImgclassError(f"precision must be 'extended' or 'float64', got {precision!r}")


def _pair_check(name: str, forward: Callable, backward: Callable, inputs: dict, bound: float, seed: int,
                oracle: Oracle) -> Iterator[Row]:
    inputs = {k: np.asarray(v, oracle.dtype) for k, v in inputs.items()}
    out, cache = forward(**inputs)
    dout = np.random.default_rng(seed + 7919).standard_normal(np.shape(out)).astype(oracle.dtype)
    grads = backward(dout, cache)
    grads = grads if isinstance(grads, tuple) else (grads,)
    for (key, value), g in zip(inputs.items(), grads):
        num = numerical_gradient_array(lambda v, key=key: forward(**{**inputs, key: v})[0], value, dout,
                                       oracle.h, oracle.order)
        yield name, f"d{key}", rel_error(g, num), bound * oracle.slack


def _loss_check(name: str, fn: Callable, bound: float, rng, oracle: Oracle, **kw) -> Iterator[Row]:
    scores, y = rng.standard_normal((3, 3)).astype(oracle.dtype), rng.integers(0, 3, 3)
    _, d = fn(scores, y, **kw)
    num = numerical_gradient(lambda s: fn(s, y, **kw)[0], scores, oracle.h_loss, oracle.order)
    yield name, "dscores", rel_error(d, num), bound * oracle.slack


def model_gradient_errors(model, x, y, h: float, order: int = 2) -> dict[str, float]:
    """Largest relative error of each parameter's analytic gradient against centered differences.

    Dropout layers are reseeded before every evaluation, so each one sees the same mask.
    """
    drops = [m for m in model.net.layers if isinstance(m, Dropout)]

    def loss():
        for d in drops:
            d.rng = np.random.default_rng(42)
        return model.loss(x, y)

    loss()
    analytic = {p.name: p.grad.copy() for p in model.parameters()}
    return {p.name: rel_error(analytic[p.name], numerical_gradient(lambda _: loss(), p.value, h, order))
            for p in model.parameters()}


def _model_check(name: str, model, x, y, bound: float, h: float, oracle: Oracle) -> Iterator[Row]:
    errors = model_gradient_errors(model, np.asarray(x, oracle.dtype), y, h, oracle.order)
    for param, err in errors.items():
        yield name, f"d{param}", err, bound * oracle.slack


def _kink_free_two_layer(seed: int, dtype):
    """A TwoLayerNet and inputs whose hidden pre-activations all lie >= 1e-2 from 0.

    A difference step across a ReLU kink would measure the kink, not the
    backward pass. Candidates are drawn in a fixed order, so this is deterministic.
    """
    for k in range(1000):
        r = np.random.default_rng([seed, k])
        x, y = r.standard_normal((5, 6)).astype(dtype), r.integers(0, 3, 5)
        model = TwoLayerNet(6, 7, 3, weight_scale=0.5, reg=0.7, seed=seed + k, dtype=dtype)
        w1, b1 = (p.value for p in model.parameters()[:2])
        if np.abs(x @ w1 + b1).min() >= 1e-2:
            return model, x, y
    raise RuntimeError("no kink-free inputs found")  # practically impossible: ~20% of draws qualify


def run_checks(seed: int = 0, precision: str | None = None) -> list[Row]:
    """All checks; deterministic for a given seed.

    ``precision``: ``"extended"`` (default where available) or ``"float64"``.
    """
    o = Oracle.get(precision or ("extended" if EXTENDED_AVAILABLE else "float64"))
    r = np.random.default_rng(seed)
    n = r.standard_normal
    rows: list[Row] = []
    rows += _pair_check("affine", F.affine_forward, F.affine_backward,
                        {"x": n((4, 2, 3)), "w": n((6, 5)), "b": n(5)}, 1e-9, seed, o)
    x = n((4, 6))
    x[np.abs(x) < 0.01] = 0.5  # away from ReLU's kink
    rows += _pair_check("relu", F.relu_forward, F.relu_backward, {"x": x}, 1e-9, seed, o)
    for label, kw in [("conv2d", {}), ("conv2d stride 2 pad 1", {"stride": 2, "padding": 1}),
                      ("conv2d dilation 2 pad 2", {"dilation": 2, "padding": 2})]:
        rows += _pair_check(label, lambda x, w, b, kw=kw: C.conv_forward(x, w, b, **kw), C.conv_backward,
                            {"x": n((2, 3, 7, 6)), "w": n((4, 3, 3, 2)), "b": n(4)}, 1e-7, seed, o)
    rows += _pair_check("conv2d (looped reference)", C.conv_forward_naive, C.conv_backward_naive,
                        {"x": n((2, 2, 5, 5)), "w": n((3, 2, 3, 3)), "b": n(3)}, 1e-7, seed, o)
    for label, fwd, bwd, shape in [
        ("max_pool 2x2", lambda x: P.max_pool_forward(x, 2), P.max_pool_backward, (2, 3, 6, 4)),
        ("max_pool 3x3 stride 2", lambda x: P.max_pool_forward(x, 3, 2), P.max_pool_backward, (2, 2, 7, 7)),
        ("avg_pool 2x2", lambda x: P.avg_pool_forward(x, 2), P.avg_pool_backward, (2, 3, 6, 4)),
    ]:
        rows += _pair_check(label, fwd, bwd, {"x": n(shape)}, 1e-7, seed, o)
    for train in (True, False):
        mode = "train" if train else "eval"
        rows += _pair_check(
            f"batchnorm ({mode})",
            lambda x, gamma, beta, t=train: F.batchnorm_forward(x, gamma, beta, np.zeros(5, o.dtype), np.ones(5, o.dtype), t),
            F.batchnorm_backward, {"x": 2 + n((8, 5)), "gamma": n(5), "beta": n(5)}, 1e-7, seed, o)
        rows += _pair_check(
            f"spatial batchnorm ({mode})",
            lambda x, gamma, beta, t=train: F.spatial_batchnorm_forward(x, gamma, beta, np.zeros(3, o.dtype),
                                                                       np.ones(3, o.dtype), t),
            F.spatial_batchnorm_backward, {"x": 1 + n((2, 3, 4, 5)), "gamma": n(3), "beta": n(3)}, 1e-7, seed, o)
    rows += _pair_check("dropout (train)", lambda x: F.dropout_forward(x, 0.3, True, np.random.default_rng(1)),
                        F.dropout_backward, {"x": n((6, 7))}, 1e-9, seed, o)
    rows += _pair_check("flatten", F.flatten_forward, F.flatten_backward, {"x": n((2, 3, 2, 2))}, 1e-9, seed, o)
    rows += _loss_check("softmax loss", softmax_loss, 1e-9, r, o)
    rows += _loss_check("hinge loss (sum)", hinge_loss, 1e-7, r, o, average="sum")
    rows += _loss_check("hinge loss (classes)", hinge_loss, 1e-7, r, o, average="classes")
    rows += _model_check("TwoLayerNet (reg 0.7)", *_kink_free_two_layer(seed, o.dtype),
                         1e-10, o.h_loss, o)
    rows += _model_check("LinearClassifier (reg 0.1)", LinearClassifier(6, 3, init=0.1, reg=0.1, seed=seed, dtype=o.dtype),
                         n((4, 6)), r.integers(0, 3, 4), 1e-9, o.h_loss, o)
    rows += _model_check("MLP (batchnorm, dropout)",
                         MLP(5, [8, 7], 4, batchnorm=True, dropout=0.2, reg=0.1, seed=seed, dtype=o.dtype),
                         n((6, 5)), r.integers(0, 4, 6), 1e-7, o.h, o)
    rows += _model_check("CNN (conv-bn-relu-pool, fc)",
                         CNN((1, 8, 8), 3, channels=(2,), fc=(5,), dtype=o.dtype, seed=seed),
                         n((2, 1, 8, 8)), r.integers(0, 3, 2), 1e-6, o.h, o)
    return rows


def format_rows(rows: list[Row]) -> str:
    width = max(len(c) for c, *_ in rows)
    gw = max(len(g) for _, g, *_ in rows)
    lines = [f"{'component':<{width}}  {'gradient':<{gw}}  {'rel. error':>10}  {'bound':>7}  ok"]
    for comp, grad, err, bound in rows:
        lines.append(f"{comp:<{width}}  {grad:<{gw}}  {err:>10.2e}  {bound:>7.0e}  {'yes' if err < bound else 'NO'}")
    return "\n".join(lines)
