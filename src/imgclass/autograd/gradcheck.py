"""A numeric gradient checker for scalar functions of a few scalars, written from scratch.

The oracle is the centered difference ``(f(x + h e_i) - f(x - h e_i)) / 2h``
(error ``O(h**2)``) in float64. The checker reports, per input, the analytic
and numeric derivative, their absolute and relative error; the relative error
is ``|a - n| / max(1e-8, |a| + |n|)`` (the cs231n convention). A derivative
that is truly 0 cannot be checked relatively (rounding leaves ~1e-11 in the
difference), so :meth:`GradCheck.ok` accepts a component when
``|a - n| <= atol + rtol * max(|a|, |n|)``, as ``numpy.isclose`` does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from imgclass.autograd.engine import Value


def rel_error(a: float, b: float) -> float:
    """``|a - b| / max(1e-8, |a| + |b|)``."""
    return abs(a - b) / max(1e-8, abs(a) + abs(b))


def numeric_gradient(f: Callable[..., float], point: Sequence[float], h: float = 1e-5) -> list[float]:
    """Centered-difference gradient of ``f(*point) -> float``, one input at a time.

    Parameters
    ----------
    f : callable
        A scalar function of ``len(point)`` floats.
    point : sequence of float
        Where to differentiate.
    h : float
        The step, absolute (the same for every input).
    """
    point = [float(p) for p in point]
    grad = []
    for i, p in enumerate(point):
        plus, minus = list(point), list(point)
        plus[i], minus[i] = p + h, p - h
        grad.append((float(f(*plus)) - float(f(*minus))) / (2 * h))
    return grad


@dataclass(frozen=True)
class GradCheck:
    """Analytic vs numeric derivatives at one point, one entry per input."""

    names: tuple[str, ...]
    point: tuple[float, ...]
    analytic: tuple[float, ...]
    numeric: tuple[float, ...]

    @property
    def abs_errors(self) -> tuple[float, ...]:
        return tuple(abs(a - n) for a, n in zip(self.analytic, self.numeric))

    @property
    def rel_errors(self) -> tuple[float, ...]:
        return tuple(rel_error(a, n) for a, n in zip(self.analytic, self.numeric))

    @property
    def max_rel_error(self) -> float:
        return max(self.rel_errors, default=0.0)

    def ok(self, rtol: float = 1e-6, atol: float = 1e-9) -> bool:
        """Every component within ``atol + rtol * max(|analytic|, |numeric|)``."""
        return all(abs(a - n) <= atol + rtol * max(abs(a), abs(n)) for a, n in zip(self.analytic, self.numeric))

    def report(self) -> str:
        """One line per input: analytic, numeric, absolute and relative error."""
        lines = [f"{'input':>8} {'analytic':>22} {'numeric':>22} {'abs error':>10} {'rel error':>10}"]
        for name, a, n, ea, er in zip(self.names, self.analytic, self.numeric, self.abs_errors, self.rel_errors):
            lines.append(f"{name:>8} {a:>22.15g} {n:>22.15g} {ea:>10.2e} {er:>10.2e}")
        return "\n".join(lines)


def check_gradient(f: Callable[..., float], point: Sequence[float], analytic: Sequence[float],
                   h: float = 1e-5, names: Sequence[str] | None = None) -> GradCheck:
    """Compare a given ``analytic`` gradient of ``f`` at ``point`` with the centered difference."""
    point = tuple(float(p) for p in point)
    if len(analytic) != len(point):
        raise ValueError(f"{len(analytic)} analytic derivatives for {len(point)} inputs")
    names = tuple(names) if names is not None else tuple(f"x{i}" for i in range(len(point)))
    return GradCheck(names, point, tuple(float(a) for a in analytic), tuple(numeric_gradient(f, point, h)))


def check_engine(fn: Callable[..., Value], point: Sequence[float], h: float = 1e-5,
                 names: Sequence[str] | None = None) -> GradCheck:
    """Check the engine's backward pass for ``fn(*Values) -> Value`` at ``point``.

    The analytic gradient comes from building the graph on fresh leaves and
    calling ``backward``; the numeric one from re-running ``fn`` at ``point +- h``.
    """
    leaves = [Value(p) for p in point]
    out = fn(*leaves)
    out.backward()
    return check_gradient(lambda *p: fn(*(Value(v) for v in p)).data, point, [v.grad for v in leaves], h, names)
