"""Minibatch iteration with a fresh, seeded shuffle every epoch."""

from __future__ import annotations

from typing import Iterator

import numpy as np

from imgclass.errors import DataError


class Batches:
    """Iterate over ``(x_batch, y_batch)`` pairs, one epoch per ``iter()``.

    Epoch ``e`` visits the samples in the order ``default_rng([seed, e]).permutation(N)``:
    a different order every epoch, the same order for the same seed and
    epoch on every run, so a resumed run sees exactly the batches an
    uninterrupted one would. Every sample is visited once per epoch; with
    ``drop_last`` the final short batch is left out.

    Parameters
    ----------
    x : ndarray, shape (N, ...)
    y : ndarray, shape (N,)
    batch_size : int
    seed : int
    shuffle : bool
        False keeps the stored order (for evaluation).
    drop_last : bool
    epoch : int
        The epoch the next ``iter()`` produces; it advances after each full pass.
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, batch_size: int, *, seed: int = 0,
                 shuffle: bool = True, drop_last: bool = False, epoch: int = 0):
        if len(x) != len(y):
            raise DataError(f"{len(x)} inputs but {len(y)} labels")
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise DataError(f"batch_size must be a positive integer, got {batch_size!r}")
        if drop_last and batch_size > len(x):
            raise DataError(f"batch_size {batch_size} exceeds the {len(x)} samples and drop_last is set: no batch would remain")
        self.x, self.y = x, y
        self.batch_size = int(batch_size)
        self.seed = seed
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.epoch = epoch

    def __len__(self) -> int:
        n = len(self.y)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def order(self, epoch: int) -> np.ndarray:
        """Sample indices in the order epoch ``epoch`` visits them."""
        n = len(self.y)
        return np.random.default_rng([self.seed, epoch]).permutation(n) if self.shuffle else np.arange(n)

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        idx = self.order(self.epoch)
        stop = len(self) * self.batch_size if self.drop_last else len(idx)
        for i in range(0, stop, self.batch_size):
            b = idx[i:i + self.batch_size]
            yield self.x[b], self.y[b]
        self.epoch += 1
