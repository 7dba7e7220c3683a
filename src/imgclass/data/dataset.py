"""The in-memory form every loader returns."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from imgclass.errors import DataError


@dataclass
class Dataset:
    """A labelled image dataset with a train part and a test part.

    Attributes
    ----------
    name : str
        The name it was loaded by (``"fashion-mnist"``, ``"folder:/photos"``).
    x_train, x_test : ndarray of uint8, shape (N, C, H, W), or :class:`~imgclass.data.cache.DiskImages`
        Images, channels first, values 0..255 (a folder's stay on disk, read by rows).
    y_train, y_test : ndarray of int64, shape (N,)
        Class indices in ``0 .. len(classes) - 1``.
    classes : list of str
        Human-readable class names; ``classes[k]`` names label ``k``.
    source : str
        Where the data came from (a directory, a file, a package).
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: list[str]
    source: str = ""
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.y_train = np.asarray(self.y_train, dtype=np.int64)
        self.y_test = np.asarray(self.y_test, dtype=np.int64)
        self.classes = [str(c) for c in self.classes]
        for part in ("train", "test"):
            x, y = getattr(self, f"x_{part}"), getattr(self, f"y_{part}")
            check_images_labels(x, y, len(self.classes), f"{self.name} {part}")
        if self.x_train.shape[1:] != self.x_test.shape[1:]:
            raise DataError(
                f"{self.name}: train images are {self.x_train.shape[1:]} but test images are "
                f"{self.x_test.shape[1:]} (C, H, W); both parts must share one image shape"
            )

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        return tuple(self.x_train.shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def __repr__(self) -> str:
        return (
            f"Dataset({self.name!r}, train={len(self.y_train)}, test={len(self.y_test)}, "
            f"image_shape={self.image_shape}, classes={self.num_classes})"
        )


def check_images_labels(x: np.ndarray, y: np.ndarray, num_classes: int, what: str) -> None:
    """Raise :class:`DataError` unless ``x`` is uint8 NCHW and ``y`` matches it."""
    from imgclass.data.cache import is_images

    if not is_images(x):
        shape = getattr(x, "shape", None)
        dtype = getattr(x, "dtype", type(x).__name__)
        raise DataError(f"{what}: images must be a uint8 array (N, C, H, W), got {dtype} {shape}")
    if y.ndim != 1 or len(y) != len(x):
        raise DataError(
            f"{what}: {len(x)} images but labels of shape {y.shape}; "
            "every image needs exactly one label"
        )
    if len(y) and (y.min() < 0 or y.max() >= num_classes):
        raise DataError(
            f"{what}: labels must lie in 0..{num_classes - 1} for {num_classes} classes, "
            f"found {y.min()}..{y.max()}"
        )
