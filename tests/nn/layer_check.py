"""The one shared helper that checks any NumPy layer twice.

``check_layer`` runs a cs231n-style forward/backward pair and verifies its
gradients (1) against centered differences in float64 and (2) against the
same computation in PyTorch (forward value and every gradient). Every layer
test in tests/nn goes through it.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from imgclass.nn.gradcheck import numerical_gradient_array, rel_error


def conv_inputs(x_shape, w_shape, seed=0) -> dict:
    """Random float64 ``x``, ``w`` and ``b`` for a conv of those shapes (a seeded generator)."""
    rng = np.random.default_rng(seed)
    return {"x": rng.standard_normal(x_shape), "w": rng.standard_normal(w_shape),
            "b": rng.standard_normal(w_shape[0])}


def scaled_error(a: np.ndarray, b: np.ndarray) -> float:
    """``max|a - b| / max|b|``: the difference relative to the array's scale."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert a.shape == b.shape, f"shapes differ: {a.shape} vs {b.shape}"
    return float(np.max(np.abs(a - b), initial=0.0) / max(1e-300, np.max(np.abs(b), initial=0.0)))


def check_layer(
    forward: Callable[..., tuple[np.ndarray, object]],
    backward: Callable[[np.ndarray, object], object],
    inputs: dict[str, np.ndarray],
    torch_fn: Callable[..., torch.Tensor] | None,
    bound: float,
    *,
    seed: int = 9173,  # distinct from the seeds tests draw inputs with: dout must not equal x
    h: float = 1e-5,
    torch_tol: float = 1e-10,
    numeric: bool = True,
) -> dict[str, float]:
    """Check ``forward(**inputs) -> (out, cache)`` and ``backward(dout, cache) -> grads``.

    Parameters
    ----------
    inputs : dict name -> float64 array
        The differentiable inputs, in the order ``backward`` returns their
        gradients (e.g. ``x, w, b`` for ``dx, dw, db``).
    torch_fn : callable or None
        The same op in PyTorch, taking the inputs by name as float64 tensors.
    bound : float
        Largest allowed relative error against the numeric gradient.
    torch_tol : float
        Largest allowed :func:`scaled_error` of forward value and gradients against
        PyTorch (elementwise relative error is meaningless for entries near 0,
        where two correct float64 summation orders differ by ~1e-16).

    Returns
    -------
    dict
        ``{"d<name>": numeric rel. error, "torch_out": ..., "torch_d<name>": ...}``;
        every value has already been asserted against its bound.
    """
    for k, v in inputs.items():
        assert v.dtype == np.float64, f"{k} must be float64 for a gradient check"
    inputs = {k: v.copy() for k, v in inputs.items()}
    out, cache = forward(**inputs)
    rng = np.random.default_rng(seed)
    dout = rng.standard_normal(out.shape)
    grads = backward(dout, cache)
    grads = grads if isinstance(grads, tuple) else (grads,)
    assert len(grads) == len(inputs), f"backward returned {len(grads)} gradients for {len(inputs)} inputs"
    errors: dict[str, float] = {}
    for (name, value), g in zip(inputs.items(), grads):
        assert g.shape == value.shape, f"d{name} has shape {g.shape}, expected {value.shape}"
        if numeric:
            def f(v, name=name):
                return forward(**{**inputs, name: v})[0]

            num = numerical_gradient_array(f, value, dout, h)
            errors[f"d{name}"] = rel_error(g, num)
            assert errors[f"d{name}"] < bound, f"d{name}: numeric rel. error {errors[f'd{name}']:.2e} >= {bound:.0e}"
    if torch_fn is not None:
        tensors = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in inputs.items()}
        t_out = torch_fn(**tensors)
        t_out.backward(torch.from_numpy(dout))
        errors["torch_out"] = scaled_error(out, t_out.detach().numpy())
        assert errors["torch_out"] < torch_tol, f"forward differs from PyTorch: {errors['torch_out']:.2e}"
        for (name, t), g in zip(tensors.items(), grads):
            errors[f"torch_d{name}"] = scaled_error(g, t.grad.numpy())
            assert errors[f"torch_d{name}"] < torch_tol, f"d{name} differs from PyTorch: {errors[f'torch_d{name}']:.2e}"
    return errors
