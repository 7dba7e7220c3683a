"""Copy weights between the NumPy and the PyTorch engine.

Both engines build the same layers in the same order from one
:class:`~imgclass.modelspec.ModelSpec`, so parameters pair up one-to-one:

- ``Linear`` / ``nn.Linear``: ``w`` (D_in, D_out) -> ``weight`` (D_out, D_in),
  **transposed**; ``b`` -> ``bias``.
- ``Conv2d`` / ``nn.Conv2d``: ``w`` -> ``weight``, both (F, C, KH, KW); ``b`` -> ``bias``.
- ``BatchNorm`` / ``nn.BatchNorm1d`` or ``2d``: ``gamma`` -> ``weight``,
  ``beta`` -> ``bias``; buffers ``running_mean`` and ``running_var`` by name.

Torch's ``num_batches_tracked`` has no NumPy counterpart and is left alone
(it only matters for ``momentum=None``, which neither engine uses). Layers
without parameters (ReLU, pooling, dropout) must appear in the same order
too; ``Flatten`` is ignored, because NumPy's affine layer flattens by itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from imgclass.errors import ImgclassError
from imgclass.nn import layers as L

_KEYS = {"w": "weight", "b": "bias", "gamma": "weight", "beta": "bias"}


@dataclass(frozen=True)
class Pair:
    """One tensor present in both engines.

    Attributes
    ----------
    numpy_name : str
        Key in ``Classifier.state_dict()``, e.g. ``"param/0.w"`` or ``"buffer/1.running_mean"``.
    torch_name : str
        Key in ``module.state_dict()``, e.g. ``"1.weight"``.
    transpose : bool
        The layouts are transposes of each other (affine weights).
    """

    numpy_name: str
    torch_name: str
    transpose: bool = False


def _numpy_layers(net, prefix: str = "") -> list[tuple[str, L.Module]]:
    if isinstance(net, L.Sequential):
        return [pl for i, layer in enumerate(net.layers) for pl in _numpy_layers(layer, f"{prefix}{i}.")]
    if isinstance(net, L.Flatten):
        return []
    return [(prefix, net)]


def _torch_layers(module: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(name + "." if name else "", m) for name, m in module.named_modules()
            if not list(m.children()) and not isinstance(m, (nn.Flatten, nn.Identity))]


def _kind(layer) -> str:
    if isinstance(layer, L.BatchNorm):
        return "BatchNorm2d" if layer.spatial else "BatchNorm1d"
    return type(layer).__name__


def _config(layer) -> tuple:
    """What must agree besides the kind: sizes, geometry, options."""
    if isinstance(layer, (L.Conv2d, nn.Conv2d)):
        c_in = layer.c_in if isinstance(layer, L.Conv2d) else layer.in_channels
        c_out = layer.c_out if isinstance(layer, L.Conv2d) else layer.out_channels
        pair = lambda v: tuple(v) if isinstance(v, (tuple, list)) else (v, v)  # noqa: E731
        return (c_in, c_out, pair(layer.kernel if isinstance(layer, L.Conv2d) else layer.kernel_size),
                pair(layer.stride), pair(layer.padding), pair(layer.dilation))
    if isinstance(layer, (L.BatchNorm, nn.modules.batchnorm._BatchNorm)):
        return (layer.num_features, float(layer.eps), float(layer.momentum))
    if isinstance(layer, (L.MaxPool2d, nn.MaxPool2d, nn.AvgPool2d)):  # L.AvgPool2d is an L.MaxPool2d
        pair = lambda v: tuple(v) if isinstance(v, (tuple, list)) else (v, v)  # noqa: E731
        kernel = pair(layer.kernel if isinstance(layer, L.MaxPool2d) else layer.kernel_size)
        stride = kernel if layer.stride is None else pair(layer.stride)
        return (kernel, stride)
    if isinstance(layer, (L.Dropout, nn.Dropout)):
        return (float(layer.p),)
    return ()


def mapping(classifier, module: nn.Module) -> list[Pair]:
    """Pair every parameter and batchnorm buffer of a NumPy classifier with the torch module's.

    Parameters
    ----------
    classifier : imgclass.nn.models.Classifier
    module : torch.nn.Module
        Typically :func:`imgclass.deep.build_torch` of the same spec.

    Returns
    -------
    list of Pair
        In layer order.

    Raises
    ------
    ImgclassError
        When the layers, their sizes or their parameters do not correspond.
    """
    if not hasattr(classifier, "net"):
        raise ImgclassError(f"expected a NumPy Classifier, got {type(classifier).__name__}")
    if not isinstance(module, nn.Module):
        raise ImgclassError(f"expected a torch.nn.Module, got {type(module).__name__}")
    np_layers = _numpy_layers(classifier.net)
    t_layers = _torch_layers(module)
    np_kinds = [_kind(layer) for _, layer in np_layers]
    t_kinds = [type(m).__name__ for _, m in t_layers]
    if np_kinds != t_kinds:
        raise ImgclassError(f"the two models have different layers: numpy {np_kinds}, torch {t_kinds}; "
                            "build both from the same ModelSpec")
    np_state, t_state = classifier.state_dict(), module.state_dict()
    pairs: list[Pair] = []
    for (np_prefix, a), (t_prefix, b) in zip(np_layers, t_layers):
        where = f"layer {np_prefix}{_kind(a)}"
        if _config(a) != _config(b):
            raise ImgclassError(f"{where}: numpy {_config(a)} differs from torch {_config(b)}")
        t_params = {n for n, _ in b.named_parameters(recurse=False)}
        mapped = {_KEYS[k] for k in a.params}
        if mapped != t_params:
            raise ImgclassError(f"{where}: numpy parameters {sorted(a.params)} do not match torch {sorted(t_params)} "
                                "(a bias on one side only?)")
        for k in a.params:
            transpose = isinstance(a, L.Linear) and k == "w"
            pairs.append(Pair(f"param/{np_prefix}{k}", f"{t_prefix}{_KEYS[k]}", transpose))
        for k in a.buffers:
            pairs.append(Pair(f"buffer/{np_prefix}{k}", f"{t_prefix}{k}"))
    for p in pairs:
        shape = np_state[p.numpy_name].shape
        if tuple(shape[::-1] if p.transpose else shape) != tuple(t_state[p.torch_name].shape):
            raise ImgclassError(f"{p.numpy_name} has shape {shape}, torch {p.torch_name} "
                                f"{tuple(t_state[p.torch_name].shape)}")
    return pairs


def numpy_to_torch(classifier, module: nn.Module) -> nn.Module:
    """Copy every parameter and batchnorm running buffer from the NumPy classifier into ``module``.

    Values are cast to each torch tensor's dtype and stay on its device.
    Returns ``module``.
    """
    pairs = mapping(classifier, module)
    src, dst = classifier.state_dict(), module.state_dict()
    with torch.no_grad():
        for p in pairs:
            a = src[p.numpy_name]
            dst[p.torch_name].copy_(torch.from_numpy(np.ascontiguousarray(a.T if p.transpose else a)))
    return module


def torch_to_numpy(module: nn.Module, classifier):
    """Copy every parameter and batchnorm running buffer from ``module`` into the NumPy classifier.

    Values are cast to each NumPy array's dtype and written in place (optimizers
    holding the arrays keep seeing them). Returns ``classifier``.
    """
    pairs = mapping(classifier, module)
    src, dst = module.state_dict(), classifier.state_dict()
    for p in pairs:
        t = src[p.torch_name].detach().to("cpu")
        a = t.numpy() if t.dtype != torch.bfloat16 else t.float().numpy()
        dst[p.numpy_name][...] = a.T if p.transpose else a
    return classifier
