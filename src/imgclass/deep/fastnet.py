"""The fast CIFAR-10 network (``ModelSpec`` kind ``fast``), after the ideas of Keller Jordan's airbench.

Written from those public ideas for imgclass, not copied::

    whitening stem   conv 2x2 (3 -> 24, no padding), frozen: the PCA whitening filters of 2x2 patches of
                     the training images and their negatives, set from the data before training (GELU)
    3 conv groups    conv 3x3 -> maxpool 2 -> BN -> GELU -> conv 3x3 -> BN -> GELU, widths e.g. 64/256/256;
                     convs without bias, the first filters initialized to the identity (dirac)
    head             global max pool -> linear (no bias) -> logits x 1/9

Batchnorm learns only its shift (the scale is fixed at 1, which a following conv can absorb), with a
tiny eps and fast-moving running statistics. ``(N, 3, 32, 32) -> (N, 10)``; other sizes work too (the
global max pool takes what is left).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from imgclass.errors import ImgclassError

WHITEN_WIDTH = 24  # 2x2x3 = 12 whitening directions and their negatives
LOGIT_SCALE = 1 / 9


class ScaleFreeBatchNorm(nn.BatchNorm2d):
    """Batchnorm whose scale stays 1: only the shift (bias) learns."""

    def __init__(self, channels: int, momentum: float = 0.4, eps: float = 1e-12):
        super().__init__(channels, eps=eps, momentum=momentum)
        self.weight.requires_grad_(False)


class ConvGroup(nn.Module):
    """conv -> maxpool 2 -> BN -> GELU -> conv -> BN -> GELU. (N, C_in, H, W) -> (N, C_out, H/2, W/2)."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)
        self.norm1 = ScaleFreeBatchNorm(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.norm2 = ScaleFreeBatchNorm(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.gelu(self.norm1(F.max_pool2d(self.conv1(x), 2)))
        return F.gelu(self.norm2(self.conv2(x)))


class FastNet(nn.Module):
    """Whitening stem, three conv groups, global max pool, scaled linear head.

    Parameters
    ----------
    in_channels : int (3 for CIFAR-10)
    num_classes : int
    widths : three ints, the conv groups' channels
    seed : int
        Initial weights (a private generator: PyTorch's default init, then dirac for the first
        ``min(c_in, c_out)`` filters of every 3x3 conv).
    """

    def __init__(self, in_channels: int, num_classes: int, widths=(64, 256, 256), seed: int = 0):
        super().__init__()
        if len(widths) != 3:
            raise ImgclassError(f"a fast net has three conv groups: give three widths, got {tuple(widths)}")
        self.whiten = nn.Conv2d(in_channels, 2 * 4 * in_channels, 2, bias=True)
        self.whiten.weight.requires_grad_(False)
        c_ins = [self.whiten.out_channels, *widths[:-1]]
        self.groups = nn.Sequential(*(ConvGroup(a, b) for a, b in zip(c_ins, widths)))
        self.head = nn.Linear(widths[-1], num_classes, bias=False)
        self.reset_parameters(seed)

    def reset_parameters(self, seed: int = 0) -> None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            for m in self.modules():
                if m is not self and hasattr(m, "reset_parameters"):
                    m.reset_parameters()
        with torch.no_grad():
            for m in self.modules():
                if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3):
                    nn.init.dirac_(m.weight[:min(m.in_channels, m.out_channels)])
            self.whiten.bias.zero_()
        self.whiten.weight.requires_grad_(False)
        for m in self.modules():
            if isinstance(m, ScaleFreeBatchNorm):
                m.weight.requires_grad_(False)

    @torch.no_grad()
    def init_from_data(self, x: torch.Tensor, eps: float = 5e-4) -> None:
        """Set the stem to the whitening filters of 2x2 patches of ``x`` (N, C, H, W), preprocessed images."""
        self.whiten.weight.copy_(whitening_filters(x, eps).to(self.whiten.weight))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.gelu(self.whiten(x))  # (N, 24, H-1, W-1)
        x = self.groups(x)  # (N, widths[-1], (H-1)/8, (W-1)/8)
        x = x.amax(dim=(2, 3))  # (N, widths[-1])
        return self.head(x) * LOGIT_SCALE  # (N, num_classes)


def whitening_filters(x: torch.Tensor, eps: float = 5e-4, k: int = 2) -> torch.Tensor:
    """PCA whitening filters of the ``k x k`` patches of ``x`` (N, C, H, W) and their negatives: (2 C k², C, k, k).

    Each eigenvector of the patch covariance, divided by the square root of its eigenvalue (+ ``eps``),
    largest first; the negatives let the GELU that follows keep both signs.
    """
    c = x.shape[1]
    patches = x.float().unfold(2, k, 1).unfold(3, k, 1)  # (N, C, H-k+1, W-k+1, k, k)
    patches = patches.permute(0, 2, 3, 1, 4, 5).reshape(-1, c * k * k)  # (P, C k k)
    patches = patches - patches.mean(0, keepdim=True)
    cov = (patches.T @ patches / len(patches)).double()  # (C k k, C k k)
    evals, evecs = torch.linalg.eigh(cov)  # ascending
    evals, evecs = evals.flip(0), evecs.flip(1)
    w = (evecs.T / torch.sqrt(evals.clamp_min(0) + eps)[:, None]).reshape(-1, c, k, k)
    return torch.cat([w, -w]).float()
