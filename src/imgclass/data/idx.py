"""MNIST-style IDX files: reader, writer and the MNIST / Fashion-MNIST loaders.

The IDX format (http://yann.lecun.com/exdb/mnist/) is a 4-byte magic number
``0x00 0x00 <type> <ndim>``, then ``ndim`` big-endian uint32 sizes, then the
data in C order, big-endian. Files may be gzip-compressed (detected by
content, not by name).
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path

import numpy as np

from imgclass.data.cache import cached_arrays

from imgclass.data.dataset import Dataset
from imgclass.data.download import download_dir, download_file, search_dirs
from imgclass.errors import DataError
from imgclass.fileio import atomic_write

# IDX type byte -> big-endian NumPy dtype.
IDX_TYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_TYPE_CODES = {dt.newbyteorder("="): code for code, dt in IDX_TYPES.items()}

#: The four standard files: role -> file name without compression suffix.
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

MNIST_CLASSES = [str(d) for d in range(10)]
FASHION_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]

#: Official download locations (mirrors tried in order) and md5 sums of the .gz files.
MNIST_URLS = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
]
MNIST_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
FASHION_URLS = ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"]
FASHION_MD5 = {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}


def _remote(name: str) -> tuple[list[str], dict[str, str], list[str]]:
    """(mirror URLs, md5 per file, class names), looked up at call time (tests patch them)."""
    if name == "mnist":
        return MNIST_URLS, MNIST_MD5, MNIST_CLASSES
    return FASHION_URLS, FASHION_MD5, FASHION_CLASSES


#: The largest IDX data part read (8 GiB; MNIST's largest file is 47 MB): a header that declares more is refused
#: before anything is allocated, as is one that declares more than the file holds.
MAX_IDX_BYTES = 8 * 2**30
#: The most classes an IDX label file may number (labels 0 .. MAX_CLASSES - 1).
MAX_CLASSES = 10_000


def read_idx(path: str | os.PathLike, max_bytes: int | None = None) -> np.ndarray:
    """Read an IDX file (raw or gzip) into a native-endian array.

    The header is read first and checked against the file (raw files: their size; gzip files: as
    the stream is read) and ``max_bytes`` (:data:`MAX_IDX_BYTES`), so a hostile header or a
    gzip bomb costs no more memory than the data it really holds.

    Raises
    ------
    DataError
        If the file is missing, the gzip stream is corrupt or truncated, the
        magic number is not IDX, or the data is shorter or longer than the
        header says.
    """
    path = Path(path)
    limit = MAX_IDX_BYTES if max_bytes is None else max_bytes
    try:
        with open(path, "rb") as raw_file:
            gz = raw_file.read(2) == b"\x1f\x8b"
            raw_file.seek(0)
            f = gzip.GzipFile(fileobj=raw_file) if gz else raw_file
            magic = f.read(4)
            if len(magic) < 4 or magic[0] != 0 or magic[1] != 0 or magic[2] not in IDX_TYPES or magic[3] == 0:
                raise DataError(
                    f"{path}: not an IDX file (magic number {magic.hex() or 'missing'}; "
                    "expected 0000 followed by a type byte 08..0e and the number of dimensions)"
                )
            dtype, ndim = IDX_TYPES[magic[2]], magic[3]
            dims = f.read(4 * ndim)
            if len(dims) < 4 * ndim:
                raise DataError(f"{path}: truncated IDX header ({4 + len(dims)} bytes)")
            shape = tuple(int(d) for d in np.frombuffer(dims, ">u4"))
            expected = math.prod(shape) * dtype.itemsize
            held = None if gz else os.fstat(raw_file.fileno()).st_size - 4 - 4 * ndim
            if expected > limit or (held is not None and held != expected):
                what = f"the file holds {held}" if held is not None and held != expected else \
                    f"imgclass reads at most {limit} ({limit / 2**30:g} GiB)"
                raise DataError(f"{path}: header says shape {shape} ({expected} data bytes) but {what}; "
                                "the file is truncated or damaged (or not a dataset file), replace it")
            data = f.read(expected)
            extra = len(f.read(1))
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a directory, expected an IDX file") from None
    except PermissionError as e:
        raise DataError(f"{path}: cannot read it ({e.strerror}); check its permissions") from None
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(
            f"{path}: corrupt or truncated gzip file ({e}); delete it and download it again"
        ) from e
    if len(data) != expected or extra:
        raise DataError(
            f"{path}: {'corrupt or truncated gzip file: ' if gz else ''}header says shape {shape} ({expected} data bytes) but the file holds "
            f"{len(data) + extra if extra else len(data)}{'+' if extra else ''}; the file is truncated or damaged, "
            "replace it"
        )
    return np.frombuffer(data, dtype).reshape(shape).astype(dtype.newbyteorder("="))


def write_idx(path: str | os.PathLike, array: np.ndarray) -> Path:
    """Write ``array`` as an IDX file, gzip-compressed if ``path`` ends in ``.gz``."""
    array = np.asarray(array)
    code = _TYPE_CODES.get(array.dtype.newbyteorder("="))
    if code is None:
        raise DataError(f"IDX cannot store dtype {array.dtype}")
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    body = header + array.astype(IDX_TYPES[code]).tobytes()
    path = Path(path)
    with atomic_write(path) as f:
        f.write(gzip.compress(body, mtime=0) if path.suffix == ".gz" else body)
    return path


def _find(directory: Path, stem: str) -> Path | None:
    # The official names, raw or .gz, and the dotted variant ("train-images.idx3-ubyte").
    dotted = stem.replace("-idx", ".idx")
    for name in (stem + ".gz", stem, dotted + ".gz", dotted):
        if (directory / name).is_file():
            return directory / name
    return None


def find_idx_files(directory: Path) -> dict[str, Path] | None:
    """The four standard IDX files in ``directory`` (``.gz`` or raw), or None if any is missing."""
    found = {role: _find(Path(directory), stem) for role, stem in IDX_FILES.items()}
    return None if None in found.values() else found


def load_idx_dir(directory: str | os.PathLike, name: str, classes: list[str] | None = None) -> Dataset:
    """Load the four standard IDX files from ``directory``.

    Parameters
    ----------
    classes : list of str, optional
        Class names; if None they are the label numbers ``"0" .. "K-1"``.
    """
    directory = Path(directory)
    files = find_idx_files(directory)
    if files is None:
        missing = [stem for stem in IDX_FILES.values() if _find(directory, stem) is None]
        raise DataError(
            f"{directory}: missing IDX files {', '.join(missing)} (.gz or raw); "
            "a dataset directory needs all four of " + ", ".join(IDX_FILES.values())
        )
    def build():  # read and checked once; later loads of the same files read the decoded-image cache
        parts = {role: read_idx(path) for role, path in files.items()}
        for part in ("train", "test"):
            x, y = parts[f"{part}_images"], parts[f"{part}_labels"]
            if x.ndim != 3 or x.dtype != np.uint8:
                raise DataError(f"{files[part + '_images']}: expected uint8 images (N, H, W), got {x.dtype} {x.shape}")
            if y.ndim != 1:
                raise DataError(f"{files[part + '_labels']}: expected labels (N,), got shape {y.shape}")
            if y.dtype.kind not in "iu":
                raise DataError(f"{files[part + '_labels']}: labels must be integers, got {y.dtype}")
            if len(x) != len(y):
                raise DataError(
                    f"{directory}: {part} has {len(x)} images but {len(y)} labels; "
                    "the image and label files do not belong together"
                )
        return (parts["train_images"][:, None], parts["train_labels"],  # (N, H, W) -> (N, 1, H, W)
                parts["test_images"][:, None], parts["test_labels"])

    x_train, y_train, x_test, y_test = cached_arrays(list(files.values()), f"idx {directory.resolve()}", build)
    for part, y in (("train", y_train), ("test", y_test)):
        if classes is None and len(y) and not (0 <= y.min() and y.max() < MAX_CLASSES):  # names are made per label
            raise DataError(f"{files[part + '_labels']}: labels run from {y.min()} to {y.max()}, but imgclass takes "
                            f"0 .. {MAX_CLASSES - 1} ({MAX_CLASSES} classes at most); the file is damaged or not "
                            "a label file")
    if classes is None:
        top = max(y_train.max(initial=0), y_test.max(initial=0))
        classes = [str(k) for k in range(int(top) + 1)]
    return Dataset(name=name, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test, classes=classes,
                   source=str(directory))


def load_mnist_like(name: str, data_dir=None, download: bool = True) -> Dataset:
    """Load ``mnist`` or ``fashion-mnist`` following the search order in :mod:`.download`."""
    urls, md5s, classes = _remote(name)
    dirs = search_dirs(name, data_dir)
    for d in dirs:
        if find_idx_files(d) is not None:
            return load_idx_dir(d, name, classes)
    looked = "\n".join(f"  {d}" for d in dirs)
    if not download:
        raise DataError(
            f"{name} not found; looked in:\n{looked}\n"
            "Put the four IDX files in one of those directories, or allow the download."
        )
    target = download_dir(name, data_dir)
    for fname, md5 in md5s.items():
        dest = target / fname
        download_file([u + fname for u in urls], dest, md5)
    return load_idx_dir(target, name, classes)


def load_idx_path(path: str, class_names: str | None = None) -> Dataset:
    """Load ``idx:PATH``: any directory with the four standard IDX files.

    Class names come from ``class_names`` (a text file, one name per line),
    else from ``PATH/classes.txt`` if present, else they are the label numbers.
    """
    directory = Path(path).expanduser()
    if not directory.is_dir():
        raise DataError(f"idx:{path}: directory does not exist")
    names_file = Path(class_names) if class_names else directory / "classes.txt"
    classes = None
    if class_names or names_file.is_file():
        classes = read_class_names(names_file)
    return load_idx_dir(directory, f"idx:{path}", classes)


def read_class_names(path: Path) -> list[str]:
    """One class name per non-empty line."""
    try:
        names = [line.strip() for line in Path(path).read_text().splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"cannot read class names from {path}: {e}") from e
    if not names:
        raise DataError(f"{path}: no class names in the file (expected one per line)")
    return names
