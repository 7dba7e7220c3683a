"""The ``folder:PATH`` dataset loader on small image folders written here."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from PIL import Image

from imgclass.data import load
from imgclass.data.cache import is_images
from imgclass.errors import DataError

LOGGER = "imgclass.data.folder"
CLASSES = ["cat", "dog", "owl"]


def _colour(label: int, index: int) -> tuple[int, int, int]:
    """A distinct solid colour per image: red encodes the class, green the index."""
    return (40 + 80 * label, 10 + 20 * index, 7)


def _write_class(d, label: int, n: int, size=(12, 10), mode="RGB", suffix=".png", start=0):
    """``n`` solid images of PIL size (W, H) in ``d``."""
    d.mkdir(parents=True, exist_ok=True)
    for i in range(start, start + n):
        c = _colour(label, i)
        img = Image.new("RGB", size, c)
        if mode != "RGB":
            img = img.convert(mode)
        img.save(d / f"img{i:02d}{suffix}")


def _flat(root, classes=CLASSES, n=10, size=(12, 10)):
    # written in reverse order: the class order must come from sorting, not creation
    for k, name in sorted(enumerate(classes), reverse=True):
        _write_class(root / name, k, n, size)
    return root


def _load(root, **kw):
    kw.setdefault("progress", False)
    return load("folder:" + str(root), **kw)


def _check_arrays(ds, shape_chw):
    for x, y in ((ds.x_train, ds.y_train), (ds.x_test, ds.y_test)):
        assert is_images(x) and x.dtype == np.uint8  # an array, or DiskImages over the decoded-image cache
        assert x.ndim == 4 and x.shape[1:] == shape_chw
        assert y.dtype == np.int64 and y.shape == (len(x),)


def _image_ids(x):
    """(red, green) of the top-left pixel of each image: identifies it."""
    return [(int(r), int(g)) for r, g in zip(x[:, 0, 0, 0], x[:, 1, 0, 0])]


# --------------------------------------------------------------------------- flat layout


def test_flat_layout_stratified_split(tmp_path):
    root = _flat(tmp_path / "imgs")
    ds = _load(root)
    assert ds.classes == CLASSES
    _check_arrays(ds, (3, 10, 12))
    assert len(ds.y_train) == 24 and len(ds.y_test) == 6
    np.testing.assert_array_equal(np.bincount(ds.y_test, minlength=3), [2, 2, 2])
    np.testing.assert_array_equal(np.bincount(ds.y_train, minlength=3), [8, 8, 8])
    # every image keeps its own label, and each appears exactly once across the parts
    for x, y in ((ds.x_train, ds.y_train), (ds.x_test, ds.y_test)):
        np.testing.assert_array_equal(x[:, 0, 0, 0], 40 + 80 * y)
        assert np.all(x == x[:, :, :1, :1])  # solid images stay solid
    ids = _image_ids(ds.x_train) + _image_ids(ds.x_test)
    expected = {_colour(k, i)[:2] for k in range(3) for i in range(10)}
    assert len(ids) == 30 and set(ids) == expected
    assert ds.notes == []


def test_flat_layout_same_seed_same_split(tmp_path):
    root = _flat(tmp_path / "imgs")
    a = _load(root, seed=7)
    b = _load(root, seed=7)
    np.testing.assert_array_equal(a.x_test, b.x_test)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    np.testing.assert_array_equal(a.y_train, b.y_train)


def test_flat_layout_different_seed_different_split(tmp_path):
    root = _flat(tmp_path / "imgs")
    a = _load(root, seed=0)
    b = _load(root, seed=1)
    assert set(_image_ids(a.x_test)) != set(_image_ids(b.x_test))
    # still stratified
    np.testing.assert_array_equal(np.bincount(b.y_test, minlength=3), [2, 2, 2])


def test_flat_layout_test_fraction(tmp_path):
    root = _flat(tmp_path / "imgs")
    ds = _load(root, test_fraction=0.5)
    assert len(ds.y_train) == 15 and len(ds.y_test) == 15
    np.testing.assert_array_equal(np.bincount(ds.y_test, minlength=3), [5, 5, 5])


# --------------------------------------------------------------------------- train/ + test/ layout


def _split_tree(root):
    for k, name in enumerate(CLASSES):
        _write_class(root / "train" / name, k, 4)
        _write_class(root / "test" / name, k, 2, start=4)
    Image.new("RGB", (12, 10), (0, 255, 0)).save(root / "test" / "dog" / "green.png")
    return root


def test_split_layout_kept_as_given(tmp_path):
    root = _split_tree(tmp_path / "imgs")
    ds = _load(root)
    assert ds.classes == CLASSES
    _check_arrays(ds, (3, 10, 12))
    assert len(ds.y_train) == 12 and len(ds.y_test) == 7
    np.testing.assert_array_equal(np.bincount(ds.y_train, minlength=3), [4, 4, 4])
    np.testing.assert_array_equal(np.bincount(ds.y_test, minlength=3), [2, 3, 2])
    green = np.array([0, 255, 0], np.uint8)[:, None, None]
    in_test = np.all(ds.x_test == green, axis=(1, 2, 3))
    in_train = np.all(ds.x_train == green, axis=(1, 2, 3))
    assert in_test.sum() == 1 and not in_train.any()
    assert ds.classes[ds.y_test[in_test][0]] == "dog"
    # train images are exactly those written to train/ (indices 0..3)
    assert set(_image_ids(ds.x_train)) == {_colour(k, i)[:2] for k in range(3) for i in range(4)}


def test_split_layout_ignores_seed_and_fraction(tmp_path):
    root = _split_tree(tmp_path / "imgs")
    a = _load(root)
    b = _load(root, seed=5, test_fraction=0.5)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    np.testing.assert_array_equal(a.x_test, b.x_test)
    np.testing.assert_array_equal(a.y_test, b.y_test)


def test_split_layout_test_class_missing_from_train(tmp_path):
    root = _split_tree(tmp_path / "imgs")
    _write_class(root / "test" / "zebra", 0, 2)
    with pytest.raises(DataError, match="zebra"):
        _load(root)


# --------------------------------------------------------------------------- sizes and channels


def test_image_size_int(tmp_path):
    ds = _load(_flat(tmp_path / "imgs"), image_size=8)
    _check_arrays(ds, (3, 8, 8))
    assert np.all(ds.x_train[:, 0] == (40 + 80 * ds.y_train)[:, None, None])


def test_image_size_tuple_is_h_w(tmp_path):
    ds = _load(_flat(tmp_path / "imgs"), image_size=(6, 9))
    _check_arrays(ds, (3, 6, 9))


def test_default_size_is_most_common(tmp_path):
    root = tmp_path / "imgs"
    for k, name in enumerate(["a", "b"]):
        _write_class(root / name, k, 5, size=(12, 10))  # W=12, H=10: the most common
        _write_class(root / name, k, 2, size=(20, 16), start=5)
        _write_class(root / name, k, 1, size=(7, 7), start=7)
    ds = _load(root)
    _check_arrays(ds, (3, 10, 12))
    assert len(ds.y_train) + len(ds.y_test) == 16
    # resized images keep their colour
    ids = set(_image_ids(ds.x_train) + _image_ids(ds.x_test))
    assert ids == {_colour(k, i)[:2] for k in range(2) for i in range(8)}


def test_default_size_follows_exif_orientation(tmp_path):
    root = tmp_path / "imgs"
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape 12x10, displayed portrait 10x12
    for k, name in enumerate(["a", "b"]):
        (root / name).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (12, 10), _colour(k, i)).save(root / name / f"{i}.jpg", exif=exif, quality=95)
    ds = _load(root)
    _check_arrays(ds, (3, 12, 10))


def test_default_channels_one_when_all_gray(tmp_path):
    root = tmp_path / "imgs"
    _write_class(root / "a", 0, 3, mode="L")
    _write_class(root / "b", 1, 3, mode="L")
    ds = _load(root)
    _check_arrays(ds, (1, 10, 12))


def test_default_channels_three_when_any_rgb(tmp_path):
    root = tmp_path / "imgs"
    _write_class(root / "a", 0, 3, mode="L")
    _write_class(root / "b", 1, 3, mode="L")
    _write_class(root / "b", 1, 1, mode="RGB", start=3)
    ds = _load(root)
    _check_arrays(ds, (3, 10, 12))


def test_channels_override(tmp_path):
    root = _flat(tmp_path / "imgs")
    ds = _load(root, channels=1)
    _check_arrays(ds, (1, 10, 12))
    gray_root = tmp_path / "gray"
    _write_class(gray_root / "a", 0, 3, mode="L")
    _write_class(gray_root / "b", 1, 3, mode="L")
    ds3 = _load(gray_root, channels=3)
    _check_arrays(ds3, (3, 10, 12))
    assert np.all(ds3.x_train[:, 0] == ds3.x_train[:, 1])


def test_bad_channels_is_one_clear_error(tmp_path, caplog):
    root = _flat(tmp_path / "imgs", n=3)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        with pytest.raises(DataError, match="channels"):
            _load(root, channels=2)
    assert not [r for r in caplog.records if r.name == LOGGER]  # no per-file "skipping" noise


# --------------------------------------------------------------------------- what is read and what is not


def test_non_image_files_ignored_silently(tmp_path, caplog):
    root = _flat(tmp_path / "imgs")
    (root / "cat" / "notes.txt").write_text("some notes")
    (root / "notes.txt").write_text("top-level notes")
    (root / "dog" / "labels.csv").write_text("a,b\n")
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        ds = _load(root)
    assert len(ds.y_train) + len(ds.y_test) == 30
    assert ds.classes == CLASSES
    assert ds.notes == []
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_hidden_files_and_dirs_ignored(tmp_path):
    root = _flat(tmp_path / "imgs")
    _write_class(root / ".thumbnails", 0, 3)  # hidden class dir
    _write_class(root / "cat" / ".cache", 0, 3)  # hidden subdir inside a class
    Image.new("RGB", (12, 10), (0, 255, 0)).save(root / "dog" / ".hidden.png")
    ds = _load(root)
    assert ds.classes == CLASSES
    assert len(ds.y_train) + len(ds.y_test) == 30
    np.testing.assert_array_equal(np.bincount(np.concatenate([ds.y_train, ds.y_test])), [10, 10, 10])
    green = np.array([0, 255, 0], np.uint8)[:, None, None]
    assert not np.all(ds.x_train == green, axis=(1, 2, 3)).any()
    assert not np.all(ds.x_test == green, axis=(1, 2, 3)).any()


def test_unreadable_file_skipped_with_warning(tmp_path, caplog):
    root = _flat(tmp_path / "imgs")
    (root / "dog" / "broken.png").write_text("not a png at all")
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        ds = _load(root)
    assert len(ds.y_train) + len(ds.y_test) == 30
    warnings = [r for r in caplog.records if r.name == LOGGER and r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "broken.png" in warnings[0].getMessage()
    assert len(ds.notes) == 1
    assert "skipped 1" in ds.notes[0] and "broken.png" in ds.notes[0]


def test_truncated_file_skipped_with_warning(tmp_path, caplog):
    root = _flat(tmp_path / "imgs")
    noise = np.random.default_rng(0).integers(0, 256, (10, 12, 3), dtype=np.uint8)
    Image.fromarray(noise, "RGB").save(root / "owl" / "cut.jpg", quality=95)
    data = (root / "owl" / "cut.jpg").read_bytes()
    (root / "owl" / "cut.jpg").write_bytes(data[: len(data) // 2])
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        ds = _load(root)
    assert len(ds.y_train) + len(ds.y_test) == 30
    assert any("cut.jpg" in r.getMessage() for r in caplog.records if r.name == LOGGER)
    assert len(ds.notes) == 1 and "cut.jpg" in ds.notes[0]


def test_class_with_only_unreadable_files(tmp_path):
    root = _flat(tmp_path / "imgs")
    (root / "ghost").mkdir()
    (root / "ghost" / "a.png").write_text("nope")
    (root / "ghost" / "b.jpg").write_bytes(b"\xff\xd8\xff\x00garbage")
    with pytest.raises(DataError, match="ghost"):
        _load(root)


# --------------------------------------------------------------------------- folder errors


def test_missing_directory(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(DataError, match="nowhere"):
        _load(missing)


def test_directory_without_class_subfolders(tmp_path):
    root = tmp_path / "flat_files"
    root.mkdir()
    Image.new("RGB", (12, 10)).save(root / "a.png")
    Image.new("RGB", (12, 10)).save(root / "b.png")
    with pytest.raises(DataError, match="class subfolders"):
        _load(root)


def test_empty_directory(tmp_path):
    with pytest.raises(DataError, match="class subfolders"):
        _load(tmp_path)


def test_path_is_a_file(tmp_path):
    f = tmp_path / "x.png"
    Image.new("RGB", (4, 4)).save(f)
    with pytest.raises(DataError):
        _load(f)


def test_classes_too_small_to_split_or_to_train_are_named(tmp_path):
    _write_class(tmp_path / "flat" / "cat", 0, 5)
    _write_class(tmp_path / "flat" / "dog", 1, 1)
    with pytest.raises(DataError, match=r"too few images in class\(es\) dog \(1\): a seeded test split"):
        _load(tmp_path / "flat")
    _write_class(tmp_path / "split" / "train" / "cat", 0, 3)
    _write_class(tmp_path / "split" / "test" / "cat", 0, 2)
    _write_class(tmp_path / "split" / "test" / "dog", 1, 2)
    (tmp_path / "split" / "train" / "dog").mkdir()
    with pytest.raises(DataError, match=r"no training images for class\(es\) dog \(only in test/\)"):
        _load(tmp_path / "split")
