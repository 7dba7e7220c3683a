"""Decoded images on disk: a folder is decoded once, then read by rows, never held in memory whole.

``load_folder`` decodes a folder's images into one uint8 ``.npy`` file per part (train, test) under
``$XDG_CACHE_HOME/imgclass/decoded/`` and returns :class:`DiskImages` over it. The entry's key is the
image size, the channel count, this format's :data:`VERSION` and every file's path, size and
modification time, so a changed, added or removed file gives a new entry (and the folder's older
entries are deleted). An entry is trusted only when its ``meta.json`` (written last) agrees with the
files: a truncated ``images.npy``, one written by another version, or a damaged header is decoded
again, never read. The cache keeps to ``$IMGCLASS_DECODED_CACHE_GB`` (default 20): after an entry is
written, the least recently used others go (a hit refreshes an entry's time; one another process is
building stays).

:class:`DiskImages` reads rows with ``os.pread``: no memory map, so neither the resident set nor the
address space of a process grows with the dataset (the operating system's page cache keeps what it
can). Taking a subset (:meth:`DiskImages.take`, as ``make_split`` does) makes an index, not a copy;
``np.asarray(images)`` reads everything, for the code paths that want the array in memory.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import logging
import os
import shutil
from pathlib import Path

import numpy as np

from imgclass.errors import DataError
from imgclass.fileio import atomic_write, evict_lru, size_limit

log = logging.getLogger(__name__)

VERSION = 1
HEADER = 128  # bytes: the .npy header is padded to this, so a smaller row count can be written over it later


LIMIT_ENV = "IMGCLASS_DECODED_CACHE_GB"
LIMIT_GB = 20.0  # CIFAR-10 at 32 px takes 0.18 GB; 60,000 images at 224 px, 9 GB


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "imgclass" / "decoded"


def cache_limit() -> float:
    """The decoded-image cache's size limit in bytes: ``$IMGCLASS_DECODED_CACHE_GB`` (default 20)."""
    return size_limit(LIMIT_ENV, LIMIT_GB)


def _header(shape: tuple[int, ...]) -> bytes:
    text = "{'descr': '|u1', 'fortran_order': False, 'shape': %r, }" % (tuple(int(s) for s in shape),)
    body = text.encode("latin1")
    pad = HEADER - 10 - len(body) - 1
    if pad < 0:
        raise DataError(f"image shape {shape} does not fit a {HEADER}-byte header")
    return b"\x93NUMPY\x01\x00" + (HEADER - 10).to_bytes(2, "little") + body + b" " * pad + b"\n"


