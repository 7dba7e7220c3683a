import io
import pickle
import pickletools
import tarfile

import numpy as np
import pytest

from imgclass.data import load
from imgclass.data.cifar import (
    ARCHIVE, BATCH_DIR, CIFAR10_CLASSES, py2_pickle, read_batch, safe_load_pickle, write_cifar10,
)
from imgclass.errors import DataError
from tests.conftest import make_images


@pytest.fixture
def cifar_arrays(rng):
    xtr, ytr = make_images(rng, 50, (3, 32, 32))
    xte, yte = make_images(rng, 20, (3, 32, 32))
    return xtr, ytr, xte, yte


def test_batches_are_python2_protocol2_pickles(tmp_path, cifar_arrays):
    bd = write_cifar10(tmp_path, *cifar_arrays)
    raw = (bd / "data_batch_1").read_bytes()
    # The official files start with PROTO 2 and spell keys as Python 2 str (SHORT_BINSTRING 'U').
    assert raw[:4] == b"\x80\x02}("
    ops = [op.name for op, _, _ in pickletools.genops(raw)]
    assert "SHORT_BINSTRING" in ops and "BINSTRING" in ops and "BINUNICODE" not in ops
    # The plain (unsafe) reader the course notebooks use agrees with ours.
    d = pickle.loads(raw, encoding="latin1")
    assert d["data"].shape == (10, 3072) and d["data"].dtype == np.uint8


def test_cifar_dir_roundtrip_layout(tmp_path, cifar_arrays):
    xtr, ytr, xte, yte = cifar_arrays
    write_cifar10(tmp_path, xtr, ytr, xte, yte)
    for data_dir in (tmp_path, tmp_path / BATCH_DIR):
        ds = load("cifar10", data_dir=str(data_dir), download=False)
        assert ds.x_train.shape == (50, 3, 32, 32) and ds.x_train.dtype == np.uint8
        np.testing.assert_array_equal(ds.x_train, xtr)
        np.testing.assert_array_equal(ds.y_train, ytr)
        np.testing.assert_array_equal(ds.x_test, xte)
        assert ds.classes == CIFAR10_CLASSES


def test_cifar_row_layout_is_rgb_planes(tmp_path):
    """Row = 1024 red, 1024 green, 1024 blue values, each plane row-major (official layout)."""
    x = np.zeros((5, 3, 32, 32), np.uint8)
    x[:, 0, 0, 1] = 200  # red, row 0, column 1
    x[:, 2, 31, 0] = 100  # blue, row 31, column 0
    bd = write_cifar10(tmp_path, x, np.zeros(5, int), x, np.zeros(5, int))
    row = pickle.loads((bd / "test_batch").read_bytes(), encoding="latin1")["data"][0]
    assert row[1] == 200 and row[2048 + 31 * 32] == 100 and row.sum() == 300


def test_cifar_from_archive(tmp_path, cifar_arrays):
    archive = write_cifar10(tmp_path, *cifar_arrays, archive=True)
    assert archive.name == ARCHIVE and not (tmp_path / BATCH_DIR).exists()
    ds = load("cifar10", data_dir=str(tmp_path), download=False)  # finds and extracts the archive
    np.testing.assert_array_equal(ds.x_test, cifar_arrays[2])
    assert (tmp_path / BATCH_DIR / "data_batch_5").is_file()
    ds2 = load("cifar10", data_dir=str(archive), download=False)  # the tar.gz path itself
    np.testing.assert_array_equal(ds2.y_train, cifar_arrays[1])


def test_archive_with_path_traversal_cannot_escape(tmp_path, cifar_arrays):
    archive = write_cifar10(tmp_path / "src", *cifar_arrays, archive=True)
    evil = tmp_path / "evil" / ARCHIVE
    evil.parent.mkdir()
    with tarfile.open(archive) as src, tarfile.open(evil, "w:gz") as dst:
        for m in src.getmembers():
            dst.addfile(m, src.extractfile(m))
        info = tarfile.TarInfo("../../pwned")
        info.size = 3
        dst.addfile(info, io.BytesIO(b"bad"))
    load("cifar10", data_dir=str(evil.parent), download=False)
    assert not (tmp_path / "pwned").exists() and not (tmp_path.parent / "pwned").exists()


def test_crafted_pickle_cannot_run_code(tmp_path, cifar_arrays):
    bd = write_cifar10(tmp_path, *cifar_arrays)
    marker = tmp_path / "owned"

    class Exploit:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    (bd / "data_batch_3").write_bytes(pickle.dumps({"data": Exploit(), "labels": []}, protocol=2))
    with pytest.raises(DataError, match="refusing to load global"):
        load("cifar10", data_dir=str(tmp_path), download=False)
    assert not marker.exists()
    # the same file through plain pickle would have run the call
    pickle.loads((bd / "data_batch_3").read_bytes())
    assert marker.exists()


def test_python3_pickles_of_the_same_dict_also_load(tmp_path, cifar_arrays):
    """Some re-distributions are re-pickled under Python 3 (bytes keys, protocol 2..5)."""
    x = cifar_arrays[0][:10].reshape(10, 3072)
    for proto in (2, 4, 5):
        p = tmp_path / f"b{proto}"
        p.write_bytes(pickle.dumps({b"data": x, b"labels": list(range(10))}, protocol=proto))
        xb, yb = read_batch(p)
        np.testing.assert_array_equal(xb.reshape(10, 3072), x)


def test_truncated_batch(tmp_path, cifar_arrays):
    bd = write_cifar10(tmp_path, *cifar_arrays)
    raw = (bd / "test_batch").read_bytes()
    (bd / "test_batch").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataError, match="not a valid CIFAR-10 batch"):
        load("cifar10", data_dir=str(tmp_path), download=False)


def test_label_count_mismatch(tmp_path, cifar_arrays):
    bd = write_cifar10(tmp_path, *cifar_arrays)
    (bd / "data_batch_2").write_bytes(py2_pickle({"data": np.zeros((10, 3072), np.uint8), "labels": [0] * 9}))
    with pytest.raises(DataError, match="10 images but 9 labels"):
        load("cifar10", data_dir=str(tmp_path), download=False)


def test_wrong_data_shape(tmp_path, cifar_arrays):
    bd = write_cifar10(tmp_path, *cifar_arrays)
    (bd / "data_batch_2").write_bytes(py2_pickle({"data": np.zeros((10, 1000), np.uint8), "labels": [0] * 10}))
    with pytest.raises(DataError, match=r"uint8 array \(N, 3072\)"):
        load("cifar10", data_dir=str(tmp_path), download=False)


def test_corrupt_archive(tmp_path, cifar_arrays):
    archive = write_cifar10(tmp_path, *cifar_arrays, archive=True)
    archive.write_bytes(archive.read_bytes()[:200])
    with pytest.raises(DataError, match="corrupt or truncated archive"):
        load("cifar10", data_dir=str(tmp_path), download=False)


def test_incomplete_batch_set_not_found(tmp_path, cifar_arrays, monkeypatch):
    bd = write_cifar10(tmp_path, *cifar_arrays)
    (bd / "data_batch_4").unlink()
    with pytest.raises(DataError, match="cifar10 not found"):
        load("cifar10", data_dir=str(tmp_path), download=False)


def test_safe_load_rejects_non_pickle(tmp_path):
    p = tmp_path / "junk"
    p.write_bytes(b"hello world")
    with pytest.raises(DataError):
        safe_load_pickle(p)
