"""CIFAR-10 in its official "python version" format, read without trusting pickle.

The official archive ``cifar-10-python.tar.gz`` holds ``cifar-10-batches-py/``
with ``data_batch_1`` .. ``data_batch_5``, ``test_batch`` and ``batches.meta``:
Python 2 pickles (protocol 2) of dicts whose ``data`` entry is a uint8
NumPy array of shape (10000, 3072), each row 1024 red, 1024 green and 1024
blue values in row-major order, and whose ``labels`` entry is a list of ints.

Plain :func:`pickle.load` on a downloaded file can run arbitrary code.
:class:`SafeUnpickler` resolves only the handful of globals those files
use (NumPy's array reconstruction and dtype), so a crafted file fails with a
:class:`DataError` instead of executing anything.

:func:`write_cifar10` writes the same format byte for byte as Python 2's
cPickle did (used by the tests to build small official-format fixtures).
"""

from __future__ import annotations

import codecs
import io
import os
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np

from imgclass.data.cache import cached_arrays
from imgclass.data.dataset import Dataset
from imgclass.data.download import download_dir, download_file, search_dirs
from imgclass.errors import DataError
from imgclass.fileio import atomic_write

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
ARCHIVE = "cifar-10-python.tar.gz"
BATCH_DIR = "cifar-10-batches-py"
TRAIN_BATCHES = [f"data_batch_{i}" for i in range(1, 6)]
TEST_BATCH = "test_batch"
META = "batches.meta"
CIFAR10_CLASSES = [
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
]

_core = getattr(np, "_core", None) or np.core  # NumPy 2 moved numpy.core to numpy._core
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _core.multiarray._reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _core.multiarray._reconstruct,
    ("numpy.core.numeric", "_frombuffer"): _core.numeric._frombuffer,  # protocol 5 arrays
    ("numpy._core.numeric", "_frombuffer"): _core.numeric._frombuffer,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): codecs.encode,  # how Python 3 protocol-2 pickles spell bytes
}


class SafeUnpickler(pickle.Unpickler):
    """An unpickler that builds only NumPy arrays, dtypes and plain containers."""

    def find_class(self, module: str, name: str):
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refusing to load global {module}.{name}: a CIFAR batch holds only arrays, "
                "lists and strings"
            ) from None


