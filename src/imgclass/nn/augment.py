"""Batch augmentation for the NumPy engine, written from scratch: random horizontal flips and padded crops.

The same transforms as :mod:`imgclass.deep.augment` (the PyTorch engine's), on NumPy batches
(N, C, H, W): whole batches at once, per-sample random choices, no Python loop over samples,
and one explicit ``numpy.random.Generator`` whose state a checkpoint keeps, so a resumed run
draws exactly what an uninterrupted one would have.
"""

from __future__ import annotations

import numpy as np

from imgclass.errors import ImgclassError


def random_flip(x: np.ndarray, rng: np.random.Generator, p: float = 0.5) -> np.ndarray:
    """Mirror each sample left-right with probability ``p``. (N, C, H, W) -> (N, C, H, W), a new array."""
    flip = rng.random(len(x)) < p  # (N,)
    return np.where(flip[:, None, None, None], x[..., ::-1], x)


def random_crop(x: np.ndarray, padding: int, rng: np.random.Generator) -> np.ndarray:
    """Reflect-pad by ``padding`` on every side, then crop back to (H, W) at a random offset per sample.

    Offsets are uniform in ``0 .. 2 * padding`` on each axis (a shift of up to ``padding`` pixels
    either way). (N, C, H, W) -> (N, C, H, W), a new array.
    """
    n, c, h, w = x.shape
    p = int(padding)
    if p <= 0:
        return x.copy()
    if p >= h or p >= w:
        raise ImgclassError(f"crop padding {p} needs images larger than {p} pixels, got {h}x{w}")
    padded = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), mode="reflect")  # (N, C, H+2p, W+2p)
    off = rng.integers(0, 2 * p + 1, size=(2, n))  # (2, N): row and column offsets
    rows = off[0][:, None] + np.arange(h)  # (N, H)
    cols = off[1][:, None] + np.arange(w)  # (N, W)
    picked = np.take_along_axis(padded, rows[:, None, :, None], axis=2)  # (N, C, H, W+2p)
    return np.take_along_axis(picked, cols[:, None, None, :], axis=3)  # (N, C, H, W)


class Augment:
    """Padded random crops and horizontal flips of NumPy batches, seeded.

    Parameters
    ----------
    crop_padding : int
        Random crop after reflect padding by this many pixels (0: none).
    flip : bool
        Mirror half of the samples left-right.
    seed : int
    """

    def __init__(self, crop_padding: int = 0, flip: bool = False, seed: int = 0):
        self.crop_padding, self.flip = int(crop_padding), bool(flip)
        self.rng = np.random.default_rng(seed)

    @property
    def active(self) -> bool:
        return bool(self.crop_padding or self.flip)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Augment a batch (N, C, H, W); returns a new array of the same shape and dtype."""
        if x.ndim != 4:
            raise ImgclassError(f"augmentation needs images (N, C, H, W), got shape {x.shape}")
        if self.crop_padding:
            x = random_crop(x, self.crop_padding, self.rng)
        if self.flip:
            x = random_flip(x, self.rng)
        return x

    def state_dict(self) -> dict:
        return {"rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        self.rng.bit_generator.state = state["rng"]