class DiskImages(np.lib.mixins.NDArrayOperatorsMixin):
    """uint8 images (N, C, H, W) in a ``.npy`` file, read on demand (optionally a subset of its rows).

    Indexing rows (an int, a slice, an int or bool array) reads only those rows. Anything else an
    ndarray offers (``x.mean()``, ``x / 255``, ``np.stack([x, ...])``) works on the whole array, read
    into memory for it.

    Parameters
    ----------
    path : path of a C-order uint8 ``.npy`` file
    index : int array, optional
        The file rows this object's rows are (a split's part); None: all of them, in order.
    """

    dtype = np.dtype(np.uint8)
    ndim = 4

    def __init__(self, path: str | os.PathLike, index: np.ndarray | None = None):
        self.path = Path(path)
        # opened once and shared by every subset (take): a file deleted later (a stale cache entry) stays readable
        self._file = open(self.path, "rb")
        try:
            version = np.lib.format.read_magic(self._file)
            read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, fortran, dtype = read(self._file)
        except (ValueError, OSError, SyntaxError) as e:
            self._file.close()
            raise DataError(f"{self.path}: not a decoded-image file ({e})") from None
        self.offset = self._file.tell()
        if dtype != np.uint8 or fortran or len(shape) != 4:
            self._file.close()
            raise DataError(f"{self.path}: expected uint8 (N, C, H, W) in C order, got {dtype} {shape}")
        self.rows, self.image_shape = int(shape[0]), tuple(int(s) for s in shape[1:])
        self.row_bytes = int(np.prod(self.image_shape))
        size = os.fstat(self._file.fileno()).st_size
        if size < self.offset + self.rows * self.row_bytes:
            self._file.close()
            raise DataError(f"{self.path}: truncated ({size} bytes for {self.rows} images)")
        self.index = None if index is None else np.asarray(index, dtype=np.int64)

    # --- the ndarray-like surface the pipeline uses ----------------------------------------
    def __len__(self) -> int:
        return self.rows if self.index is None else len(self.index)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self), *self.image_shape)

    @property
    def nbytes(self) -> int:
        return len(self) * self.row_bytes

    def __repr__(self) -> str:
        return f"DiskImages({str(self.path)!r}, shape={self.shape})"

    def take(self, indices, axis: int = 0) -> "DiskImages":
        """Rows ``indices`` as a new DiskImages over the same file (no data is read)."""
        if axis != 0:
            raise DataError("DiskImages.take works on rows (axis 0) only")
        indices = np.asarray(indices)
        if indices.dtype == bool:
            indices = np.flatnonzero(indices)
        part = copy.copy(self)
        part.index = self._file_rows(indices.astype(np.int64).reshape(-1))
        return part

    def _file_rows(self, rows: np.ndarray) -> np.ndarray:
        n = len(self)
        if rows.size and (rows.min() < -n or rows.max() >= n):
            raise IndexError(f"index out of range for {n} images")
        rows = np.where(rows < 0, rows + n, rows)
        return rows if self.index is None else self.index[rows]

    def __getitem__(self, key) -> np.ndarray:
        if isinstance(key, (int, np.integer)):
            return self._read(self._file_rows(np.array([int(key)])))[0]
        if isinstance(key, slice):
            return self._read(self._file_rows(np.arange(len(self))[key]))
        if isinstance(key, tuple):  # rows first, then the rest of the key on what was read
            rows, rest = key[0], key[1:]
            return self[rows][rest if isinstance(rows, (int, np.integer)) else (slice(None), *rest)]
        key = np.asarray(key)
        if key.dtype == bool:
            key = np.flatnonzero(key)
        return self._read(self._file_rows(key.astype(np.int64)))

    def __array__(self, dtype=None, copy=None):
        x = self._read(self._file_rows(np.arange(len(self))))
        return x if dtype is None else x.astype(dtype)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        inputs = tuple(np.asarray(v) if isinstance(v, DiskImages) else v for v in inputs)
        return getattr(ufunc, method)(*inputs, **kwargs)

    def __getattr__(self, name: str):  # any other ndarray attribute or method: on the array, read whole
        if name.startswith("_") or name in ("path", "index", "rows", "image_shape", "row_bytes", "offset"):
            raise AttributeError(name)
        return getattr(np.asarray(self), name)

    def __copy__(self) -> "DiskImages":
        part = DiskImages.__new__(DiskImages)
        part.__dict__.update(self.__dict__)  # the same open file
        return part

    def __getstate__(self):  # pickled (sent to another process): the file is opened again there
        return {k: v for k, v in self.__dict__.items() if k != "_file"}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._file = open(self.path, "rb")

    # --- reading ------------------------------------------------------------------------
    def _read(self, rows: np.ndarray) -> np.ndarray:
        """The images at file rows ``rows`` (any order, repeats allowed), read in runs of consecutive rows."""
        out = np.empty((len(rows), *self.image_shape), np.uint8)
        if not len(rows):
            return out
        fd = self._file.fileno()
        order = np.argsort(rows, kind="stable")
        sorted_rows = rows[order]
        flat = out.reshape(len(rows), self.row_bytes)
        breaks = np.flatnonzero(np.diff(sorted_rows) != 1) + 1  # runs of consecutive rows: one read each
        for run in np.split(np.arange(len(rows)), breaks):
            first, count = int(sorted_rows[run[0]]), len(run)
            buf = os.pread(fd, count * self.row_bytes, self.offset + first * self.row_bytes)
            if len(buf) != count * self.row_bytes:
                raise DataError(f"{self.path}: truncated while reading (the decoded-image cache changed); run again "
                                "to decode the images anew")
            flat[order[run]] = np.frombuffer(buf, np.uint8).reshape(count, self.row_bytes)
        return out


def is_images(x) -> bool:
    """Whether ``x`` holds uint8 images (N, C, H, W): an array, or :class:`DiskImages`."""
    return isinstance(x, DiskImages) or isinstance(x, np.ndarray) and x.dtype == np.uint8 and x.ndim == 4


# --- the cache of one folder part ---------------------------------------------------------

