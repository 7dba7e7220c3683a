"""Checkpoints: one file with everything needed to resume a run bit for bit, written atomically.

The file is a ``torch.save`` archive for both engines (NumPy arrays are
stored as tensors and come back as arrays) and is read back with
``weights_only=True``: loading a checkpoint never runs code from the file.
It is written to a temporary file and renamed over the old one, so a run
killed at any moment leaves either the previous checkpoint or the new one.

The file starts with a header, :data:`MAGIC` and the SHA-256 of the archive
that follows it; a file whose archive does not match its digest (a flipped
bit, a truncated copy, an edit) is refused before ``torch.load`` sees it.
Files written before the header existed (a bare archive) still load.
"""

from __future__ import annotations

import hashlib
import io
import os
import random
from pathlib import Path

import numpy as np

from imgclass.errors import ImgclassError
from imgclass.fileio import atomic_write

_ARRAY = "__ndarray__"
#: First bytes of a checkpoint; the 32-byte SHA-256 of the rest of the file follows.
MAGIC = b"imgclass-checkpoint-sha256\n"


def _pack(obj):
    """Nested dicts/lists of NumPy arrays, tensors and plain values -> the same with tensors only."""
    import torch

    if isinstance(obj, np.ndarray):
        return {_ARRAY: torch.from_numpy(np.ascontiguousarray(obj))}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        return {k: _pack(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_pack(v) for v in obj)
    return obj


def _unpack(obj):
    if isinstance(obj, dict):
        if set(obj) == {_ARRAY}:
            return obj[_ARRAY].numpy()
        return {k: _unpack(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_unpack(v) for v in obj)
    return obj


def save_checkpoint(path: str | os.PathLike, state: dict) -> Path:
    """Write ``state`` (nested dicts of arrays, tensors, numbers, strings) to ``path`` atomically."""
    import torch

    buf = io.BytesIO()
    torch.save(_pack(state), buf)
    payload = buf.getvalue()
    with atomic_write(path) as f:
        f.write(MAGIC + hashlib.sha256(payload).digest() + payload)
    return Path(path)


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Read a checkpoint written by :func:`save_checkpoint`; a clear error if it is missing or damaged."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise ImgclassError(f"{path}: no checkpoint here (was the run started with this directory?)")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ImgclassError(f"{path}: cannot read the checkpoint ({e.strerror})") from None
    if data.startswith(MAGIC):
        digest, payload = data[len(MAGIC):len(MAGIC) + 32], data[len(MAGIC) + 32:]
        if hashlib.sha256(payload).digest() != digest:
            raise ImgclassError(f"{path}: the checkpoint is damaged (its SHA-256 does not match the one written "
                                "with it); it cannot be resumed: start the run again")
    else:
        payload = data  # written before checkpoints carried a digest
    try:
        return _unpack(torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True))
    except Exception as e:  # torch raises several types for a truncated or foreign file
        raise ImgclassError(f"{path}: not a readable imgclass checkpoint ({type(e).__name__}: {e})") from e


def rng_state() -> dict:
    """The global RNG states a run touches: Python's, NumPy's legacy one and torch's (CPU and CUDA)."""
    import torch

    version, internal, gauss = random.getstate()
    state = {"python": list(internal), "python_version": version, "python_gauss": gauss,
             "numpy": _np_global_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["torch_cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    import torch

    random.setstate((state["python_version"], tuple(state["python"]), state["python_gauss"]))
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(state["torch"])
    if "torch_cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["torch_cuda"])


def _np_global_state() -> list:
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    return [kind, keys.copy(), int(pos), int(has_gauss), float(gauss)]
