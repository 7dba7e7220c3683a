"""The PyTorch engine: models from a ModelSpec, weight conversion, losses, augmentation, devices.

Everything the Trainer needs on this engine::

    from imgclass.deep import build_torch, numpy_to_torch, torch_to_numpy
    from imgclass.deep import Augment, loss_function, param_groups, l2_penalty
    from imgclass.deep import resolve_device, prepare_model, to_device, autocast, grad_scaler
"""

from imgclass.deep.augment import Augment, color_jitter, random_crop, random_flip
from imgclass.deep.convert import mapping, numpy_to_torch, torch_to_numpy
from imgclass.deep.device import (
    amp_dtype, autocast, grad_scaler, is_channels_last, prepare_model, resolve_device, to_device,
)
from imgclass.deep.losses import cross_entropy, hinge_loss, l2_penalty, loss_function, param_groups, weight_decay
from imgclass.deep.models import BasicBlock, ResNet, build_torch, torch_twin

__all__ = [
    "Augment", "BasicBlock", "ResNet", "amp_dtype", "autocast", "build_torch", "color_jitter", "cross_entropy",
    "grad_scaler", "hinge_loss", "is_channels_last", "l2_penalty", "loss_function", "mapping", "numpy_to_torch",
    "param_groups", "prepare_model", "random_crop", "random_flip", "resolve_device", "to_device", "torch_to_numpy",
    "torch_twin", "weight_decay",
]
