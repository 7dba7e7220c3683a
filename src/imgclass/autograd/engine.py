"""A scalar reverse-mode autograd engine, written from scratch (micrograd-sized).

Every operation builds its output :class:`Value` together with a ``_backward``
closure that *accumulates* (``+=``) the output's gradient times the local
derivative into each input; :meth:`Value.backward` runs those closures in
reverse topological order. Because the closures accumulate, a value used more
than once (``x * x``, ``x + x``, a shared subexpression) receives the sum of
the gradients of its uses: the copy rule that the staged graphs in
:mod:`imgclass.autograd.graphs` write out by hand.

Derived operations reuse primitives where that costs nothing (``a - b`` is
``a + (-b)``, ``-a`` is ``a * -1``). Division is its own node so that drawn
graphs show one ``/`` node, as the staged graphs do, and the quotient is
correctly rounded.

Math-domain behaviour
---------------------
* ``+``, ``-`` and ``*`` follow IEEE float64: overflow gives ``inf``, no error.
* Division by zero, ``log`` of a non-positive number, ``x ** c`` with a zero
  base and negative ``c`` or a negative base and non-integer ``c``, a
  ``Value`` exponent on a non-positive base, ``sin``/``cos`` of an infinity,
  and results too large for float64 (``exp(1000)``, ``10.0 ** 400``) raise
  :class:`~imgclass.errors.ImgclassError`.
* ``sigmoid``, ``log_sigmoid`` and ``tanh`` are computed in forms that never
  overflow. The derivative of ``tanh`` is ``sech(x)**2`` evaluated from
  ``exp(-2|x|)``, so it underflows to 0 (never nan) for large ``|x|``;
  ``log_sigmoid(x) = -softplus(-x)`` stays finite where ``log(sigmoid(x))``
  would be ``log(0) = -inf``.
* ``relu`` has derivative 0 at 0 (as in PyTorch); ``x ** c`` with ``0 < c < 1``
  has derivative ``inf`` at 0.
* Gradients accumulate across calls of :meth:`Value.backward`, as in PyTorch:
  build a fresh graph (or reset ``.grad``) before a second pass.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

from imgclass.errors import ImgclassError

Number = int | float


# -- float helpers in numerically stable form (shared with the staged graphs) --

def sigmoid(x: float) -> float:
    """``1 / (1 + exp(-x))`` without overflow: ``exp`` only ever sees ``-|x|``."""
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def log_sigmoid(x: float) -> float:
    """``log(sigmoid(x)) = -softplus(-x) = min(x, 0) - log1p(exp(-|x|))``, finite for every finite ``x``."""
    return min(x, 0.0) - math.log1p(math.exp(-abs(x)))


def sech2(x: float) -> float:
    """``1 - tanh(x)**2 = 4 e / (1 + e)**2`` with ``e = exp(-2|x|)``: accurate near 1 and 0, never nan."""
    e = math.exp(-2.0 * abs(x))
    return 4.0 * e / (1.0 + e) ** 2


def _math(fn: Callable[[float], float], x: float, name: str) -> float:
    """``fn(x)``, with the math library's domain and range errors turned into :class:`ImgclassError`."""
    try:
        return fn(x)
    except (ValueError, OverflowError) as e:
        raise ImgclassError(f"{name}({x!r}) is not a finite real number ({e}); "
                            f"keep the input in the domain of {name}") from None


def _noop() -> None:
    return None


