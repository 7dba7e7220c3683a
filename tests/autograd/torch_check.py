"""The one shared helper that checks any engine computation twice.

``check_op`` builds ``fn`` on :class:`~imgclass.autograd.Value` leaves, runs
``backward`` and verifies the value and every input's gradient (1) against
the same computation in PyTorch (float64 tensors, autograd) and (2) against
the centered-difference checker :func:`imgclass.autograd.check_engine`. Every
operation and graph test in tests/autograd goes through it.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import torch

from imgclass.autograd import GradCheck, Value, check_engine


def close(a: float, b: float, rtol: float, atol: float) -> bool:
    """``|a - b| <= atol + rtol * max(|a|, |b|)``; equal infinities count as close."""
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= atol + rtol * max(abs(a), abs(b))


def check_op(
    fn: Callable[..., Value],
    torch_fn: Callable[..., torch.Tensor],
    point: Sequence[float],
    *,
    rtol: float = 1e-12,
    atol: float = 1e-15,
    numeric: bool = True,
    num_rtol: float = 1e-6,
    num_atol: float = 1e-9,
    h: float = 1e-5,
) -> GradCheck | None:
    """Assert that ``fn`` agrees with ``torch_fn`` and with the numeric gradient at ``point``.

    Parameters
    ----------
    fn : callable
        Builds the output from one :class:`Value` per coordinate of ``point``.
    torch_fn : callable
        The same computation on float64 tensors of shape ``()``.
    rtol, atol : float
        Tolerance of the value and gradients against PyTorch.
    numeric : bool
        Also run the centered-difference checker (off at kinks such as relu(0)).
    num_rtol, num_atol : float
        Tolerance against the numeric gradient (see :meth:`GradCheck.ok`).

    Returns
    -------
    GradCheck or None
        The numeric check's report, already asserted ``ok``.
    """
    leaves = [Value(p, f"x{i}") for i, p in enumerate(point)]
    out = fn(*leaves)
    out.backward()

    tensors = [torch.tensor(float(p), dtype=torch.float64, requires_grad=True) for p in point]
    t_out = torch_fn(*tensors)
    t_out.backward()
    t_value = t_out.item()
    t_grads = [0.0 if t.grad is None else t.grad.item() for t in tensors]

    assert close(out.data, t_value, rtol, atol), f"value {out.data!r} vs torch {t_value!r} at {point}"
    for i, (v, tg) in enumerate(zip(leaves, t_grads)):
        assert close(v.grad, tg, rtol, atol), f"d/dx{i} {v.grad!r} vs torch {tg!r} at {point}"

    if not numeric:
        return None
    report = check_engine(fn, point, h=h)
    assert report.analytic == tuple(v.grad for v in leaves)
    assert report.ok(num_rtol, num_atol), f"numeric gradient check failed at {point}:\n{report.report()}"
    return report
