"""Where dataset files are looked for, and how they are fetched.

Search order for a named dataset (``mnist``, ``fashion-mnist``, ``cifar10``):

1. an explicit ``data_dir`` (the ``--data-dir`` flag): the directory itself,
   then its ``<name>/`` subdirectory;
2. ``$IMGCLASS_DATA/<name>/``;
3. the per-user cache, ``$XDG_CACHE_HOME/imgclass/<name>/`` (default
   ``~/.cache/imgclass/<name>/``);
4. a system-wide copy from a Debian package, e.g.
   ``/usr/share/datasets/fashion-mnist`` (``apt-get install dataset-fashion-mnist``);
5. a download from the official URLs into the explicit ``data_dir`` if one
   was given, else into the cache, verified against the published md5 sum.

Downloads stream into a temporary file beside the destination and are
renamed into place only once complete and verified, so an interrupted or
corrupted download never leaves a file that a later run would trust.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.request
from pathlib import Path

from tqdm.auto import tqdm

from imgclass.errors import DataError
from imgclass.fileio import atomic_write

#: Debian packages that install a dataset system-wide.
SYSTEM_DIRS: dict[str, list[Path]] = {
    "fashion-mnist": [Path("/usr/share/datasets/fashion-mnist")],
    "mnist": [Path("/usr/share/datasets/mnist")],
}

CHUNK = 1 << 16


def cache_dir() -> Path:
    """The per-user cache directory for downloaded datasets."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "imgclass"


def search_dirs(name: str, data_dir: str | os.PathLike | None = None) -> list[Path]:
    """Directories to look in for dataset ``name``, in order (see module docstring).

    Raises
    ------
    DataError
        If an explicit ``data_dir`` was given but does not exist.
    """
    dirs: list[Path] = []
    if data_dir is not None:
        data_dir = Path(data_dir).expanduser()
        if not data_dir.is_dir():
            raise DataError(
                f"data directory {str(data_dir)!r} does not exist; "
                "create it, or leave out --data-dir to use the default search path"
            )
        dirs += [data_dir, data_dir / name]
    env = os.environ.get("IMGCLASS_DATA")
    if env:
        dirs.append(Path(env).expanduser() / name)
    dirs.append(cache_dir() / name)
    dirs += SYSTEM_DIRS.get(name, [])
    return dirs


def download_dir(name: str, data_dir: str | os.PathLike | None = None) -> Path:
    """Where a download of dataset ``name`` is stored."""
    return Path(data_dir).expanduser() if data_dir is not None else cache_dir() / name


def download_file(
    urls: str | list[str],
    dest: str | os.PathLike,
    md5: str | None,
    *,
    timeout: float = 30.0,
    progress: bool = True,
) -> Path:
    """Download the first URL that works to ``dest``, checking its md5.

    Each URL is tried in turn (mirrors). The body streams into a temporary
    file next to ``dest``; it is renamed to ``dest`` only if the transfer was
    complete (as many bytes as the server announced) and the md5 matches.

    Raises
    ------
    DataError
        If no URL delivered a complete file with the right checksum. The
        message lists each URL's failure and says where to put the file by hand.
    """
    dest = Path(dest)
    urls = [urls] if isinstance(urls, str) else list(urls)
    failures = []
    for url in urls:
        try:
            _fetch(url, dest, md5, timeout=timeout, progress=progress)
            return dest
        except DataError as e:
            failures.append(f"  {url}: {e}")
    raise DataError(
        f"could not download {dest.name}:\n" + "\n".join(failures) + "\n"
        f"Without network access, copy {dest.name} into {dest.parent} by hand "
        "(or point --data-dir / $IMGCLASS_DATA at a directory holding it)."
    )


def _fetch(url: str, dest: Path, md5: str | None, *, timeout: float, progress: bool) -> None:
    digest = hashlib.md5()
    received = 0
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            expected = int(length) if length is not None else None
            with atomic_write(dest) as out, tqdm(
                total=expected, unit="B", unit_scale=True, desc=dest.name,
                disable=not progress, leave=False,
            ) as bar:
                while chunk := response.read(CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
                if expected is not None and received != expected:
                    raise DataError(f"connection closed after {received} of {expected} bytes")
                if md5 is not None and digest.hexdigest() != md5:
                    raise DataError(
                        f"checksum mismatch: got md5 {digest.hexdigest()}, expected {md5} "
                        "(the file on the server is not the official one, or it was damaged in transit)"
                    )
    except DataError:
        raise
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as e:
        # URLError: refused, unknown host, HTTP 404; HTTPException: IncompleteRead
        # and friends when the connection is cut; OSError: timeouts, disk full.
        raise DataError(f"{type(e).__name__}: {getattr(e, 'reason', e)}") from e
