"""Decoding one image file into a uint8 (C, H, W) array with Pillow.

Shared by the folder loader and (later) prediction on arbitrary photos, so
both treat odd files the same way: 16-bit and float images are rescaled to
0..255, transparency is composited onto white, palette/CMYK/YCbCr images
are converted, EXIF orientation is applied, and anything Pillow cannot
decode (not an image, truncated, a decompression bomb) raises
:class:`DataError` naming the file.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from imgclass.errors import DataError

GRAY_MODES = {"1", "L", "LA", "I", "I;16", "I;16L", "I;16B", "I;16N", "F"}


def image_extensions() -> set[str]:
    """File suffixes Pillow can read (lower case, with the dot)."""
    Image.init()
    return {ext for ext, fmt in Image.registered_extensions().items() if fmt in Image.OPEN}


def open_image(path: str | os.PathLike) -> Image.Image:
    """Open ``path`` lazily (header only), refusing decompression bombs."""
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return Image.open(path)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise DataError(f"{path}: refused, too many pixels for a safe decode ({e})") from e
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (OSError, ValueError, SyntaxError) as e:  # UnidentifiedImageError is an OSError
        raise DataError(f"{path}: not an image Pillow can read ({e})") from e


def _to_8bit(img: Image.Image) -> Image.Image:
    """Rescale 16/32-bit integer and float images to 8-bit gray."""
    a = np.asarray(img, dtype=np.float64)
    if img.mode == "F":
        a = a * 255.0 if a.max(initial=0) <= 1.0 else a
    elif img.mode.startswith("I;16") or a.max(initial=0) > 255:
        a = a / 257.0  # 0..65535 -> 0..255
    return Image.fromarray(np.clip(np.rint(a), 0, 255).astype(np.uint8), "L")


def to_array(img: Image.Image, size: tuple[int, int] | None = None, channels: int = 3, path: str = "") -> np.ndarray:
    """Decode ``img`` to uint8 (C, H, W) with ``channels`` 1 or 3, resized to ``size`` = (H, W)."""
    if channels not in (1, 3):
        raise DataError(f"channels must be 1 (grayscale) or 3 (RGB), got {channels}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img.load()
            img = ImageOps.exif_transpose(img)
            if img.mode in ("I", "I;16", "I;16L", "I;16B", "I;16N", "F"):
                img = _to_8bit(img)
            if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:  # incl. colour-key PNGs
                rgba = img.convert("RGBA")
                img = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
            img = img.convert("L" if channels == 1 else "RGB")
            if size is not None and img.size != (size[1], size[0]):
                img = img.resize((size[1], size[0]), Image.Resampling.BILINEAR)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise DataError(f"{path or 'image'}: refused, too many pixels for a safe decode ({e})") from e
    except (OSError, ValueError, SyntaxError) as e:
        raise DataError(f"{path or 'image'}: cannot decode ({e}); the file may be truncated or damaged") from e
    a = np.asarray(img, dtype=np.uint8)
    return a[None] if a.ndim == 2 else a.transpose(2, 0, 1)  # (H, W[, C]) -> (C, H, W)


def read_image(path: str | os.PathLike, size: tuple[int, int] | None = None, channels: int = 3) -> np.ndarray:
    """Read one image file as uint8 (C, H, W); see :func:`to_array`."""
    with open_image(path) as img:
        return to_array(img, size, channels, str(path))
