"""The classic computational graphs, each written twice, from scratch.

1. **Staged**: cs231n style, a ``*_forward(...) -> (out, cache)`` that computes
   one named node per line and a ``*_backward(dout, cache) -> grads`` that
   walks the same nodes in reverse, multiplying the upstream gradient by each
   node's local derivative. Where one value feeds two nodes it is first
   *copied* (``e1a, e1b = e1, e1``) and the copies' gradients are added on the
   way back (``de1 = de1a + de1b``): the copy rule.
2. **Engine**: the same nodes built from :class:`~imgclass.autograd.engine.Value`,
   whose ``backward`` applies the copy rule by accumulating into ``.grad``.

The graphs:

* ``squared-error``: ``(yhat - y)**2``;
* ``softmax2``: the two-class softmax probability ``p_y`` of scores
  ``(s1, s2)``, where a "choose" node selects ``p1`` or ``p2`` by the label
  ``y`` in {1, 2};
* ``f``: ``f(x, y, z) = log sigmoid((cos(pi x) + sin(pi y / 2)) / tanh(z**2))``.

Numerical stability: ``log sigmoid`` is one node, ``-softplus(-a)``, with
derivative ``sigmoid(-a)``; tanh's derivative is ``sech**2`` computed from
``exp(-2|x|)`` (0, not nan, once tanh is exactly 1); ``softmax2`` subtracts
the constant ``m = max(s1, s2)`` from both scores first. The shift is a
constant node: ``p`` does not change when both scores move together, so no
gradient is lost by not differentiating through ``m``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

from imgclass.autograd.engine import Value, choose, log_sigmoid, sech2, sigmoid
from imgclass.errors import ImgclassError

# -- squared error: (yhat - y)^2 -------------------------------------------


def squared_error_forward(yhat: float, y: float) -> tuple[float, tuple]:
    """Nodes: ``d = yhat - y``; copy ``d`` -> ``d1, d2``; ``loss = d1 * d2``."""
    d = yhat - y
    d1, d2 = d, d  # copy: d feeds both inputs of the product
    loss = d1 * d2
    return loss, (d1, d2)


def squared_error_backward(dloss: float, cache: tuple) -> tuple[float, float]:
    """Returns ``(dyhat, dy)``."""
    d1, d2 = cache
    dd1 = dloss * d2  # product node: each input gets the other input
    dd2 = dloss * d1
    dd = dd1 + dd2  # copy rule: gradients of the copies add
    dyhat = dd * 1.0  # subtraction node: +1 for yhat, -1 for y
    dy = dd * -1.0
    return dyhat, dy


def squared_error_engine(yhat: Value, y: Value) -> Value:
    d = _named(yhat - y, "d = yhat - y")
    return _named(d * d, "loss = d * d")


# -- two-class softmax probability with a choose node ----------------------


def _label(y: float) -> int:
    if y not in (1, 2):
        raise ImgclassError(f"softmax2: the label y must be 1 or 2, got {y!r}")
    return int(y)


def softmax2_forward(s1: float, s2: float, y: int) -> tuple[float, tuple]:
    """Nodes: shift, exp, sum, reciprocal, two products and the choose node selecting ``p_y``."""
    y = _label(y)
    m = max(s1, s2)  # constant shift, see the module docstring
    z1, z2 = s1 - m, s2 - m
    e1, e2 = math.exp(z1), math.exp(z2)
    e1a, e1b = e1, e1  # copy: e1 feeds p1's numerator and the sum
    e2a, e2b = e2, e2
    total = e1b + e2b
    r = 1.0 / total
    ra, rb = r, r  # copy: r feeds both products
    p1, p2 = e1a * ra, e2a * rb
    p = p1 if y == 1 else p2  # choose node
    return p, (y, e1, e2, e1a, e2a, ra, rb, r)


def softmax2_backward(dp: float, cache: tuple) -> tuple[float, float]:
    """Returns ``(ds1, ds2)``; the label gets no gradient."""
    y, e1, e2, e1a, e2a, ra, rb, r = cache
    dp1, dp2 = (dp, 0.0) if y == 1 else (0.0, dp)  # choose: only the chosen input gets the gradient
    de1a, dra = dp1 * ra, dp1 * e1a
    de2a, drb = dp2 * rb, dp2 * e2a
    dr = dra + drb  # copy rule
    dtotal = dr * -(r * r)  # d(1/t)/dt = -1/t^2 = -r^2
    de1b = de2b = dtotal  # sum node passes the gradient to both inputs
    de1 = de1a + de1b  # copy rule
    de2 = de2a + de2b
    dz1, dz2 = de1 * e1, de2 * e2  # exp node: local derivative exp(z)
    return dz1 * 1.0, dz2 * 1.0  # shift node: ds = dz (m is a constant)


def softmax2_engine(s1: Value, s2: Value, y: int) -> Value:
    y = _label(y)
    m = Value(max(s1.data, s2.data), "m = max(s1, s2)")  # a constant leaf; its gradient sums to 0
    e1 = _named((s1 - m).exp(), "e1")
    e2 = _named((s2 - m).exp(), "e2")
    r = _named(1.0 / _named(e1 + e2, "e1 + e2"), "r = 1 / (e1 + e2)")
    p1, p2 = _named(e1 * r, "p1"), _named(e2 * r, "p2")
    return _named(choose((p1, p2), y - 1), f"p_y, y = {y}")


# -- f(x, y, z) = log sigmoid((cos(pi x) + sin(pi y / 2)) / tanh(z^2)) ------


def f_forward(x: float, y: float, z: float) -> tuple[float, tuple]:
    """Eleven nodes from the inputs to ``f``; ``z`` is copied into both inputs of ``z * z``."""
    a1 = math.pi * x
    a2 = math.cos(a1)
    b1 = math.pi / 2 * y
    b2 = math.sin(b1)
    u = a2 + b2
    z1, z2 = z, z  # copy: z feeds both inputs of the product
    c1 = z1 * z2
    v = math.tanh(c1)
    if v == 0.0:
        raise ImgclassError(f"f: tanh(z**2) is 0 at z={z!r}, a division by zero; use z != 0")
    q = u / v
    out = log_sigmoid(q)
    return out, (a1, b1, u, z1, z2, c1, v, q)


def f_backward(dout: float, cache: tuple) -> tuple[float, float, float]:
    """Returns ``(dx, dy, dz)``."""
    a1, b1, u, z1, z2, c1, v, q = cache
    dq = dout * sigmoid(-q)  # d log sigmoid(q)/dq = sigmoid(-q)
    du = dq / v  # quotient node
    dv = -dq * q / v  # -u / v^2 = -q / v
    dc1 = dv * sech2(c1)  # tanh node, stable derivative
    dz1, dz2 = dc1 * z2, dc1 * z1  # product node
    dz = dz1 + dz2  # copy rule
    da2 = db2 = du  # sum node
    db1 = db2 * math.cos(b1)
    da1 = da2 * -math.sin(a1)
    return da1 * math.pi, db1 * (math.pi / 2), dz


def f_engine(x: Value, y: Value, z: Value) -> Value:
    a2 = _named((x * math.pi).cos(), "cos(pi x)")
    b2 = _named((y * (math.pi / 2)).sin(), "sin(pi y / 2)")
    v = _named(_named(z * z, "z^2").tanh(), "tanh(z^2)")
    if v.data == 0.0:
        raise ImgclassError(f"f: tanh(z**2) is 0 at z={z.data!r}, a division by zero; use z != 0")
    q = _named(_named(a2 + b2, "numerator") / v, "q")
    return _named(q.log_sigmoid(), "f")


def _named(v: Value, label: str) -> Value:
    v.label = label
    return v


# -- registry: what `imgclass graph` and the tests iterate over -------------


@dataclass(frozen=True)
class Graph:
    """One classic graph in both versions.

    ``inputs`` are the differentiable inputs, in the order of the gradients;
    ``label`` names a trailing non-differentiable input (the class label) or is "".
    """

    name: str
    formula: str
    inputs: tuple[str, ...]
    label: str
    forward: Callable[..., tuple[float, tuple]]
    backward: Callable[..., tuple[float, ...]]
    engine: Callable[..., Value]
    points: tuple[tuple[float, ...], ...]

    @property
    def arity(self) -> int:
        return len(self.inputs) + (1 if self.label else 0)

    def _split(self, point) -> tuple[list[float], list]:
        point = [float(p) for p in point]
        if len(point) != self.arity:
            names = ", ".join(self.inputs + ((self.label,) if self.label else ()))
            raise ImgclassError(f"graph {self.name!r} takes {self.arity} numbers ({names}), got {len(point)}")
        if not all(math.isfinite(p) for p in point):
            raise ImgclassError(f"graph {self.name!r} needs finite numbers, got {point}")
        n = len(self.inputs)
        return point[:n], point[n:]

    def staged(self, point) -> tuple[float, tuple[float, ...]]:
        """Value and gradient by the hand-written forward/backward pair."""
        xs, extra = self._split(point)
        out, cache = self.forward(*xs, *extra)
        return out, tuple(self.backward(1.0, cache))

    def build(self, point) -> tuple[Value, tuple[Value, ...]]:
        """The engine graph at ``point``, not yet backpropagated: ``(output, input Values)``."""
        xs, extra = self._split(point)
        leaves = tuple(Value(v, name) for v, name in zip(xs, self.inputs))
        return self.engine(*leaves, *extra), leaves

    def autograd(self, point) -> tuple[float, tuple[float, ...], Value]:
        """Value and gradient by the engine; also returns the backpropagated output node (for drawing)."""
        out, leaves = self.build(point)
        out.backward()
        return out.data, tuple(v.grad for v in leaves), out


GRAPHS: dict[str, Graph] = {
    g.name: g for g in (
        Graph("f", "f(x, y, z) = log sigmoid((cos(pi x) + sin(pi y / 2)) / tanh(z^2))", ("x", "y", "z"), "",
              f_forward, f_backward, f_engine, ((2, 4, 1), (9, 14, 3), (128, 42, 666), (52, 14, 28))),
        Graph("squared-error", "L(yhat, y) = (yhat - y)^2", ("yhat", "y"), "",
              squared_error_forward, squared_error_backward, squared_error_engine, ((3, 1), (-0.5, 2.25))),
        Graph("softmax2", "p = choose_y(softmax(s1, s2)), y in {1, 2}", ("s1", "s2"), "y",
              softmax2_forward, softmax2_backward, softmax2_engine,
              ((2, 1, 1), (2, 1, 2), (800, -800, 2))),
    )
}


def get_graph(name: str) -> Graph:
    """The graph called ``name`` (one of :data:`GRAPHS`)."""
    try:
        return GRAPHS[name]
    except KeyError:
        raise ImgclassError(f"unknown graph {name!r}; choose one of {', '.join(GRAPHS)}") from None


def compare(name: str, point, rtol: float = 1e-9, atol: float = 1e-12) -> dict:
    """Evaluate graph ``name`` at ``point`` both ways and say whether they agree.

    Returns
    -------
    dict
        ``at``, ``value``, ``grad`` (engine), ``staged_value``, ``staged_grad``,
        ``max_abs_diff`` over value and gradient, and ``agree``: every pair
        within ``atol + rtol * max(|engine|, |staged|)``.
    """
    g = get_graph(name)
    value, grad, _ = g.autograd(point)
    s_value, s_grad = g.staged(point)
    pairs = list(zip((value, *grad), (s_value, *s_grad)))
    diffs = [abs(a - b) for a, b in pairs]
    agree = all(d <= atol + rtol * max(abs(a), abs(b)) for d, (a, b) in zip(diffs, pairs))
    return {"at": [float(p) for p in point], "value": value, "grad": dict(zip(g.inputs, grad)),
            "staged_value": s_value, "staged_grad": dict(zip(g.inputs, s_grad)),
            "max_abs_diff": max(diffs), "agree": agree}
