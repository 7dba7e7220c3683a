"""Batch-level data augmentation on tensors (N, C, H, W), on any device.

Every transform acts on the whole batch at once, with per-sample random
choices and no per-sample Python loop (in the spirit of airbench: augment
whole batches). Randomness comes from one explicit CPU ``torch.Generator``:
the draws (a few numbers per sample) are made on the CPU and moved to the
batch's device, so the same seed gives the same augmentation on a CPU and a
GPU, and :meth:`Augment.state_dict` captures everything needed to resume
bit for bit.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch.nn import functional as F

from imgclass.errors import ImgclassError

_GRAY = (0.299, 0.587, 0.114)  # ITU-R 601 luma weights of R, G, B


def _check(x: torch.Tensor) -> None:
    if not isinstance(x, torch.Tensor) or x.ndim != 4 or not x.is_floating_point():
        raise ImgclassError(f"augmentation needs a float tensor (N, C, H, W), got "
                            f"{getattr(x, 'dtype', type(x).__name__)} of shape {tuple(getattr(x, 'shape', ()))}")


def _draw(shape_tail: tuple[int, ...], n: int, rows, make) -> torch.Tensor:
    """Random draws for ``n`` samples, or for a whole batch of which ``x`` holds ``rows = (slice, total)``.

    Drawing for the whole batch and keeping one part is what makes a data-parallel process augment its
    part of a batch exactly as one process augments the whole batch.
    """
    if rows is None:
        return make((*shape_tail, n))
    part, total = rows
    return make((*shape_tail, total))[..., part]


def random_crop(x: torch.Tensor, padding: int, generator: torch.Generator, mode: str = "reflect",
                rows=None) -> torch.Tensor:
    """Pad by ``padding`` on every side, then crop back to (H, W) at a random offset per sample.

    Parameters
    ----------
    x : (N, C, H, W) float
    padding : int
        Offsets are uniform in ``0 .. 2 * padding`` on each axis (so a shift of
        up to ``padding`` pixels either way).
    generator : torch.Generator on the CPU
    mode : {"reflect", "zeros"}
    rows : (slice, int), optional
        ``x`` is rows ``slice`` of a batch of ``int`` samples: draw for the whole batch, use these rows.

    Returns
    -------
    (N, C, H, W), a new tensor
    """
    _check(x)
    if mode not in ("reflect", "zeros"):
        raise ImgclassError(f"crop padding mode must be 'reflect' or 'zeros', got {mode!r}")
    n, c, h, w = x.shape
    p = int(padding)
    if p <= 0:
        return x.clone()
    if mode == "reflect" and (p >= h or p >= w):
        raise ImgclassError(f"reflect padding {p} needs images larger than {p} pixels, got {h}x{w}; use mode='zeros'")
    padded = F.pad(x, (p, p, p, p), mode="reflect" if mode == "reflect" else "constant")  # (N, C, H+2p, W+2p)
    off = _draw((2,), n, rows, lambda size: torch.randint(0, 2 * p + 1, size, generator=generator))
    off = off.to(x.device)  # (2, N): row, column offsets
    row_idx = off[0, :, None] + torch.arange(h, device=x.device)  # (N, H)
    col_idx = off[1, :, None] + torch.arange(w, device=x.device)  # (N, W)
    out = padded.gather(2, row_idx[:, None, :, None].expand(n, c, h, w + 2 * p))  # (N, C, H, W+2p)
    return out.gather(3, col_idx[:, None, None, :].expand(n, c, h, w))  # (N, C, H, W)


def flip_draws(n: int, generator: torch.Generator, p: float = 0.5, rows=None) -> torch.Tensor:
    """Which of ``n`` samples a random flip mirrors: (n,) bool on the CPU; ``rows`` as for random_crop."""
    return _draw((), n, rows, lambda size: torch.rand(size, generator=generator)) < p


def random_flip(x: torch.Tensor, generator: torch.Generator, p: float = 0.5, rows=None) -> torch.Tensor:
    """Mirror each sample left-right with probability ``p``. (N, C, H, W) -> (N, C, H, W); ``rows`` as for random_crop."""
    _check(x)
    flip = flip_draws(len(x), generator, p, rows).to(x.device)  # (N,)
    return torch.where(flip[:, None, None, None], x.flip(3), x)


def color_jitter(x: torch.Tensor, strength: float, generator: torch.Generator, *,
                 mean: Sequence[float] | None = None, std: Sequence[float] | None = None, rows=None) -> torch.Tensor:
    """Random brightness, contrast and saturation per RGB sample (a copy for other channel counts).

    Each factor is uniform in ``[1 - strength, 1 + strength]``, per sample,
    applied in that order as in torchvision's ``ColorJitter``: brightness scales
    the image, contrast blends it with its mean gray level, saturation with
    its gray version. Values are not clipped (the batch's value range is not
    known here).

    Parameters
    ----------
    x : (N, 3, H, W) float, pixel values (0 is black) unless ``mean``/``std`` are given
    strength : float in [0, 1)
    generator : torch.Generator on the CPU
    mean, std : per-channel statistics the batch was normalized with, if any;
        the jitter then acts on ``x * std + mean`` and the result is normalized back.
    rows : as for :func:`random_crop`
    """
    _check(x)
    if not 0.0 <= strength < 1.0:
        raise ImgclassError(f"colour jitter strength must lie in [0, 1), got {strength}")
    if x.shape[1] != 3 or strength == 0.0:
        return x.clone()  # grayscale (or other) images: colour jitter does not apply
    n = len(x)
    u = _draw((3,), n, rows, lambda size: torch.rand(size, generator=generator))
    factors = (1.0 + strength * (2.0 * u - 1.0)).to(x.device, x.dtype)  # (3, N)
    b, c, s = (f[:, None, None, None] for f in factors)  # each (N, 1, 1, 1)
    if mean is not None or std is not None:
        m = torch.as_tensor(mean if mean is not None else (0.0,) * 3, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        sd = torch.as_tensor(std if std is not None else (1.0,) * 3, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        x = x * sd + m
    weights = torch.tensor(_GRAY, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    x = x * b  # brightness
    level = (x * weights).sum(1, keepdim=True).mean((2, 3), keepdim=True)  # (N, 1, 1, 1) mean gray level
    x = (x - level) * c + level  # contrast
    gray = (x * weights).sum(1, keepdim=True)  # (N, 1, H, W)
    x = (x - gray) * s + gray  # saturation
    if mean is not None or std is not None:
        x = (x - m) / sd
    return x


class Augment:
    """Crop with padding, horizontal flip and colour jitter on whole batches, seeded.

    Parameters
    ----------
    crop_padding : int
        Random crop after padding by this many pixels (0: no crop).
    flip : bool
        Mirror half of the samples left-right.
    jitter : float
        Colour jitter strength in [0, 1) (RGB only; 0: none).
    crop_mode : {"reflect", "zeros"}
    mean, std : sequences of 3 floats, optional
        Normalization statistics of the batches, for the colour jitter.
    seed : int

    Examples
    --------
    >>> aug = Augment(crop_padding=4, flip=True, seed=0)
    >>> xb = aug(xb)  # (N, C, H, W) -> (N, C, H, W)
    """

    def __init__(self, crop_padding: int = 0, flip: bool = False, jitter: float = 0.0, *, crop_mode: str = "reflect",
                 mean: Sequence[float] | None = None, std: Sequence[float] | None = None, seed: int = 0):
        if int(crop_padding) != crop_padding or crop_padding < 0:
            raise ImgclassError(f"crop padding must be an integer >= 0, got {crop_padding}")
        if not 0.0 <= jitter < 1.0:
            raise ImgclassError(f"colour jitter strength must lie in [0, 1), got {jitter}")
        if crop_mode not in ("reflect", "zeros"):
            raise ImgclassError(f"crop padding mode must be 'reflect' or 'zeros', got {crop_mode!r}")
        self.crop_padding, self.flip, self.jitter = int(crop_padding), bool(flip), float(jitter)
        self.crop_mode = crop_mode
        self.mean, self.std, self.seed = mean, std, seed
        self.generator = torch.Generator().manual_seed(seed)

    @property
    def active(self) -> bool:
        """Whether any transform is on (the identity otherwise)."""
        return bool(self.crop_padding or self.flip or self.jitter)

    def __call__(self, x: torch.Tensor, rows=None) -> torch.Tensor:
        """Augment a batch (N, C, H, W); returns a new tensor of the same shape, dtype and device.

        ``rows = (slice, total)``: ``x`` is that part of a batch of ``total`` (one data-parallel process's
        share); the draws are the whole batch's, so the parts together are augmented as the batch would be.
        """
        _check(x)
        if rows is not None and rows[0] == slice(0, rows[1]):
            rows = None
        if self.crop_padding:
            x = random_crop(x, self.crop_padding, self.generator, self.crop_mode, rows=rows)
        if self.flip:
            x = random_flip(x, self.generator, rows=rows)
        if self.jitter:
            x = color_jitter(x, self.jitter, self.generator, mean=self.mean, std=self.std, rows=rows)
        return x

    def flips(self, n: int, rows=None) -> torch.Tensor:
        """The draws of a flip alone for a batch of ``n``: (n,) bool, which samples are mirrored.

        What ``Augment(flip=True)`` would mirror of that batch; for data that are not images (a frozen
        backbone's features of the images and of their mirrors), so the same seed flips the same samples.
        """
        return flip_draws(n, self.generator, rows=rows)

    def state_dict(self) -> dict:
        """The generator's state: restoring it reproduces every later batch exactly."""
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        if set(state) != {"generator"}:
            raise ImgclassError(f"not an augmentation state: keys {sorted(state)}, expected ['generator']")
        try:
            self.generator.set_state(torch.as_tensor(state["generator"], dtype=torch.uint8).cpu())
        except RuntimeError as e:
            raise ImgclassError(f"corrupt augmentation state: {e}") from None

    def __repr__(self) -> str:
        return (f"Augment(crop_padding={self.crop_padding}, flip={self.flip}, jitter={self.jitter}, "
                f"crop_mode={self.crop_mode!r}, seed={self.seed})")
