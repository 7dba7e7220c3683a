"""Atomic file writes: a file is either complete or absent, never half-written."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from datetime import datetime
from pathlib import Path
from typing import IO, Iterator

from imgclass.errors import ImgclassError

#: The longest run name: the stamp and counter added to it stay under the usual 255-byte file-name limit.
MAX_NAME = 200


def file_mode() -> int:
    """The mode a new file gets under the process's umask (``open()``'s 0o666 & ~umask)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def check_name(name: str, what: str = "--name") -> str:
    """``name`` if it is one plain folder name; else a clear error (no ``/``, ``\\``, ``..`` or NUL).

    A run directory is ``<out>/<stamp>-<name>``: a name that held a separator or a parent
    reference would write the run somewhere other than ``<out>``.
    """
    if not isinstance(name, str):
        raise ImgclassError(f"{what} must be text, got {type(name).__name__}")
    if any(c in name for c in ("/", "\\", "\0")) or name.startswith("..") or name == "." or \
            len(name.encode()) > MAX_NAME:
        raise ImgclassError(f"{what} {name[:80]!r} must be one folder name of at most {MAX_NAME} bytes, without "
                            "'/', '\\', NUL or a leading '..'; it names a directory inside --out")
    return name


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary file next to ``path``; rename it over ``path`` on success.

    If the block raises (or the process dies), ``path`` is left untouched and
    the temporary file is removed (or, after a hard kill, left with a
    ``.tmp`` suffix that no loader ever reads).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, file_mode())  # mkstemp makes 0600; the file gets what open() would give it
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(e, OSError) and e.errno is not None and e.filename is None:
            e.filename = str(path)  # a failed write names no file: name the one it was for
        raise


def save_figure(fig, path: str | os.PathLike, **kwargs) -> Path:
    """Save a matplotlib figure atomically as PNG and close it."""
    import matplotlib.pyplot as plt

    path = Path(path)
    with atomic_write(path) as f:
        fig.savefig(f, format="png", **kwargs)
    plt.close(fig)
    return path


def write_json(path: str | os.PathLike, obj) -> Path:
    """Write ``obj`` as indented JSON atomically (NumPy scalars become numbers, other objects strings)."""
    with atomic_write(path, "w") as f:
        json.dump(obj, f, indent=2, default=lambda o: o.item() if hasattr(o, "item") else str(o))
    return Path(path)


def new_run_dir(root: str | os.PathLike, name: str) -> Path:
    """Create ``root/<YYYYmmdd-HHMMSS>-<name>``, made unique with a counter if it exists.

    ``name`` must be one folder name (:func:`check_name`): the directory is always a child of ``root``.
    """
    check_name(name, "run name (--name)")
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path(root) / f"{stamp}-{name}"
    path, k = base, 1
    while path.exists():
        k += 1
        path = base.with_name(f"{base.name}-{k}")
    path.mkdir(parents=True)
    return path


# --- caches that keep to a size -------------------------------------------------------------------------

def size_limit(env: str, default_gb: float) -> float:
    """A cache's size limit in bytes: ``$env``, a size in GB >= 0 (unset or empty: ``default_gb``).

    A bad value is a clear error; read it before the work whose result the cache keeps, not after.
    """
    text = os.environ.get(env, "")
    try:
        gb = float(text) if text else default_gb
    except ValueError:
        gb = -1.0
    if not gb >= 0:  # also NaN
        raise ImgclassError(f"${env} must be a size in GB >= 0, got {text!r}; unset it for {default_gb:g} GB")
    return gb * 1e9


def evict_lru(entries, limit: float, *, keep=None, remove=None) -> None:
    """Remove the least recently used of ``entries`` until the rest take at most ``limit`` bytes.

    ``entries``: ``(last_used, size, path)`` triples (``last_used``: a time, e.g. an mtime a hit refreshes).
    ``keep`` (what was just written) stays. ``remove(path) -> bool`` removes one entry and says whether it
    did (an entry in use may be left: it still counts); default: unlink a file.
    """
    def unlink(path) -> bool:
        Path(path).unlink(missing_ok=True)
        return True

    remove = remove or unlink
    entries = list(entries)
    total = sum(size for _, size, _ in entries)
    for _, size, path in sorted(entries, key=lambda e: e[0]):
        if total <= limit:
            break
        if path != keep and remove(path):
            total -= size
