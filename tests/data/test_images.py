"""Decoding single image files: imgclass.data.images."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from imgclass.data.images import open_image, read_image, to_array
from imgclass.errors import DataError


def _save(img: Image.Image, path, **kw):
    img.save(path, **kw)
    return path


def _rgb_array(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


# --------------------------------------------------------------------------- formats and modes


def test_rgb_png_exact(tmp_path):
    a = _rgb_array(5, 7)
    p = _save(Image.fromarray(a, "RGB"), tmp_path / "x.png")
    x = read_image(p)
    assert x.dtype == np.uint8
    assert x.shape == (3, 5, 7)
    np.testing.assert_array_equal(x, a.transpose(2, 0, 1))


def test_rgb_jpeg_close_to_original(tmp_path):
    # a smooth image so JPEG reproduces it closely
    yy, xx = np.mgrid[0:16, 0:24]
    a = np.stack([xx * 10, yy * 15, np.full_like(xx, 90)], axis=-1).astype(np.uint8)
    p = _save(Image.fromarray(a, "RGB"), tmp_path / "x.jpg", quality=95)
    x = read_image(p)
    assert x.dtype == np.uint8
    assert x.shape == (3, 16, 24)
    diff = np.abs(x.astype(int) - a.transpose(2, 0, 1).astype(int))
    assert diff.mean() < 3
    assert diff.max() < 40


def test_grayscale_one_and_three_channels(tmp_path):
    g = np.arange(4 * 6, dtype=np.uint8).reshape(4, 6) * 10
    p = _save(Image.fromarray(g, "L"), tmp_path / "g.png")
    x1 = read_image(p, channels=1)
    assert x1.dtype == np.uint8
    assert x1.shape == (1, 4, 6)
    np.testing.assert_array_equal(x1[0], g)
    x3 = read_image(p)  # default channels=3
    assert x3.shape == (3, 4, 6)
    for c in range(3):
        np.testing.assert_array_equal(x3[c], g)


def test_rgb_to_one_channel_uses_luminance(tmp_path):
    img = Image.new("RGB", (3, 2), (255, 0, 0))
    img.putpixel((1, 0), (0, 255, 0))
    img.putpixel((2, 0), (0, 0, 255))
    p = _save(img, tmp_path / "c.png")
    x = read_image(p, channels=1)
    assert x.shape == (1, 2, 3)
    # ITU-R 601-2 luma: L = R*299/1000 + G*587/1000 + B*114/1000
    assert x[0, 0, 0] == 76
    assert x[0, 0, 1] == 150
    assert x[0, 0, 2] == 29


def test_rgba_transparent_composited_onto_white(tmp_path):
    img = Image.new("RGBA", (3, 1))
    img.putpixel((0, 0), (0, 0, 0, 0))  # fully transparent black -> white
    img.putpixel((1, 0), (10, 20, 30, 255))  # opaque -> unchanged
    img.putpixel((2, 0), (0, 0, 0, 128))  # half transparent black -> mid gray
    p = _save(img, tmp_path / "a.png")
    x = read_image(p)
    assert x.shape == (3, 1, 3)
    np.testing.assert_array_equal(x[:, 0, 0], [255, 255, 255])
    np.testing.assert_array_equal(x[:, 0, 1], [10, 20, 30])
    assert np.all(np.abs(x[:, 0, 2].astype(int) - 127) <= 1)
    g = read_image(p, channels=1)
    assert g.shape == (1, 1, 3)
    assert g[0, 0, 0] == 255


def test_la_transparent_composited_onto_white(tmp_path):
    img = Image.new("LA", (2, 1))
    img.putpixel((0, 0), (0, 0))
    img.putpixel((1, 0), (40, 255))
    p = _save(img, tmp_path / "la.png")
    x = read_image(p, channels=1)
    np.testing.assert_array_equal(x[0, 0], [255, 40])


def _palette_image() -> Image.Image:
    img = Image.new("P", (4, 2))
    palette = [255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 8, 7] + [0] * (256 * 3 - 12)
    img.putpalette(palette)
    img.putdata([0, 1, 2, 3, 3, 2, 1, 0])
    return img


def test_palette_image_to_rgb(tmp_path):
    p = _save(_palette_image(), tmp_path / "p.png")
    with Image.open(p) as im:
        assert im.mode == "P"
    x = read_image(p)
    assert x.shape == (3, 2, 4)
    colours = {0: (255, 0, 0), 1: (0, 255, 0), 2: (0, 0, 255), 3: (9, 8, 7)}
    idx = np.array([[0, 1, 2, 3], [3, 2, 1, 0]])
    expected = np.array([[colours[i] for i in row] for row in idx], dtype=np.uint8).transpose(2, 0, 1)
    np.testing.assert_array_equal(x, expected)


def test_palette_transparent_index_becomes_white(tmp_path):
    p = _save(_palette_image(), tmp_path / "pt.png", transparency=3)
    with Image.open(p) as im:
        assert im.mode == "P" and "transparency" in im.info
    x = read_image(p)
    np.testing.assert_array_equal(x[:, 0, 3], [255, 255, 255])  # index 3 is transparent
    np.testing.assert_array_equal(x[:, 0, 0], [255, 0, 0])


def test_cmyk_jpeg_to_rgb(tmp_path):
    p = _save(Image.new("CMYK", (8, 6), (0, 255, 255, 0)), tmp_path / "cmyk.jpg", quality=95)
    with Image.open(p) as im:
        assert im.mode == "CMYK"
    x = read_image(p)
    assert x.dtype == np.uint8
    assert x.shape == (3, 6, 8)
    r, g, b = (x[c].astype(int) for c in range(3))
    assert r.min() > 200  # red
    assert g.max() < 60
    assert b.max() < 60


def test_16bit_grayscale_rescaled(tmp_path):
    a = np.array([[0, 65535, 32768, 25700, 51400, 257]], dtype=np.uint16)
    img = Image.fromarray(a)
    assert img.mode.startswith("I")
    p = _save(img, tmp_path / "g16.png")
    x = read_image(p, channels=1)
    assert x.dtype == np.uint8
    assert x.shape == (1, 1, 6)
    np.testing.assert_array_equal(x[0, 0], [0, 255, 128, 100, 200, 1])
    x3 = read_image(p)
    assert x3.shape == (3, 1, 6)
    for c in range(3):
        np.testing.assert_array_equal(x3[c, 0], [0, 255, 128, 100, 200, 1])


def test_exif_orientation_applied(tmp_path):
    a = np.zeros((10, 20, 3), np.uint8)
    a[:, :10] = (255, 0, 0)  # left half red, right half blue as stored
    a[:, 10:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    p = _save(Image.fromarray(a, "RGB"), tmp_path / "o.jpg", exif=exif, quality=95)
    x = read_image(p)
    assert x.shape == (3, 20, 10)
    # after a clockwise turn the stored left half (red) is on top
    assert x[0, 2, 5] > 200 and x[2, 2, 5] < 60
    assert x[2, 17, 5] > 200 and x[0, 17, 5] < 60


# --------------------------------------------------------------------------- resizing


def test_resize_non_square_is_h_w(tmp_path):
    a = np.zeros((10, 20, 3), np.uint8)
    a[:, :10] = (255, 0, 0)
    a[:, 10:] = (0, 0, 255)
    p = _save(Image.fromarray(a, "RGB"), tmp_path / "r.png")
    x = read_image(p, size=(6, 9))
    assert x.dtype == np.uint8
    assert x.shape == (3, 6, 9)
    np.testing.assert_array_equal(x[:, :, 0], np.array([[255] * 6, [0] * 6, [0] * 6]))  # left column red
    np.testing.assert_array_equal(x[:, :, -1], np.array([[0] * 6, [0] * 6, [255] * 6]))  # right column blue
    g = read_image(p, size=(4, 3), channels=1)
    assert g.shape == (1, 4, 3)


def test_resize_to_same_size_is_unchanged(tmp_path):
    a = _rgb_array(5, 7, seed=3)
    p = _save(Image.fromarray(a, "RGB"), tmp_path / "s.png")
    np.testing.assert_array_equal(read_image(p, size=(5, 7)), a.transpose(2, 0, 1))


# --------------------------------------------------------------------------- to_array / open_image


def test_to_array_in_memory_image():
    img = Image.new("RGB", (4, 3), (1, 2, 3))
    x = to_array(img)
    assert x.dtype == np.uint8
    assert x.shape == (3, 3, 4)
    np.testing.assert_array_equal(x[:, 1, 2], [1, 2, 3])
    y = to_array(img, size=(2, 5), channels=1)
    assert y.shape == (1, 2, 5)


def test_open_image_is_lazy_and_reports_header(tmp_path):
    p = _save(Image.fromarray(_rgb_array(5, 7), "RGB"), tmp_path / "h.png")
    with open_image(p) as img:
        assert img.size == (7, 5)
        assert img.mode == "RGB"
        assert img.format == "PNG"
        x = to_array(img, channels=3, path=str(p))
    assert x.shape == (3, 5, 7)


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("channels", [0, 2, 4])
def test_bad_channels(tmp_path, channels):
    p = _save(Image.new("RGB", (4, 4)), tmp_path / "c.png")
    with pytest.raises(DataError, match="channels"):
        read_image(p, channels=channels)
    with pytest.raises(DataError, match="channels"):
        to_array(Image.new("RGB", (4, 4)), channels=channels)


def test_text_file_with_image_suffix(tmp_path):
    p = tmp_path / "not_really.png"
    p.write_text("this is not an image\n")
    with pytest.raises(DataError, match="not_really.png") as e:
        read_image(p)
    assert "not an image" in str(e.value)
    with pytest.raises(DataError, match="not_really.png"):
        open_image(p)


def test_missing_file(tmp_path):
    p = tmp_path / "missing.png"
    with pytest.raises(DataError, match="missing.png.*not found"):
        read_image(p)


@pytest.mark.parametrize("fmt, suffix", [("PNG", ".png"), ("JPEG", ".jpg")])
def test_truncated_file(tmp_path, fmt, suffix):
    buf = io.BytesIO()
    Image.fromarray(_rgb_array(64, 64, seed=1), "RGB").save(buf, fmt)
    data = buf.getvalue()
    p = tmp_path / f"cut{suffix}"
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=f"cut{suffix}"):
        read_image(p)


@pytest.mark.parametrize("limit", [1000, 6000])  # 100x100 > 2*limit (error) and > limit (warning)
def test_decompression_bomb_refused(tmp_path, monkeypatch, limit):
    p = _save(Image.new("RGB", (100, 100), (5, 6, 7)), tmp_path / "bomb.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", limit)
    with pytest.raises(DataError, match="refused") as e:
        read_image(p)
    assert "bomb.png" in str(e.value)


def test_decompression_limit_not_hit_below(tmp_path, monkeypatch):
    p = _save(Image.new("RGB", (100, 100), (5, 6, 7)), tmp_path / "ok.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10000)
    x = read_image(p)
    assert x.shape == (3, 100, 100)
