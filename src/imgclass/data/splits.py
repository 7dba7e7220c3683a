"""Seeded train/validation splits and training subsets.

Every function takes an explicit ``seed``; the same seed gives the same
indices on every machine (NumPy's PCG64 generator).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from imgclass.data.dataset import Dataset
from imgclass.errors import DataError


@dataclass
class Split:
    """Train, validation and test arrays of one dataset, still uint8 (N, C, H, W).

    ``x_val`` / ``y_val`` are empty (length 0) when no validation part was asked for.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: list[str]
    name: str = ""

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.y_train), "val": len(self.y_val), "test": len(self.y_test)}


def _count(size: float | int, n: int, what: str) -> int:
    """A fraction (float in [0, 1)) or a count (int in [0, n)) -> a count."""
    if isinstance(size, (bool, np.bool_)) or not isinstance(size, numbers.Real):
        raise DataError(f"{what} must be a fraction or a count, got {size!r}")
    if isinstance(size, numbers.Integral):
        if not 0 <= size < n:
            raise DataError(f"{what} as a count must lie in [0, {n}) for {n} samples, got {size}")
        return int(size)
    if not 0.0 <= size < 1.0:
        raise DataError(f"{what} as a fraction must lie in [0, 1), got {size} (pass an integer for a count)")
    return int(round(size * n))


def check_split_size(size: float | int, what: str = "val (--val)") -> float | int:
    """``size`` if it can size a split at all (a fraction in [0, 1) or a count >= 0); checked before data loads."""
    if isinstance(size, (bool, np.bool_)) or not isinstance(size, numbers.Real):
        raise DataError(f"{what} must be a fraction or a count, got {size!r}")
    if isinstance(size, numbers.Integral) and size < 0 or not isinstance(size, numbers.Integral) and \
            not 0.0 <= size < 1.0:
        raise DataError(f"{what} must be a fraction in [0, 1) or a count >= 0 (an integer), got {size}")
    return size


def check_train_fraction(fraction: float) -> float:
    """``fraction`` if it can pick a part of a training split: a real number in (0, 1]; checked before data loads."""
    if isinstance(fraction, (bool, np.bool_)) or not isinstance(fraction, numbers.Real) or not 0 < fraction <= 1:
        raise DataError(f"train_fraction must be in (0, 1], got {fraction!r}")
    return fraction


def stratified_indices(y: np.ndarray, size: float | int, seed: int, stratify: bool = True,
                       what: str = "split size") -> tuple[np.ndarray, np.ndarray]:
    """Pick ``size`` (fraction or count) of the samples; return (picked, rest), each sorted.

    With ``stratify`` each class contributes in proportion to its frequency
    (largest-remainder rounding so the total is exact); otherwise the pick is
    a plain seeded permutation.
    """
    y = np.asarray(y)
    n = len(y)
    k = _count(size, n, what)
    rng = np.random.default_rng(seed)
    if not stratify or k == 0:
        perm = rng.permutation(n)
        return np.sort(perm[:k]), np.sort(perm[k:])
    classes, counts = np.unique(y, return_counts=True)
    exact = counts * (k / n)
    take = np.floor(exact).astype(int)
    short = k - take.sum()
    if short:  # hand the remaining picks to the classes with the largest remainders
        order = np.lexsort((rng.random(len(classes)), -(exact - take)))
        take[order[:short]] += 1
    picked = [rng.permutation(np.flatnonzero(y == c))[:t] for c, t in zip(classes, take)]
    picked = np.sort(np.concatenate(picked)) if picked else np.array([], dtype=int)
    rest = np.setdiff1d(np.arange(n), picked, assume_unique=True)
    return picked, rest


def make_split(
    dataset: Dataset,
    val: float | int = 0.1,
    *,
    seed: int = 0,
    stratify: bool = True,
    train_fraction: float = 1.0,
) -> Split:
    """Split ``dataset``'s training part into train and validation; keep its test part.

    Parameters
    ----------
    val : float or int
        Validation size: a fraction in [0, 1) of the training part, or a
        count. 0 gives an empty validation set.
    seed : int
        Seeds both the validation split and the training subset.
    stratify : bool
        Keep class proportions in the validation split and the subset.
    train_fraction : float
        Keep only this fraction (0, 1] of the remaining training samples
        (e.g. 0.1 for a 10% training-size study). The validation set does
        not change with it.
    """
    check_train_fraction(train_fraction)
    if len(dataset.y_test) == 0:  # refused before any training: every run ends with its one test evaluation
        raise DataError(f"{dataset.name} has no test images, and every run is tested once at the end: give a "
                        "folder dataset a test/ subfolder or --test-fraction > 0 (e.g. 0.2)")
    val_idx, train_idx = stratified_indices(dataset.y_train, val, seed, stratify, what="val (--val)")
    if train_fraction < 1.0:
        keep, _ = stratified_indices(dataset.y_train[train_idx], train_fraction, seed + 1, stratify)
        train_idx = train_idx[keep]
    if len(train_idx) == 0:
        raise DataError("the training split is empty; use a smaller validation size or a larger train_fraction")
    return Split(  # take: a copy of an array's rows, an index of on-disk images (DiskImages)
        x_train=dataset.x_train.take(train_idx, axis=0), y_train=dataset.y_train[train_idx],
        x_val=dataset.x_train.take(val_idx, axis=0), y_val=dataset.y_train[val_idx],
        x_test=dataset.x_test, y_test=dataset.y_test, classes=list(dataset.classes), name=dataset.name,
    )