def safe_load_pickle(path: str | os.PathLike | bytes) -> object:
    """Unpickle a CIFAR batch (a path or its bytes) with :class:`SafeUnpickler`."""
    what = "data" if isinstance(path, bytes) else str(path)
    try:
        data = path if isinstance(path, bytes) else Path(path).read_bytes()
        return SafeUnpickler(io.BytesIO(data), encoding="latin1").load()
    except FileNotFoundError:
        raise DataError(f"{what}: file not found") from None
    except Exception as e:  # a damaged pickle can raise almost anything
        raise DataError(
            f"{what}: not a valid CIFAR-10 batch ({type(e).__name__}: {e}); "
            "replace it with the file from the official archive"
        ) from e


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One batch file -> images (N, 3, 32, 32) uint8, labels (N,) int64."""
    d = safe_load_pickle(path)
    if not isinstance(d, dict):
        raise DataError(f"{path}: expected a dict in the batch file, found {type(d).__name__}")
    d = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in d.items()}
    data, labels = d.get("data"), d.get("labels")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise DataError(
            f"{path}: 'data' must be a uint8 array (N, 3072), found "
            f"{getattr(data, 'dtype', type(data).__name__)} {getattr(data, 'shape', '')}"
        )
    if labels is None or len(labels) != len(data):
        raise DataError(
            f"{path}: {len(data)} images but {0 if labels is None else len(labels)} labels"
        )
    return data.reshape(-1, 3, 32, 32), np.asarray(labels, dtype=np.int64)  # (N, 3072) -> (N, C, H, W)


def read_meta(path: Path) -> list[str]:
    d = safe_load_pickle(path)
    names = d.get("label_names") if isinstance(d, dict) else None
    if not names:
        raise DataError(f"{path}: no 'label_names' list in batches.meta")
    return [n.decode("latin1") if isinstance(n, bytes) else str(n) for n in names]


def _batch_dir(d: Path) -> Path | None:
    for cand in (d, d / BATCH_DIR):
        if all((cand / f).is_file() for f in [*TRAIN_BATCHES, TEST_BATCH, META]):
            return cand
    return None


def extract_archive(archive: Path, dest: Path) -> Path:
    """Extract the seven batch files of the official archive into ``dest/cifar-10-batches-py``.

    Only the expected members are read, and they are written under names this
    function chooses, so a crafted archive cannot write outside ``dest``.
    """
    out = dest / BATCH_DIR
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for fname in [*TRAIN_BATCHES, TEST_BATCH, META]:
                try:
                    member = tar.getmember(f"{BATCH_DIR}/{fname}")
                except KeyError:
                    raise DataError(f"{archive}: no {BATCH_DIR}/{fname} inside; not the official archive") from None
                src = tar.extractfile(member) if member.isfile() else None
                if src is None:
                    raise DataError(f"{archive}: {BATCH_DIR}/{fname} is not a regular file")
                data = src.read()
                try:
                    with atomic_write(out / fname) as f:
                        f.write(data)
                except OSError as e:  # the archive is fine: the folder beside it is not writable (or full)
                    raise DataError(f"cannot write the extracted batches to {out} ({e.strerror}); the archive "
                                    f"{archive} is fine: make that folder writable (or free space there), or "
                                    "extract the archive yourself into a folder you give as --data-dir") from None
    except (tarfile.TarError, OSError, EOFError) as e:
        raise DataError(f"{archive}: corrupt or truncated archive ({e}); delete it and download it again") from e
    return out


def load_cifar10_dir(directory: Path, name: str = "cifar10") -> Dataset:
    """Load the official batches from ``directory`` (or its ``cifar-10-batches-py``)."""
    bd = _batch_dir(directory)
    if bd is None:
        raise DataError(f"{directory}: no complete set of CIFAR-10 batches ({', '.join([*TRAIN_BATCHES, TEST_BATCH, META])})")
    def build():  # unpickled once; later loads of the same batches read the decoded-image cache
        xs, ys = zip(*(read_batch(bd / f) for f in TRAIN_BATCHES))
        return (np.concatenate(xs), np.concatenate(ys), *read_batch(bd / TEST_BATCH))

    files = [bd / f for f in (*TRAIN_BATCHES, TEST_BATCH)]
    x_train, y_train, x_test, y_test = cached_arrays(files, f"cifar10 {bd.resolve()}", build)
    return Dataset(name=name, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test,
                   classes=read_meta(bd / META), source=str(bd))


def load_cifar10(data_dir=None, download: bool = True) -> Dataset:
    """Load CIFAR-10: batches in a directory, the official tar.gz, or a download.

    ``data_dir`` may also be the path of the ``cifar-10-python.tar.gz`` file.
    Each directory in the search order (:mod:`.download`) is checked for the
    batches, then for the archive (which is then extracted next to itself).
    """
    if data_dir is not None and Path(data_dir).is_file():
        archive = Path(data_dir)
        return load_cifar10_dir(extract_archive(archive, archive.parent))
    dirs = search_dirs("cifar10", data_dir)
    for d in dirs:
        if _batch_dir(d) is not None:
            return load_cifar10_dir(d)
    for d in dirs:
        if (d / ARCHIVE).is_file():
            return load_cifar10_dir(extract_archive(d / ARCHIVE, d))
    if not download:
        looked = "\n".join(f"  {d}" for d in dirs)
        raise DataError(f"cifar10 not found; looked in:\n{looked}\nPut the batches or {ARCHIVE} in one of them.")
    target = download_dir("cifar10", data_dir)
    download_file(CIFAR10_URL, target / ARCHIVE, CIFAR10_MD5)
    return load_cifar10_dir(extract_archive(target / ARCHIVE, target))


# --- writer: Python 2 cPickle protocol 2, as the official files are ---------------


def _py2_str(s: bytes) -> bytes:
    # SHORT_BINSTRING / BINSTRING: a Python 2 str.
    return b"U" + bytes([len(s)]) + s if len(s) < 256 else b"T" + struct.pack("<I", len(s)) + s


def _py2_int(n: int) -> bytes:
    if 0 <= n < 256:
        return b"K" + bytes([n])
    if 0 <= n < 65536:
        return b"M" + struct.pack("<H", n)
    return b"J" + struct.pack("<i", n)


def _py2_obj(v) -> bytes:
    if isinstance(v, str):
        return _py2_str(v.encode("latin1"))
    if isinstance(v, int):
        return _py2_int(v)
    if isinstance(v, list):
        return b"](" + b"".join(_py2_obj(x) for x in v) + b"e"  # EMPTY_LIST MARK ... APPENDS
    if isinstance(v, np.ndarray) and v.dtype == np.uint8 and v.ndim == 2:
        shape = _py2_int(v.shape[0]) + _py2_int(v.shape[1]) + b"\x86"  # TUPLE2
        dtype = (
            b"cnumpy\ndtype\n" + _py2_str(b"u1") + b"K\x00K\x01\x87R"  # dtype('u1', 0, 1)
            + b"(K\x03" + _py2_str(b"|") + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"
        )
        return (
            b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85" + _py2_str(b"b") + b"\x87R"
            + b"(K\x01" + shape + dtype + b"\x89" + _py2_str(np.ascontiguousarray(v).tobytes()) + b"tb"
        )
    raise TypeError(f"cannot write {type(v).__name__} in a CIFAR batch")


def py2_pickle(d: dict) -> bytes:
    """Pickle a dict of str keys as Python 2's ``cPickle.dump(d, f, 2)`` would."""
    body = b"".join(_py2_obj(k) + _py2_obj(v) for k, v in d.items())
    return b"\x80\x02}(" + body + b"u."  # PROTO 2, EMPTY_DICT, MARK ... SETITEMS, STOP


