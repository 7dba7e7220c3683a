"""A reference to one parameter array of a layer, as optimizers see it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(eq=False)
class ParamRef:
    """Points at ``params[key]`` and ``grads[key]`` of one layer.

    Layers keep ``params`` and ``grads`` dicts with the same keys (cs231n
    style). Optimizers update ``value`` **in place**, so the layer's dict keeps
    pointing at the same array; ``grad`` is read afresh each step because a
    backward pass may store a new array.

    Attributes
    ----------
    params, grads : dict of str -> ndarray
    key : str
    name : str
        Dotted name for messages and checkpoints, e.g. ``"0.w"``.
    decay : bool
        True for weights (L2 regularization applies), False for biases and
        batchnorm shifts/scales.
    """

    params: dict
    grads: dict
    key: str
    name: str = ""
    decay: bool = True

    @property
    def value(self) -> np.ndarray:
        return self.params[self.key]

    @property
    def grad(self) -> np.ndarray:
        g = self.grads.get(self.key)
        return np.zeros_like(self.value) if g is None else g

    def zero_grad(self) -> None:
        self.grads[self.key] = np.zeros_like(self.value)
