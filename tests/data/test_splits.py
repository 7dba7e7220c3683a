import numpy as np
import pytest

from imgclass.data import load, make_split, stratified_indices
from imgclass.errors import DataError


def test_stratified_fraction_keeps_class_proportions():
    y = np.repeat(np.arange(4), [100, 50, 30, 20])
    picked, rest = stratified_indices(y, 0.1, seed=0)
    assert len(picked) == 20 and len(rest) == 180
    np.testing.assert_array_equal(np.bincount(y[picked]), [10, 5, 3, 2])
    assert np.intersect1d(picked, rest).size == 0 and len(np.union1d(picked, rest)) == 200


def test_stratified_count_exact_total_with_remainders():
    y = np.repeat(np.arange(3), [7, 7, 7])
    picked, _ = stratified_indices(y, 10, seed=3)
    assert len(picked) == 10
    assert sorted(np.bincount(y[picked], minlength=3)) == [3, 3, 4]


def test_seeded_and_seed_sensitive():
    y = np.arange(1000) % 10
    a, _ = stratified_indices(y, 0.2, seed=5)
    b, _ = stratified_indices(y, 0.2, seed=5)
    c, _ = stratified_indices(y, 0.2, seed=6)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_unstratified_is_plain_permutation():
    y = np.zeros(100, int)
    y[:5] = 1
    picked, rest = stratified_indices(y, 30, seed=0, stratify=False)
    assert len(picked) == 30 and len(rest) == 70


@pytest.mark.parametrize("bad", [1.5, -0.1, 1.0, 100, -1, "a", True])
def test_bad_sizes(bad):
    with pytest.raises(DataError):
        stratified_indices(np.arange(100) % 2, bad, seed=0)


def test_make_split_val_fraction_and_count():
    ds = load("digits")
    s = make_split(ds, val=0.1, seed=0)
    assert s.sizes() == {"train": len(ds.y_train) - round(0.1 * len(ds.y_train)), "val": round(0.1 * len(ds.y_train)),
                         "test": len(ds.y_test)}
    s = make_split(ds, val=100, seed=0)
    assert len(s.y_val) == 100
    # train + val together are exactly the dataset's training part: nothing lost, nothing twice
    def rows(x, y):
        return sorted(map(bytes, np.hstack([x.reshape(len(x), -1), y[:, None].astype(np.uint8)])))

    assert rows(np.concatenate([s.x_train, s.x_val]), np.concatenate([s.y_train, s.y_val])) == rows(ds.x_train, ds.y_train)
    np.testing.assert_array_equal(s.x_test, ds.x_test)


def test_make_split_train_fraction_keeps_val_fixed():
    ds = load("digits")
    full = make_split(ds, val=0.1, seed=2)
    tenth = make_split(ds, val=0.1, seed=2, train_fraction=0.1)
    np.testing.assert_array_equal(full.y_val, tenth.y_val)
    np.testing.assert_array_equal(full.x_val, tenth.x_val)
    assert len(tenth.y_train) == round(0.1 * len(full.y_train))
    assert set(np.unique(tenth.y_train)) == set(range(10))  # stratified: every class present


def test_zero_val_and_bad_train_fraction():
    ds = load("digits")
    assert len(make_split(ds, val=0, seed=0).y_val) == 0
    with pytest.raises(DataError, match="train_fraction"):
        make_split(ds, train_fraction=0)