def cache_key(files: list[Path], size: tuple[int, int], channels: int, tag: str = "") -> str:
    h = hashlib.sha256(f"imgclass decoded v{VERSION} size={tuple(size)} channels={channels}{tag}\n".encode())
    for p in files:
        st = p.stat()
        h.update(f"{p}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:24]


def _valid(entry: Path, key: str) -> dict | None:
    """The entry's meta when every file of it is there, complete and of this version; else None."""
    try:
        meta = json.loads((entry / "meta.json").read_text())
        if meta.get("version") != VERSION or meta.get("key") != key:
            return None
        images = DiskImages(entry / "images.npy")
        labels = np.load(entry / "labels.npy", allow_pickle=False)
        if len(images) != meta["count"] or labels.shape != (meta["count"],) or \
                list(images.image_shape) != meta["image_shape"]:
            return None
        return meta
    except (OSError, ValueError, KeyError, TypeError, DataError):
        return None


@contextlib.contextmanager
def _locked(path: Path):
    """An exclusive lock on ``path`` (other processes building the same entry wait, then reuse it)."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def decoded(items: list[tuple[Path, int]], size: tuple[int, int], channels: int, decode, *, source: str,
            progress: bool = False, logger: logging.Logger = log) -> tuple[DiskImages | np.ndarray, np.ndarray, list[str]]:
    """The images of ``items`` ((file, label) pairs) decoded by ``decode(path) -> (C, H, W) uint8``, from the cache.

    Returns the images (:class:`DiskImages`), their labels and the files that could not be decoded
    (``decode`` raised :class:`DataError`; they are skipped with a warning on ``logger``, also when read from the
    cache).
    """
    from tqdm.auto import tqdm

    if not items:  # nothing to decode (a folder without test/): no entry
        return np.zeros((0, channels, *size), np.uint8), np.zeros(0, np.int64), []
    limit = cache_limit()  # a bad limit is an error before the decoding, not after it
    files = [p for p, _ in items]
    key = cache_key(files, size, channels)
    entry = cache_root() / key
    with _locked(cache_root() / f"{key}.lock"):
        meta = _valid(entry, key)
        if meta is None:
            if entry.exists():
                log.info("decoding %s again: its cache entry %s is incomplete or from another version", source, entry)
                shutil.rmtree(entry, ignore_errors=True)
            entry.mkdir(parents=True, exist_ok=True)
            shape = (channels, *size)
            labels, skipped = [], []
            tmp = entry / "images.npy.part"
            with open(tmp, "wb") as f:
                f.write(_header((len(items), *shape)))
                for path, label in tqdm(items, desc="reading images", unit="img", disable=not progress or None,
                                        leave=False):
                    try:
                        x = decode(path)
                    except DataError as e:
                        logger.warning("skipping %s", e)
                        skipped.append(str(path))
                        continue
                    f.write(np.ascontiguousarray(x, dtype=np.uint8).tobytes())
                    labels.append(label)
                f.seek(0)
                f.write(_header((len(labels), *shape)))  # the rows actually written
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, entry / "images.npy")
            with atomic_write(entry / "labels.npy") as fh:
                np.save(fh, np.asarray(labels, dtype=np.int64))
            meta = {"version": VERSION, "key": key, "source": source, "count": len(labels), "image_shape": list(shape),
                    "skipped": skipped}
            with atomic_write(entry / "meta.json", "w") as fh:
                json.dump(meta, fh)
            _forget_older(source, key, size, channels)
            _evict(keep=entry, limit=limit)
        else:
            _used(entry)
            for path in meta["skipped"]:
                logger.warning("skipping %s (could not be decoded when the cache was made)", path)
    return DiskImages(entry / "images.npy"), np.load(entry / "labels.npy", allow_pickle=False), list(meta["skipped"])


def _used(entry: Path) -> None:
    """Mark an entry recently used (its ``meta.json``'s time): the last to be evicted."""
    with contextlib.suppress(OSError):  # a read-only cache is still read
        os.utime(entry / "meta.json")


def _entry_size(entry: Path) -> int:
    total = 0
    for f in entry.iterdir():
        with contextlib.suppress(OSError):
            total += f.stat().st_size
    return total


def _remove_unless_busy(entry: Path) -> bool:
    """Delete an entry unless another process holds its lock (it is building it); say whether it went.

    A process that already opened the entry's images keeps reading them (:class:`DiskImages` holds the file
    open). The lock file stays: a process waiting on it must find the same file when it gets the lock.
    """
    import fcntl

    try:
        with open(entry.parent / f"{entry.name}.lock", "a+b") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            try:
                shutil.rmtree(entry, ignore_errors=True)
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)
    except OSError:
        return False
    return not entry.exists()


def _evict(keep: Path, limit: float) -> None:
    """Delete the least recently used entries until the cache holds at most ``limit`` bytes; ``keep`` stays."""
    entries = []
    for entry in cache_root().iterdir():
        if not entry.is_dir():
            continue
        try:
            meta = entry / "meta.json"
            last = (meta if meta.exists() else entry).stat().st_mtime
            entries.append((last, _entry_size(entry), entry))
        except OSError:
            continue  # removed meanwhile by another run
    evict_lru(entries, limit, keep=keep, remove=_remove_unless_busy)


def _forget_older(source: str, key: str, size, channels: int) -> None:
    """Delete the cache entries of ``source`` at this size made from files that have since changed."""
    for other in cache_root().glob("*/meta.json"):
        try:
            meta = json.loads(other.read_text())
        except (OSError, ValueError):
            continue
        if meta.get("source") == source and meta.get("key") != key and \
                meta.get("image_shape") == [channels, *size]:
            shutil.rmtree(other.parent, ignore_errors=True)
            with contextlib.suppress(OSError):
                (other.parent.parent / f"{other.parent.name}.lock").unlink()


# --- the cache of any loader's arrays ----------------------------------------------------------

def _write_images(path: Path, x: np.ndarray) -> None:
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "wb") as f:
        f.write(_header(x.shape))
        for i in range(0, len(x), 4096):
            f.write(np.ascontiguousarray(x[i:i + 4096], dtype=np.uint8).tobytes())
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _valid_parts(entry: Path, key: str) -> dict | None:
    try:
        meta = json.loads((entry / "meta.json").read_text())
        if meta.get("version") != VERSION or meta.get("key") != key:
            return None
        for part in ("train", "test"):
            images = DiskImages(entry / f"images_{part}.npy")
            labels = np.load(entry / f"labels_{part}.npy", allow_pickle=False)
            if len(images) != meta["counts"][part] or labels.shape != (len(images),):
                return None
        return meta
    except (OSError, ValueError, KeyError, TypeError, DataError):
        return None