class Value:
    """One scalar node of a computational graph: its value ``data`` and the gradient ``grad`` of the output.

    Parameters
    ----------
    data : float
        The value (anything ``float()`` accepts).
    label : str, optional
        A name shown when the graph is drawn (``"x"``, ``"tanh(z^2)"``).

    Examples
    --------
    >>> x, y = Value(2.0, "x"), Value(-3.0, "y")
    >>> f = x * y + x          # x is used twice: its gradient is y + 1
    >>> f.backward()
    >>> x.grad, y.grad
    (-2.0, 2.0)
    """

    __slots__ = ("data", "grad", "label", "_op", "_prev", "_backward")

    def __init__(self, data: Number, label: str = "", _children: Sequence[Value] = (), _op: str = ""):
        try:
            self.data = float(data)
        except (TypeError, ValueError):
            raise ImgclassError(f"a Value holds one real number, got {data!r}") from None
        self.grad = 0.0
        self.label = label
        self._op = _op  # the operation that made this node; "" for a leaf
        self._prev = tuple(_children)  # inputs in argument order (x * x lists x twice)
        self._backward: Callable[[], None] = _noop

    @property
    def op(self) -> str:
        """The operation that produced this value (``"+"``, ``"tanh"``, ...); ``""`` for an input or constant."""
        return self._op

    @property
    def inputs(self) -> tuple[Value, ...]:
        """The values this one was computed from, in argument order."""
        return self._prev

    def __repr__(self) -> str:
        name = f"{self.label!r}, " if self.label else ""
        return f"Value({name}data={self.data:.6g}, grad={self.grad:.6g})"

    # -- construction helpers ---------------------------------------------

    def _unary(self, data: float, local: float, op: str) -> Value:
        """An output with one input and the (already computed) local derivative ``local``."""
        out = Value(data, _children=(self,), _op=op)

        def _backward() -> None:
            self.grad += local * out.grad

        out._backward = _backward
        return out

    # -- arithmetic -------------------------------------------------------

    def __add__(self, other: Value | Number) -> Value:
        other = _as_value(other)
        out = Value(self.data + other.data, _children=(self, other), _op="+")

        def _backward() -> None:
            self.grad += out.grad
            other.grad += out.grad

        out._backward = _backward
        return out

    def __mul__(self, other: Value | Number) -> Value:
        other = _as_value(other)
        out = Value(self.data * other.data, _children=(self, other), _op="*")

        def _backward() -> None:
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad

        out._backward = _backward
        return out

    def __truediv__(self, other: Value | Number) -> Value:
        other = _as_value(other)
        if other.data == 0.0:
            raise ImgclassError(f"division by zero: {self.data!r} / 0 (the divisor must be non-zero)")
        out = Value(self.data / other.data, _children=(self, other), _op="/")

        def _backward() -> None:
            self.grad += out.grad / other.data
            other.grad -= out.grad * out.data / other.data  # -a/b^2 without squaring b

        out._backward = _backward
        return out

    def __pow__(self, other: Value | Number) -> Value:
        if isinstance(other, Value):
            return self._pow_value(other)
        if not isinstance(other, (int, float)):
            return NotImplemented
        a, c = self.data, float(other)
        if a == 0.0 and c < 0:
            raise ImgclassError(f"0 ** {c:g} is a division by zero; the base must be non-zero for a negative power")
        if a < 0 and not c.is_integer():
            raise ImgclassError(f"{a!r} ** {c:g} is not real; a negative base needs an integer power")
        try:
            data = a ** c
        except OverflowError:
            raise ImgclassError(f"{a!r} ** {c:g} overflows float64; use smaller numbers") from None
        if a != 0.0:
            local = c * data / a  # c * a**(c-1), without a second power that could overflow
        elif c == 0.0:
            local = 0.0
        else:
            local = c * 0.0 ** (c - 1) if c >= 1 else math.inf  # d/da a**c at 0: 0 for c>1, 1 for c=1, inf for c<1
        return self._unary(data, local, f"**{c:g}")

    def _pow_value(self, other: Value) -> Value:
        """``self ** other`` with both differentiable: needs ``self > 0`` (``d/db a**b = a**b log a``)."""
        a, b = self.data, other.data
        if a <= 0:
            raise ImgclassError(f"{a!r} ** Value is only defined here for a positive base (its gradient needs log "
                                f"of the base); use a constant exponent for a zero or negative base")
        try:
            data = a ** b
        except OverflowError:
            raise ImgclassError(f"{a!r} ** {b!r} overflows float64; use smaller numbers") from None
        out = Value(data, _children=(self, other), _op="**")

        def _backward() -> None:
            self.grad += b * data / a * out.grad
            other.grad += data * math.log(a) * out.grad

        out._backward = _backward
        return out

    def __neg__(self) -> Value:
        return self * -1

    def __sub__(self, other: Value | Number) -> Value:
        return self + (-_as_value(other))

    def __radd__(self, other: Number) -> Value:
        return self + other

    def __rsub__(self, other: Number) -> Value:
        return _as_value(other) - self

    def __rmul__(self, other: Number) -> Value:
        return self * other

    def __rtruediv__(self, other: Number) -> Value:
        return _as_value(other) / self

    def __rpow__(self, other: Number) -> Value:
        return _as_value(other) ** self

    # -- elementary functions -------------------------------------------

    def exp(self) -> Value:
        data = _math(math.exp, self.data, "exp")
        return self._unary(data, data, "exp")

    def log(self) -> Value:
        if self.data <= 0:
            raise ImgclassError(f"log({self.data!r}) is undefined: log needs a positive argument")
        return self._unary(math.log(self.data), 1.0 / self.data, "log")

    def sin(self) -> Value:
        return self._unary(_math(math.sin, self.data, "sin"), math.cos(self.data), "sin")

    def cos(self) -> Value:
        return self._unary(_math(math.cos, self.data, "cos"), -math.sin(self.data), "cos")

    def tanh(self) -> Value:
        return self._unary(math.tanh(self.data), sech2(self.data), "tanh")

    def sigmoid(self) -> Value:
        return self._unary(sigmoid(self.data), sigmoid(self.data) * sigmoid(-self.data), "sigmoid")

    def log_sigmoid(self) -> Value:
        """``log(sigmoid(x))`` as one stable node; its derivative is ``sigmoid(-x)``."""
        return self._unary(log_sigmoid(self.data), sigmoid(-self.data), "log_sigmoid")

    def relu(self) -> Value:
        return self._unary(max(0.0, self.data), 1.0 if self.data > 0 else 0.0, "relu")

    # -- backpropagation --------------------------------------------------

    def backward(self) -> None:
        """Set this node's gradient to 1 and accumulate ``d self / d node`` into every node's ``grad``."""
        self.grad = 1.0
        for node in reversed(topological_order(self)):
            node._backward()