def write_cifar10(
    directory: str | os.PathLike, x_train: np.ndarray, y_train, x_test: np.ndarray, y_test,
    classes: list[str] = CIFAR10_CLASSES, archive: bool = False,
) -> Path:
    """Write a dataset in the official CIFAR-10 python format.

    Images are (N, 3, 32, 32) uint8; the training part is split over five
    batches. With ``archive=True`` the batches are packed into
    ``directory/cifar-10-python.tar.gz`` (and nothing else is left), as
    the official download is. Returns the batch directory or the archive.
    """
    directory = Path(directory)
    bd = directory / BATCH_DIR
    parts = [(f, x, y) for f, x, y in zip(TRAIN_BATCHES, np.array_split(x_train, 5), np.array_split(np.asarray(y_train), 5))]
    parts.append((TEST_BATCH, x_test, np.asarray(y_test)))
    files = {}
    for i, (fname, x, y) in enumerate(parts):
        files[fname] = py2_pickle({
            "data": np.asarray(x, np.uint8).reshape(len(x), 3072),
            "labels": [int(v) for v in y],
            "batch_label": "testing batch 1 of 1" if fname == TEST_BATCH else f"training batch {i + 1} of 5",
            "filenames": [f"img_{i}_{j}.png" for j in range(len(x))],
        })
    files[META] = py2_pickle({"num_cases_per_batch": len(parts[0][1]), "label_names": list(classes), "num_vis": 3072})
    if not archive:
        for fname, blob in files.items():
            with atomic_write(bd / fname) as f:
                f.write(blob)
        return bd
    path = directory / ARCHIVE
    with atomic_write(path) as f, tarfile.open(fileobj=f, mode="w:gz") as tar:
        for fname, blob in files.items():
            info = tarfile.TarInfo(f"{BATCH_DIR}/{fname}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return path
