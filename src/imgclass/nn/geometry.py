"""Helpers shared by the engine's ops: shapes (PyTorch's conventions), BLAS threads, memory reuse."""

from __future__ import annotations

import contextlib
import operator
import os
import warnings

import numpy as np

from imgclass.errors import ImgclassError

Pair = tuple[int, int]


def _threads_from_env() -> int | None:
    value = os.environ.get("IMGCLASS_BLAS_THREADS", "1").strip()
    try:
        n = int(value)
    except ValueError:
        warnings.warn(f"IMGCLASS_BLAS_THREADS must be an integer (0: leave BLAS as it is), got {value!r}; using 1",
                      stacklevel=2)
        n = 1
    return n if n > 0 else None


#: BLAS threads the engine's matrix products run with; None leaves the BLAS library's own setting.
#: Set from ``$IMGCLASS_BLAS_THREADS`` (default 1; 0 means None). One, because on this project's
#: 2-core machines a second OpenBLAS thread made a CNN training step ~3x *slower* whenever other
#: processes kept the cores busy: its threads synchronize many times per product, and each wait
#: for a descheduled thread costs a scheduler time slice (measured: a (64, 32768) @ (32768, 288)
#: product took 35 ms on one thread, 1240 ms on two). On an idle machine two threads would speed
#: up the products, not the rest of a step (elementwise passes are single-threaded in NumPy).
BLAS_THREADS: int | None = _threads_from_env()

_libraries = None  # threadpoolctl's controllers of the loaded BLAS libraries, found once


def _blas_libraries() -> list:
    global _libraries
    if _libraries is None:
        try:
            from threadpoolctl import ThreadpoolController  # a scikit-learn dependency
            _libraries = list(ThreadpoolController().select(user_api="blas").lib_controllers)
        except (ImportError, OSError, ValueError):  # pragma: no cover - no threadpoolctl, or it cannot inspect
            _libraries = []
    return _libraries


@contextlib.contextmanager
def blas_threads():
    """Run the block with :data:`BLAS_THREADS` BLAS threads, then restore each library's setting.

    A no-op when ``BLAS_THREADS`` is None or threadpoolctl is not installed; ~20 us otherwise.
    """
    libraries = _blas_libraries() if BLAS_THREADS is not None else []
    before = [lib.get_num_threads() for lib in libraries]
    for lib, n in zip(libraries, before):
        if n != BLAS_THREADS:
            lib.set_num_threads(BLAS_THREADS)
    try:
        yield
    finally:
        for lib, n in zip(libraries, before):
            if n != BLAS_THREADS:
                lib.set_num_threads(n)


#: Whether the first fast convolution asks glibc's malloc to keep freed memory for reuse
#: (see :func:`keep_freed_memory`); ``$IMGCLASS_KEEP_FREED_MEMORY=0`` turns it off.
KEEP_FREED_MEMORY: bool = os.environ.get("IMGCLASS_KEEP_FREED_MEMORY", "1").strip() != "0"
_MMAP_THRESHOLD = 2 ** 30  # arrays up to 1 GiB come from malloc's heap...
_TRIM_THRESHOLD = 2 ** 31 - 1  # ...which is returned to the OS only when 2 GiB of it are free at the top
_kept: bool | None = None  # None: not tried yet; then whether mallopt accepted the settings


def keep_freed_memory() -> bool:
    """Once per process: let glibc's malloc serve big arrays from its heap and keep freed ones for reuse.

    By default glibc maps arrays of more than a few MiB straight from the kernel and unmaps
    them when they are freed, so every training step's fresh activations and gradients (tens
    of MiB each) are page-faulted in and zeroed by the kernel again: measured 1-4k page faults
    and up to 100 ms of system time per step of a CIFAR CNN, 5-10% of the step. With the
    thresholds raised, freed arrays go back to malloc's free lists and the next step reuses
    them. The price: the process keeps its peak heap (its RSS does not shrink between steps).
    A process-wide setting, made on the first :func:`~imgclass.nn.conv.conv_forward` only if
    :data:`KEEP_FREED_MEMORY`; a no-op where the C library is not glibc. Returns whether it is on.
    """
    global _kept
    if _kept is None:
        _kept = False
        if KEEP_FREED_MEMORY:
            try:
                import ctypes

                libc = ctypes.CDLL("libc.so.6")
                m_trim_threshold, m_mmap_threshold = -1, -3  # glibc's malloc.h
                _kept = bool(libc.mallopt(m_mmap_threshold, _MMAP_THRESHOLD)) and bool(
                    libc.mallopt(m_trim_threshold, _TRIM_THRESHOLD))
            except (OSError, AttributeError):  # not glibc
                pass
    return _kept


def _pair(value, name: str, minimum: int) -> Pair:
    """``value`` (an int or an ``(h, w)`` pair) as a pair of ints ``>= minimum``."""
    try:
        h, w = (value, value) if np.ndim(value) == 0 else value
        pair = (operator.index(h), operator.index(w))
    except (TypeError, ValueError):
        raise ImgclassError(f"{name} must be an int or a pair of ints, got {value!r}") from None
    if min(pair) < minimum:
        raise ImgclassError(f"{name} must be >= {minimum}, got {value!r}")
    return pair


def _check_4d(x: np.ndarray, name: str) -> None:
    if np.ndim(x) != 4:
        raise ImgclassError(f"{name} must be 4-D (N, C, H, W), got shape {np.shape(x)}")


def _span(start: int, count: int, step: int) -> slice:
    """``count`` indices ``start, start + step, ...`` as a slice (``count >= 1``)."""
    return slice(start, start + (count - 1) * step + 1, step)
