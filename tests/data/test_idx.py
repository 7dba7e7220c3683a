import gzip

import numpy as np
import pytest

from imgclass.data import load
from imgclass.data.idx import FASHION_CLASSES, read_idx, write_idx
from imgclass.errors import DataError
from tests.conftest import make_images


def write_idx_set(directory, rng, n_train=30, n_test=10, gz=True, shape=(28, 28)):
    suffix = ".gz" if gz else ""
    xtr, ytr = make_images(rng, n_train, (1, *shape))
    xte, yte = make_images(rng, n_test, (1, *shape))
    write_idx(directory / f"train-images-idx3-ubyte{suffix}", xtr[:, 0])
    write_idx(directory / f"train-labels-idx1-ubyte{suffix}", ytr.astype(np.uint8))
    write_idx(directory / f"t10k-images-idx3-ubyte{suffix}", xte[:, 0])
    write_idx(directory / f"t10k-labels-idx1-ubyte{suffix}", yte.astype(np.uint8))
    return xtr, ytr, xte, yte


@pytest.mark.parametrize("gz", [True, False])
def test_idx_roundtrip_matches_official_header(tmp_path, rng, gz):
    x = rng.integers(0, 256, (5, 28, 28), dtype=np.uint8)
    path = write_idx(tmp_path / ("a.gz" if gz else "a"), x)
    raw = gzip.decompress(path.read_bytes()) if gz else path.read_bytes()
    # magic 0x00000803, then big-endian sizes 5, 28, 28: the layout of train-images-idx3-ubyte
    assert raw[:16] == bytes.fromhex("00000803 00000005 0000001c 0000001c")
    np.testing.assert_array_equal(read_idx(path), x)


def test_idx_other_dtypes_roundtrip(tmp_path):
    for a in (np.arange(6, dtype=np.int32).reshape(2, 3), np.linspace(0, 1, 4).astype(np.float32)):
        out = read_idx(write_idx(tmp_path / "b", a))
        assert out.dtype == a.dtype and np.array_equal(out, a)


@pytest.mark.parametrize("gz", [True, False])
def test_idx_dir_loads_as_nchw(tmp_path, rng, gz):
    xtr, ytr, xte, yte = write_idx_set(tmp_path, rng, gz=gz)
    ds = load(f"idx:{tmp_path}")
    assert ds.x_train.shape == (30, 1, 28, 28) and ds.x_train.dtype == np.uint8
    np.testing.assert_array_equal(ds.x_train, xtr)
    np.testing.assert_array_equal(ds.y_test, yte)
    assert ds.classes == [str(k) for k in range(10)]


def test_idx_class_names_file(tmp_path, rng):
    write_idx_set(tmp_path, rng)
    names = tmp_path / "names.txt"
    names.write_text("\n".join(FASHION_CLASSES) + "\n")
    assert load(f"idx:{tmp_path}", class_names=str(names)).classes == FASHION_CLASSES
    (tmp_path / "classes.txt").write_text("\n".join(f"c{k}" for k in range(10)))
    assert load(f"idx:{tmp_path}").classes[3] == "c3"


def test_idx_too_few_class_names_is_an_error(tmp_path, rng):
    write_idx_set(tmp_path, rng)
    (tmp_path / "classes.txt").write_text("a\nb\n")
    with pytest.raises(DataError, match="labels must lie in 0..1"):
        load(f"idx:{tmp_path}")


def test_wrong_magic_number(tmp_path):
    bad = tmp_path / "x"
    bad.write_bytes(b"\x12\x34\x08\x03" + b"\x00" * 20)
    with pytest.raises(DataError, match="not an IDX file"):
        read_idx(bad)


def test_truncated_payload(tmp_path, rng):
    path = write_idx(tmp_path / "x", rng.integers(0, 256, (4, 28, 28), dtype=np.uint8))
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DataError, match="truncated or damaged"):
        read_idx(path)


def test_truncated_gzip(tmp_path, rng):
    path = write_idx(tmp_path / "x.gz", rng.integers(0, 256, (40, 28, 28), dtype=np.uint8))
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    with pytest.raises(DataError, match="corrupt or truncated gzip"):
        read_idx(path)


def test_corrupt_gzip(tmp_path, rng):
    path = write_idx(tmp_path / "x.gz", rng.integers(0, 256, (40, 28, 28), dtype=np.uint8))
    data = bytearray(path.read_bytes())
    data[20:60] = bytes(40)  # zero out part of the deflate stream
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match="corrupt or truncated gzip"):
        read_idx(path)


def test_image_label_count_mismatch(tmp_path, rng):
    write_idx_set(tmp_path, rng)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(29, np.uint8))
    with pytest.raises(DataError, match="30 images but 29 labels"):
        load(f"idx:{tmp_path}")


def test_missing_file_is_named(tmp_path, rng):
    write_idx_set(tmp_path, rng)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte"):
        load(f"idx:{tmp_path}")


def test_labels_file_in_images_slot(tmp_path, rng):
    write_idx_set(tmp_path, rng)
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", np.zeros(30, np.uint8))
    with pytest.raises(DataError, match=r"expected uint8 images \(N, H, W\)"):
        load(f"idx:{tmp_path}")


def test_fashion_from_data_dir_search_order(tmp_path, rng, monkeypatch):
    """An explicit --data-dir wins over $IMGCLASS_DATA, which wins over the cache."""
    explicit, env = tmp_path / "explicit", tmp_path / "env"
    explicit.mkdir()
    (env / "fashion-mnist").mkdir(parents=True)
    a = write_idx_set(explicit, rng, n_train=12)
    b = write_idx_set(env / "fashion-mnist", rng, n_train=14)
    monkeypatch.setenv("IMGCLASS_DATA", str(env))
    ds = load("fashion-mnist", data_dir=str(explicit), download=False)
    assert len(ds.y_train) == 12 and ds.classes == FASHION_CLASSES
    np.testing.assert_array_equal(ds.x_train, a[0])
    ds = load("fashion-mnist", download=False)
    assert len(ds.y_train) == 14
    np.testing.assert_array_equal(ds.x_train, b[0])


def test_missing_dataset_without_download_lists_places(tmp_path, monkeypatch):
    monkeypatch.setattr("imgclass.data.download.SYSTEM_DIRS", {})
    with pytest.raises(DataError, match="mnist not found; looked in") as e:
        load("mnist", data_dir=str(tmp_path), download=False)
    assert str(tmp_path) in str(e.value)


def test_missing_data_dir(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load("mnist", data_dir=str(tmp_path / "nope"))
