"""Image folders: one subfolder per class, any format Pillow reads.

Two layouts are understood::

    PATH/cat/*.jpg, PATH/dog/*.png, ...            seeded, stratified train/test split
    PATH/train/cat/..., PATH/test/cat/..., ...     the split as given

Files whose suffix Pillow does not know (``notes.txt``) are ignored. A file
with an image suffix that cannot be decoded (damaged, truncated, not really
an image, a decompression bomb) is **skipped with a warning** naming it, so
one bad file does not stop a large import; the number skipped is recorded
in ``Dataset.notes``. A class left with no readable image is an error.

Images are decoded once into an on-disk cache (:mod:`imgclass.data.cache`) and come back as
:class:`~imgclass.data.cache.DiskImages`: a second load of an unchanged folder reads no image file,
and a folder larger than memory can be trained on in batches.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections import Counter
from pathlib import Path

import numpy as np

from imgclass.data.cache import DiskImages, cache_key, cache_root, decoded
from imgclass.data.dataset import Dataset
from imgclass.data.images import GRAY_MODES, image_extensions, open_image, to_array
from imgclass.data.splits import stratified_indices
from imgclass.errors import DataError
from imgclass.fileio import atomic_write

log = logging.getLogger(__name__)


def _class_dirs(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def _image_files(class_dir: Path, exts: set[str]) -> list[Path]:
    return sorted(
        p for p in class_dir.rglob("*")
        if p.is_file() and p.suffix.lower() in exts and not any(part.startswith(".") for part in p.relative_to(class_dir).parts)
    )


def _decoded_size(img) -> tuple[int, int]:
    """(H, W) of ``img`` as :func:`to_array` sees it, i.e. after EXIF orientation, from the header."""
    h, w = img.height, img.width
    if img.format == "TIFF":
        return h, w  # Pillow's TIFF reader already reports the oriented size
    if img.format == "PNG" and "exif" not in img.info:
        return h, w  # PngImageFile.getexif() would decode the whole image to look for a late eXIf chunk
    try:
        orientation = img.getexif().get(0x0112, 1)  # ExifTags.Base.Orientation
    except Exception:  # a damaged EXIF block; the decoding pass reports real problems
        orientation = 1
    return (w, h) if orientation in (5, 6, 7, 8) else (h, w)  # 5..8 turn the image by 90 degrees


def _scan(root: Path, classes: list[str], exts: set[str]) -> list[tuple[Path, int]]:
    """(file, label) pairs under ``root/<class>/``."""
    items = []
    for label, name in enumerate(classes):
        d = root / name
        if d.is_dir():
            items += [(p, label) for p in _image_files(d, exts)]
    return items


def _decode_all(items, size, channels, progress: bool, source: str) -> tuple[DiskImages, np.ndarray, list[str]]:
    """Decode ``items`` once into the on-disk cache (:mod:`imgclass.data.cache`); later loads read it."""
    def decode(path: Path) -> np.ndarray:
        with open_image(path) as img:
            return to_array(img, size, channels, str(path))

    return decoded(items, size, channels, decode, source=source, progress=progress, logger=log)


def _headers(files: list[Path]) -> tuple[Counter, bool]:
    """How many images have each (H, W), and whether all are gray: read from the headers, or from the cache."""
    memo = cache_root() / f"headers-{cache_key(files, (0, 0), 0)}.json"
    try:
        saved = json.loads(memo.read_text())
        return Counter({tuple(k): v for k, v in saved["sizes"]}), bool(saved["gray"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    sizes, gray = Counter(), True
    for p in files:
        try:
            with open_image(p) as img:
                sizes[_decoded_size(img)] += 1
                gray &= img.mode in GRAY_MODES
        except DataError:
            pass  # reported once, in the decoding pass
    with contextlib.suppress(OSError):
        memo.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(memo, "w") as f:
            json.dump({"sizes": [[list(k), v] for k, v in sizes.items()], "gray": gray}, f)
    return sizes, gray


def load_folder(
    path: str,
    image_size: int | tuple[int, int] | None = None,
    channels: int | None = None,
    test_fraction: float = 0.2,
    seed: int = 0,
    progress: bool = True,
) -> Dataset:
    """Load ``folder:PATH``.

    Parameters
    ----------
    image_size : int or (H, W), optional
        Every image is resized to this. Default: the most common size found.
    channels : {1, 3}, optional
        Default: 1 if every image is grayscale, else 3.
    test_fraction, seed :
        The seeded stratified train/test split, used only when the folder
        has no ``train/`` and ``test/`` subfolders.
    """
    if channels is not None and channels not in (1, 3):
        raise DataError(f"channels must be 1 (grayscale) or 3 (RGB), got {channels}")
    root = Path(path).expanduser()
    if not root.is_dir():
        raise DataError(f"folder:{path}: directory does not exist")
    split_layout = (root / "train").is_dir() and (root / "test").is_dir()
    train_root = root / "train" if split_layout else root
    classes = [p.name for p in _class_dirs(train_root)]
    if not classes:
        raise DataError(
            f"folder:{path}: no class subfolders; expected PATH/<class>/<image> "
            "or PATH/train/<class>/... and PATH/test/<class>/..."
        )
    exts = image_extensions()
    train_items = _scan(train_root, classes, exts)
    test_items = []
    if split_layout:
        unknown = sorted({p.name for p in _class_dirs(root / "test")} - set(classes))
        if unknown:
            raise DataError(f"folder:{path}: test/ has classes missing from train/: {', '.join(unknown)}")
        test_items = _scan(root / "test", classes, exts)

    # First pass, headers only: pick the default size and channel count (remembered for unchanged files).
    sizes, gray = _headers([p for p, _ in train_items + test_items])
    if not sizes:
        raise DataError(f"folder:{path}: no readable images (looked for suffixes like .png, .jpg)")
    if image_size is None:
        size = sizes.most_common(1)[0][0]
    elif isinstance(image_size, int):
        size = (image_size, image_size)
    else:
        size = tuple(image_size)
    if len(size) != 2 or min(size) < 1:
        raise DataError(f"image_size must be a positive int or (H, W), got {image_size!r}")
    channels = channels if channels is not None else (1 if gray else 3)

    x_train, y_train, skipped = _decode_all(train_items, size, channels, progress, f"{root.resolve()} train")
    x_test, y_test, skipped_test = _decode_all(test_items, size, channels, progress, f"{root.resolve()} test")
    skipped += skipped_test
    empty = [c for k, c in enumerate(classes) if not np.any(y_train == k) and not np.any(y_test == k)]
    if empty:
        raise DataError(f"folder:{path}: no readable images for class(es) {', '.join(empty)}")
    if not split_layout and test_fraction > 0:
        counts = np.bincount(y_train, minlength=len(classes))
        few = [f"{c} ({n})" for c, n in zip(classes, counts) if n < 2]
        if few:
            raise DataError(f"folder:{path}: too few images in class(es) {', '.join(few)}: a seeded test split "
                            "(--test-fraction) needs at least 2 per class, one to train on and one to test; add "
                            "images, or give the folder train/ and test/ subfolders")
    untrained = [c for k, c in enumerate(classes) if split_layout and not np.any(y_train == k)]
    if untrained:
        raise DataError(f"folder:{path}: no training images for class(es) {', '.join(untrained)} (only in test/); "
                        "a model cannot learn a class it never sees")
    if not split_layout:
        test_idx, train_idx = stratified_indices(y_train, test_fraction, seed)
        x_train, y_train, x_test, y_test = (x_train.take(train_idx), y_train[train_idx], x_train.take(test_idx),
                                            y_train[test_idx])
    notes = [f"skipped {len(skipped)} unreadable file(s): " + ", ".join(skipped[:5]) + (" ..." if len(skipped) > 5 else "")] if skipped else []
    return Dataset(
        name=f"folder:{path}", x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test,
        classes=classes, source=str(root), notes=notes,
    )
