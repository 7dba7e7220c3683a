"""PyTorch models built from a :class:`~imgclass.modelspec.ModelSpec`.

Linear, MLP and CNN models are the *twins* of their NumPy builds: the
NumPy network is built from the spec and translated layer by layer
(:func:`torch_twin`), so both engines have the same layers in the same
order by construction, and the torch model starts from the very weights the
NumPy engine would (same spec and seed, same initial point). The only
addition is an ``nn.Flatten`` in front of a leading affine layer (NumPy's
affine flattens its input itself). ResNets exist on this engine only.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from imgclass.deep.convert import numpy_to_torch
from imgclass.deep.fastnet import FastNet
from imgclass.deep.transfer import TransferNet
from imgclass.errors import ImgclassError
from imgclass.modelspec import ModelSpec, build_numpy
from imgclass.nn import layers as L


def build_torch(spec: ModelSpec, in_shape: tuple[int, ...], num_classes: int, *, seed: int = 0,
                pretrained: bool = False, finetune: str = "head") -> nn.Module:
    """The PyTorch model a spec describes, in float32 on the CPU.

    Parameters
    ----------
    spec : ModelSpec
    in_shape : tuple of int
        One input's shape, ``(C, H, W)`` (or ``(D,)`` for linear/MLP models).
    num_classes : int
    seed : int
        Initial weights. Linear/MLP/CNN: exactly those of
        ``build_numpy(spec, in_shape, num_classes, seed=seed)``. Torch's global
        random state is left untouched.
    pretrained, finetune
        EfficientNet (:class:`imgclass.deep.transfer.TransferNet`): start from the ImageNet weights; train the
        new classifier only (``"head"``) or every layer (``"all"``).

    Returns
    -------
    torch.nn.Module
        ``nn.Sequential`` (linear, mlp, cnn) or :class:`ResNet`; maps
        ``(N, *in_shape)`` to class scores ``(N, num_classes)``.
    """
    if not isinstance(spec, ModelSpec):
        raise ImgclassError(f"expected a ModelSpec, got {type(spec).__name__}")
    with torch.random.fork_rng(devices=[]):  # module constructors draw from the global RNG; keep it as it was
        if spec.kind in ("resnet", "fast", "efficientnet"):
            if len(in_shape) != 3:
                raise ImgclassError(f"a {spec.kind} net needs images (C, H, W), got input shape {tuple(in_shape)}")
            if spec.kind == "fast":
                return FastNet(in_shape[0], num_classes, widths=spec.widths, seed=seed)
            if spec.kind == "efficientnet":
                return TransferNet(in_shape[0], num_classes, size=spec.size, dropout=spec.dropout, hidden=spec.hidden,
                                   pretrained=pretrained, finetune=finetune, seed=seed)
            return ResNet(in_shape[0], num_classes, blocks=spec.blocks, widths=spec.widths, dropout=spec.dropout,
                          seed=seed)
        classifier = build_numpy(spec, in_shape, num_classes, seed=seed, dtype=np.float32)
        module = torch_twin(classifier.net)
        numpy_to_torch(classifier, module)
        return module


def torch_twin(net: L.Sequential) -> nn.Sequential:
    """A ``torch.nn.Sequential`` with the same layers, sizes and options as a NumPy ``Sequential``.

    Its parameters are freshly initialised; copy weights with
    :func:`imgclass.deep.convert.numpy_to_torch`.

    Raises
    ------
    ImgclassError
        For a NumPy layer with no torch counterpart here.
    """
    out: list[nn.Module] = []
    for i, layer in enumerate(net.layers):
        if isinstance(layer, L.Linear):
            if i == 0:
                out.append(nn.Flatten())  # (N, C, H, W) -> (N, C*H*W); NumPy's affine reshapes itself
            out.append(nn.Linear(layer.d_in, layer.d_out, bias=layer.bias))
        elif isinstance(layer, L.Conv2d):
            out.append(nn.Conv2d(layer.c_in, layer.c_out, layer.kernel, stride=layer.stride, padding=layer.padding,
                                 dilation=layer.dilation, bias=layer.bias))
        elif isinstance(layer, L.BatchNorm):
            bn = nn.BatchNorm2d if layer.spatial else nn.BatchNorm1d
            out.append(bn(layer.num_features, eps=layer.eps, momentum=layer.momentum))
        elif isinstance(layer, L.AvgPool2d):  # before MaxPool2d: AvgPool2d subclasses it
            out.append(nn.AvgPool2d(layer.kernel, layer.stride))
        elif isinstance(layer, L.MaxPool2d):
            out.append(nn.MaxPool2d(layer.kernel, layer.stride))
        elif isinstance(layer, L.ReLU):
            out.append(nn.ReLU())
        elif isinstance(layer, L.Flatten):
            out.append(nn.Flatten())
        elif isinstance(layer, L.Dropout):
            out.append(nn.Dropout(layer.p))
        else:
            raise ImgclassError(f"layer {i} ({layer!r}) has no PyTorch twin; build this model on the numpy engine")
    return nn.Sequential(*out)


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with an identity (or 1x1 conv-BN projection) shortcut.

    (N, C_in, H, W) -> (N, C_out, ceil(H / stride), ceil(W / stride))
    """

    def __init__(self, c_in: int, c_out: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Sequential()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))  # (N, C_out, H/s, W/s)
        out = self.bn2(self.conv2(out))  # (N, C_out, H/s, W/s)
        return F.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    """A small ResNet for 28x28 / 32x32 images (He et al. 2016, the CIFAR variant).

    Stem conv 3x3 - BN - ReLU, then one stage per entry of ``widths`` with
    ``blocks[i]`` :class:`BasicBlock` s (stride 2 from the second stage on),
    global average pooling, (dropout), affine. Depth is ``2 * sum(blocks) + 2``:
    ``blocks=(1, 1, 1)`` is ResNet-8, ``(3, 3, 3)`` ResNet-20.

    Parameters
    ----------
    in_channels : int
    num_classes : int
    blocks, widths : tuple of int, same length
    dropout : float
        Before the final affine layer.
    seed : int
        Initial weights (a private generator: Kaiming normal fan-out for convs,
        BN scale 1 and shift 0, PyTorch's default uniform for the affine layer).
    """

    def __init__(self, in_channels: int, num_classes: int, *, blocks=(1, 1, 1), widths=(16, 32, 64),
                 dropout: float = 0.0, seed: int = 0):
        super().__init__()
        if len(blocks) != len(widths) or not blocks:
            raise ImgclassError(f"resnet needs one width per stage: blocks {tuple(blocks)}, widths {tuple(widths)}")
        self.depth = 2 * sum(blocks) + 2
        self.stem = nn.Sequential(nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False),
                                  nn.BatchNorm2d(widths[0]), nn.ReLU())
        stages, c = [], widths[0]
        for i, (n, w) in enumerate(zip(blocks, widths)):
            stride = 1 if i == 0 else 2
            stage = [BasicBlock(c if j == 0 else w, w, stride if j == 0 else 1) for j in range(n)]
            stages.append(nn.Sequential(*stage))
            c = w
        self.stages = nn.Sequential(*stages)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(c, num_classes)
        self.reset_parameters(seed)

    def reset_parameters(self, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu", generator=g)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.kaiming_uniform_(m.weight, a=math.sqrt(5), generator=g)
                bound = 1.0 / math.sqrt(m.in_features)
                nn.init.uniform_(m.bias, -bound, bound, generator=g)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)  # (N, widths[0], H, W)
        x = self.stages(x)  # (N, widths[-1], H / 2**(stages-1), W / 2**(stages-1))
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)  # (N, widths[-1])
        return self.fc(self.dropout(x))  # (N, num_classes)

    def extra_repr(self) -> str:
        return f"depth={self.depth}"
