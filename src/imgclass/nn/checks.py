"""``imgclass gradcheck``: every layer, loss and model against centered differences.

Each check builds a small float64 problem, runs the hand-written backward
pass and reports, per gradient, the largest relative error against the
numeric gradient next to the bound it must stay under. No PyTorch here: the
tests add the PyTorch comparison.
"""

from __future__ import annotations

from typing import Callable, Iterator

import numpy as np

from imgclass.nn import conv as C
from imgclass.nn import functional as F
from imgclass.nn.gradcheck import numerical_gradient, numerical_gradient_array, rel_error
from imgclass.nn.layers import Dropout
from imgclass.nn.losses import hinge_loss, softmax_loss
from imgclass.nn.models import CNN, MLP, LinearClassifier, TwoLayerNet

Row = tuple[str, str, float, float]  # (component, gradient, error, bound)


def _pair_check(name: str, forward: Callable, backward: Callable, inputs: dict, bound: float, seed: int) -> Iterator[Row]:
    out, cache = forward(**inputs)
    dout = np.random.default_rng(seed + 7919).standard_normal(np.shape(out))
    grads = backward(dout, cache)
    grads = grads if isinstance(grads, tuple) else (grads,)
    for (key, value), g in zip(inputs.items(), grads):
        num = numerical_gradient_array(lambda v, key=key: forward(**{**inputs, key: v})[0], value, dout)
        yield name, f"d{key}", rel_error(g, num), bound


def _loss_check(name: str, fn: Callable, bound: float, rng, h: float = 3e-5, **kw) -> Iterator[Row]:
    scores, y = rng.standard_normal((3, 3)), rng.integers(0, 3, 3)
    _, d = fn(scores, y, **kw)
    yield name, "dscores", rel_error(d, numerical_gradient(lambda s: fn(s, y, **kw)[0], scores, h)), bound


def _model_check(name: str, model, x, y, bound: float, h: float) -> Iterator[Row]:
    drops = [m for m in model.net.layers if isinstance(m, Dropout)]

    def loss():
        for d in drops:
            d.rng = np.random.default_rng(42)
        return model.loss(x, y)

    loss()
    analytic = {p.name: p.grad.copy() for p in model.parameters()}
    for p in model.parameters():
        yield name, f"d{p.name}", rel_error(analytic[p.name], numerical_gradient(lambda _: loss(), p.value, h)), bound


def run_checks(seed: int = 0) -> list[Row]:
    """All checks; deterministic for a given seed."""
    r = np.random.default_rng(seed)
    n = r.standard_normal
    rows: list[Row] = []
    rows += _pair_check("affine", F.affine_forward, F.affine_backward,
                        {"x": n((4, 2, 3)), "w": n((6, 5)), "b": n(5)}, 1e-9, seed)
    x = n((4, 6))
    x[np.abs(x) < 0.01] = 0.5  # away from ReLU's kink
    rows += _pair_check("relu", F.relu_forward, F.relu_backward, {"x": x}, 1e-9, seed)
    for label, kw in [("conv2d", {}), ("conv2d stride 2 pad 1", {"stride": 2, "padding": 1}),
                      ("conv2d dilation 2 pad 2", {"dilation": 2, "padding": 2})]:
        rows += _pair_check(label, lambda x, w, b, kw=kw: C.conv_forward(x, w, b, **kw), C.conv_backward,
                            {"x": n((2, 3, 7, 6)), "w": n((4, 3, 3, 2)), "b": n(4)}, 1e-7, seed)
    rows += _pair_check("conv2d (looped reference)", C.conv_forward_naive, C.conv_backward_naive,
                        {"x": n((2, 2, 5, 5)), "w": n((3, 2, 3, 3)), "b": n(3)}, 1e-7, seed)
    rows += _pair_check("max_pool 2x2", lambda x: C.max_pool_forward(x, 2), C.max_pool_backward,
                        {"x": n((2, 3, 6, 4))}, 1e-7, seed)
    rows += _pair_check("max_pool 3x3 stride 2", lambda x: C.max_pool_forward(x, 3, 2), C.max_pool_backward,
                        {"x": n((2, 2, 7, 7))}, 1e-7, seed)
    rows += _pair_check("avg_pool 2x2", lambda x: C.avg_pool_forward(x, 2), C.avg_pool_backward,
                        {"x": n((2, 3, 6, 4))}, 1e-7, seed)
    for train in (True, False):
        mode = "train" if train else "eval"
        rows += _pair_check(
            f"batchnorm ({mode})",
            lambda x, gamma, beta, t=train: F.batchnorm_forward(x, gamma, beta, np.zeros(5), np.ones(5), t),
            F.batchnorm_backward, {"x": 2 + n((8, 5)), "gamma": n(5), "beta": n(5)}, 1e-7, seed)
        rows += _pair_check(
            f"spatial batchnorm ({mode})",
            lambda x, gamma, beta, t=train: F.spatial_batchnorm_forward(x, gamma, beta, np.zeros(3), np.ones(3), t),
            F.spatial_batchnorm_backward, {"x": 1 + n((2, 3, 4, 5)), "gamma": n(3), "beta": n(3)}, 1e-7, seed)
    rows += _pair_check("dropout (train)", lambda x: F.dropout_forward(x, 0.3, True, np.random.default_rng(1)),
                        F.dropout_backward, {"x": n((6, 7))}, 1e-9, seed)
    rows += _pair_check("flatten", F.flatten_forward, F.flatten_backward, {"x": n((2, 3, 2, 2))}, 1e-9, seed)
    rows += _loss_check("softmax loss", softmax_loss, 1e-9, r)
    rows += _loss_check("hinge loss (sum)", hinge_loss, 1e-7, r, average="sum")
    rows += _loss_check("hinge loss (classes)", hinge_loss, 1e-7, r, average="classes")
    rows += _model_check("TwoLayerNet (reg 0.7)", TwoLayerNet(6, 7, 3, weight_scale=0.5, reg=0.7, seed=seed),
                         n((5, 6)), r.integers(0, 3, 5), 1e-8, 3e-5)
    rows += _model_check("LinearClassifier (reg 0.1)", LinearClassifier(6, 3, init=0.1, reg=0.1, seed=seed),
                         n((4, 6)), r.integers(0, 3, 4), 1e-8, 3e-5)
    rows += _model_check("MLP (batchnorm, dropout)", MLP(5, [8, 7], 4, batchnorm=True, dropout=0.2, reg=0.1, seed=seed),
                         n((6, 5)), r.integers(0, 4, 6), 1e-7, 1e-5)
    rows += _model_check("CNN (conv-bn-relu-pool, fc)",
                         CNN((1, 8, 8), 3, channels=(2,), fc=(5,), dtype=np.float64, seed=seed),
                         n((2, 1, 8, 8)), r.integers(0, 3, 2), 1e-6, 1e-5)
    return rows


def format_rows(rows: list[Row]) -> str:
    width = max(len(c) for c, *_ in rows)
    gw = max(len(g) for _, g, *_ in rows)
    lines = [f"{'component':<{width}}  {'gradient':<{gw}}  {'rel. error':>10}  {'bound':>7}  ok"]
    for comp, grad, err, bound in rows:
        lines.append(f"{comp:<{width}}  {grad:<{gw}}  {err:>10.2e}  {bound:>7.0e}  {'yes' if err < bound else 'NO'}")
    return "\n".join(lines)
