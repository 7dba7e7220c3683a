"""The one shared helper that runs a ModelSpec on both engines and compares them.

``check_engines`` builds the NumPy classifier and the torch model from one
spec in float64, copies the weights NumPy -> torch, and compares logits,
loss (data + L2), every parameter gradient and the batchnorm running
statistics after the pass.
"""

from __future__ import annotations

import numpy as np
import torch

from imgclass.deep import build_torch, l2_penalty, loss_function, mapping, numpy_to_torch
from imgclass.modelspec import ModelSpec, build_numpy
from tests.nn.layer_check import scaled_error


def randomize_batchnorm(classifier, rng: np.random.Generator) -> None:
    """Give batchnorm scales, shifts and running statistics non-trivial values (fresh ones are 1 and 0)."""
    for name, value in classifier.state_dict().items():
        if name.endswith(("gamma", "running_var")):
            value[...] = rng.uniform(0.5, 1.5, value.shape)
        elif name.endswith(("beta", "running_mean")):
            value[...] = rng.normal(0.0, 0.5, value.shape)


def check_engines(spec: ModelSpec, in_shape: tuple, *, loss: str = "softmax", hinge_average: str = "sum",
                  reg: float = 0.0, train: bool = True, n: int = 6, num_classes: int = 5, seed: int = 0,
                  tol: float = 1e-10) -> dict[str, float]:
    """Assert that both engines agree on ``spec`` to ``tol`` (scaled error); return every error."""
    rng = np.random.default_rng(seed)
    model = build_numpy(spec, in_shape, num_classes, loss=loss, reg=reg, hinge_average=hinge_average, seed=seed,
                        dtype=np.float64)
    randomize_batchnorm(model, rng)
    module = numpy_to_torch(model, build_torch(spec, in_shape, num_classes, seed=seed + 1).double())
    model.train(train)
    module.train(train)
    x = rng.standard_normal((n, *in_shape))
    y = rng.integers(0, num_classes, n)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    errors = {"logits": scaled_error(model.forward(x), module(xt).detach().numpy())}
    np_loss = model.loss(x, y)  # forward + backward + L2, gradients in the layers
    t_loss = loss_function(loss, hinge_average=hinge_average)(module(xt), yt) + l2_penalty(module, reg)
    t_loss.backward()
    errors["loss"] = abs(float(np_loss) - t_loss.item()) / abs(float(np_loss))
    np_grads = {f"param/{p.name}": p.grad for p in model.parameters()}
    t_params, t_state, np_state = dict(module.named_parameters()), module.state_dict(), model.state_dict()
    pairs = mapping(model, module)
    assert {p.numpy_name for p in pairs} == set(np_state), "every NumPy tensor must have a torch twin"
    for p in pairs:
        if p.numpy_name.startswith("param/"):
            g = t_params[p.torch_name].grad.numpy()
            errors["d" + p.numpy_name[6:]] = scaled_error(np_grads[p.numpy_name], g.T if p.transpose else g)
        else:
            errors[p.numpy_name[7:]] = scaled_error(np_state[p.numpy_name], t_state[p.torch_name].numpy())
    worst = max(errors, key=errors.get)
    assert errors[worst] < tol, f"{spec} {loss}: {worst} differs by {errors[worst]:.2e}\n{errors}"
    return errors
