"""scikit-learn's bundled 8x8 handwritten digits: the offline default dataset."""

from __future__ import annotations

import numpy as np

from imgclass.data.dataset import Dataset
from imgclass.data.splits import stratified_indices
from imgclass.errors import DataError


def load_digits(seed: int = 0, test_fraction: float = 0.25) -> Dataset:
    """The 1,797 digits as uint8 (N, 1, 8, 8) images with a seeded, stratified train/test split.

    The originals hold 0..16 gray levels; they are scaled to 0..255 so that
    every dataset shares one value range. The same ``seed`` and
    ``test_fraction`` always give the same test set.
    """
    from sklearn.datasets import load_digits as sk_load_digits

    if not 0.0 < test_fraction < 1.0:
        raise DataError(f"test_fraction must be between 0 and 1, got {test_fraction}")
    bunch = sk_load_digits()
    x = np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)[:, None]  # (N, 8, 8) -> (N, 1, 8, 8)
    y = bunch.target.astype(np.int64)
    test_idx, train_idx = stratified_indices(y, test_fraction, seed)
    return Dataset(
        name="digits", x_train=x[train_idx], y_train=y[train_idx], x_test=x[test_idx], y_test=y[test_idx],
        classes=[str(d) for d in range(10)], source="sklearn.datasets.load_digits",
    )