def cached_arrays(files: list[Path], source: str, build) -> tuple[DiskImages, np.ndarray, DiskImages, np.ndarray]:
    """``(x_train, y_train, x_test, y_test)`` that a loader makes from ``files``, made by ``build()`` only once.

    ``build()`` returns the four arrays (uint8 images (N, C, H, W), labels); they are written to the cache
    under a key of the files' paths, sizes and modification times, and read back as :class:`DiskImages`.
    A loader's checks run in ``build``: what is in the cache was checked when it was made.
    """
    limit = cache_limit()
    key = cache_key(list(files), (0, 0), 0, f" source={source}")
    entry = cache_root() / key
    with _locked(cache_root() / f"{key}.lock"):
        if _valid_parts(entry, key) is not None:
            _used(entry)
        else:
            x_train, y_train, x_test, y_test = build()  # raises on bad files: then nothing is written
            shutil.rmtree(entry, ignore_errors=True)
            entry.mkdir(parents=True, exist_ok=True)
            for part, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
                _write_images(entry / f"images_{part}.npy", x)
                with atomic_write(entry / f"labels_{part}.npy") as fh:
                    np.save(fh, np.asarray(y, dtype=np.int64))
            meta = {"version": VERSION, "key": key, "source": source, "image_shape": list(x_train.shape[1:]),
                    "counts": {"train": len(y_train), "test": len(y_test)}}
            with atomic_write(entry / "meta.json", "w") as fh:
                json.dump(meta, fh)
            _forget_older(source, key, tuple(x_train.shape[2:]), int(x_train.shape[1]))
            _evict(keep=entry, limit=limit)
    return (DiskImages(entry / "images_train.npy"), np.load(entry / "labels_train.npy", allow_pickle=False),
            DiskImages(entry / "images_test.npy"), np.load(entry / "labels_test.npy", allow_pickle=False))