def _as_value(x: Value | Number) -> Value:
    """``x`` itself if it is a :class:`Value`, else a constant leaf holding it."""
    return x if isinstance(x, Value) else Value(x)


def choose(options: Sequence[Value], index: int) -> Value:
    """A "choose" node: the output is ``options[index]``; only that option receives gradient.

    ``index`` is data, not a differentiable input (a class label, say); the
    other options stay in the graph so that drawings show them with gradient 0.
    """
    if not 0 <= index < len(options):
        raise ImgclassError(f"choose: index {index} is out of range for {len(options)} options")
    options = tuple(_as_value(v) for v in options)
    picked = options[index]
    out = Value(picked.data, _children=options, _op=f"choose {index + 1}")

    def _backward() -> None:
        picked.grad += out.grad

    out._backward = _backward
    return out


def topological_order(root: Value) -> list[Value]:
    """Every node ``root`` depends on, each after all of its inputs (``root`` last).

    An iterative depth-first search, so graphs deeper than Python's recursion
    limit work too.
    """
    order: list[Value] = []
    visited: set[int] = set()
    stack: list[tuple[Value, bool]] = [(root, False)]
    while stack:
        node, inputs_done = stack.pop()
        if inputs_done:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        stack.extend((child, False) for child in reversed(node._prev) if id(child) not in visited)
    return order
