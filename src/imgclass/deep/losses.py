"""Losses on the PyTorch engine, with the NumPy engine's conventions exactly.

- :func:`cross_entropy` is :func:`imgclass.nn.losses.softmax_loss` (mean over
  the batch), with optional label smoothing.
- :func:`hinge_loss` is :func:`imgclass.nn.losses.hinge_loss`:
  ``sum_{j != y} max(0, s_j - s_y + margin)`` per sample, mean over samples
  (``average="sum"``, the cs231n convention), or that divided by the number of
  classes C (``average="classes"``, which is ``F.multi_margin_loss``).
- L2 regularization. The NumPy :class:`~imgclass.nn.models.Classifier` adds
  ``reg/2 * ||W||^2`` (``"half"``) or ``reg * ||W||^2`` (``"full"``) on weights
  only (affine and conv weights; never biases or batchnorm parameters). The
  torch engine does the same through the optimizer's weight decay on those
  weights (:func:`param_groups`): torch's ``SGD``/``Adam`` add
  ``weight_decay * W`` to the gradient, which is the gradient of the ``"half"``
  penalty with ``weight_decay = reg`` (``2 * reg`` for ``"full"``). The
  penalty itself is not in the loss the optimizer differentiates;
  :func:`l2_penalty` computes it for reporting and equivalence tests.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn
from torch.nn import functional as F

from imgclass.errors import ImgclassError

LOSSES = ("softmax", "hinge")


def _check(scores: torch.Tensor, y: torch.Tensor) -> None:
    if scores.ndim != 2 or y.shape != (len(scores),):
        raise ImgclassError(f"scores must be (N, C) and labels (N,), got {tuple(scores.shape)} and {tuple(y.shape)}")


def cross_entropy(scores: torch.Tensor, y: torch.Tensor, label_smoothing: float = 0.0) -> torch.Tensor:
    """Mean softmax cross-entropy of ``scores`` (N, C) against labels ``y`` (N,).

    ``label_smoothing`` eps trains against ``(1 - eps) * onehot + eps / C``.
    """
    _check(scores, y)
    if not 0.0 <= label_smoothing < 1.0:
        raise ImgclassError(f"label smoothing must lie in [0, 1), got {label_smoothing}")
    return F.cross_entropy(scores, y, label_smoothing=label_smoothing)


def hinge_loss(scores: torch.Tensor, y: torch.Tensor, margin: float = 1.0, average: str = "sum") -> torch.Tensor:
    """Multiclass SVM loss, averaged over the batch as :func:`imgclass.nn.losses.hinge_loss`.

    Parameters
    ----------
    scores : (N, C)
    y : (N,) int64 labels
    margin : float
    average : {"sum", "classes"}
        ``sum``: per-sample sum over the wrong classes; ``classes``: also
        divided by C (PyTorch's ``multi_margin_loss``).

    A margin of exactly 0 passes no gradient, as in the NumPy engine
    (``relu``'s gradient at 0 is 0).
    """
    _check(scores, y)
    if average not in ("sum", "classes"):
        raise ImgclassError(f"hinge average must be 'sum' or 'classes', got {average!r}")
    n, c = scores.shape
    correct = scores.gather(1, y[:, None])  # (N, 1)
    margins = F.relu(scores - correct + margin)  # (N, C)
    margins = margins.masked_fill(F.one_hot(y, c).bool(), 0.0)  # the true class is not a violation
    return margins.sum() / (n * (c if average == "classes" else 1))


def loss_function(loss: str = "softmax", *, hinge_average: str = "sum", margin: float = 1.0,
                  label_smoothing: float = 0.0) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """``loss(scores, y) -> scalar`` by the name the NumPy :class:`Classifier` uses."""
    if loss == "softmax":
        if not 0.0 <= label_smoothing < 1.0:
            raise ImgclassError(f"label smoothing must lie in [0, 1), got {label_smoothing}")
        return lambda scores, y: cross_entropy(scores, y, label_smoothing)
    if loss == "hinge":
        if label_smoothing:
            raise ImgclassError("label smoothing applies to the softmax loss only")
        if hinge_average not in ("sum", "classes"):
            raise ImgclassError(f"hinge average must be 'sum' or 'classes', got {hinge_average!r}")
        return lambda scores, y: hinge_loss(scores, y, margin, hinge_average)
    raise ImgclassError(f"loss must be one of {', '.join(LOSSES)}, got {loss!r}")


def decayed_parameters(module: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """Split parameters into ``(weights, others)``: L2 applies to the weights of affine and conv layers only."""
    decay_ids = {id(m.weight) for m in module.modules()
                 if isinstance(m, (nn.Linear, nn.modules.conv._ConvNd)) and m.weight is not None}
    params = [p for p in module.parameters() if p.requires_grad]
    return [p for p in params if id(p) in decay_ids], [p for p in params if id(p) not in decay_ids]


def _scale(reg: float, convention: str) -> float:
    if reg < 0:
        raise ImgclassError(f"regularization strength must be >= 0, got {reg}")
    if convention not in ("half", "full"):
        raise ImgclassError(f"L2 convention must be 'half' or 'full', got {convention!r}")
    return 0.5 if convention == "half" else 1.0


def l2_penalty(module: nn.Module, reg: float, convention: str = "half") -> torch.Tensor:
    """``reg/2 * sum ||W||^2`` (``"half"``) or ``reg * sum ||W||^2`` (``"full"``) over the decayed weights.

    The same number as the NumPy Classifier's regularization term; differentiable.
    """
    scale = _scale(reg, convention)
    weights, _ = decayed_parameters(module)
    if not weights:
        return torch.zeros(())
    return scale * reg * sum(w.square().sum() for w in weights)


def weight_decay(reg: float, convention: str = "half") -> float:
    """The optimizer ``weight_decay`` whose gradient equals the L2 penalty's: ``reg`` or ``2 * reg``."""
    return 2.0 * _scale(reg, convention) * reg


def param_groups(module: nn.Module, reg: float, convention: str = "half") -> list[dict]:
    """Optimizer parameter groups: decayed weights with :func:`weight_decay`, the rest with none.

    ``torch.optim.SGD(param_groups(model, reg), lr=...)`` then takes the same
    steps as the NumPy engine's SGD on ``Classifier(reg=reg)`` (and so for
    ``Adam``, whose ``weight_decay`` is also added to the gradient; not ``AdamW``).
    """
    weights, others = decayed_parameters(module)
    groups = [{"params": weights, "weight_decay": weight_decay(reg, convention)},
              {"params": others, "weight_decay": 0.0}]
    return [g for g in groups if g["params"]]
