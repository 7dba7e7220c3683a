import numpy as np
import pytest

from imgclass.data import load
from imgclass.errors import DataError


def test_digits_shape_range_and_split():
    ds = load("digits")
    assert ds.x_train.dtype == np.uint8 and ds.image_shape == (1, 8, 8)
    assert len(ds.y_train) + len(ds.y_test) == 1797
    assert len(ds.y_test) == round(0.25 * 1797)
    assert ds.x_train.max() == 255 and ds.x_train.min() == 0  # 16 gray levels scaled to 0..255
    assert np.all(np.bincount(ds.y_test) >= 40)  # stratified


def test_digits_split_is_seeded():
    a, b, c = load("digits", seed=0), load("digits", seed=0), load("digits", seed=1)
    np.testing.assert_array_equal(a.x_test, b.x_test)
    assert not np.array_equal(a.y_test, c.y_test) or not np.array_equal(a.x_test, c.x_test)


def test_digits_pixels_match_sklearn():
    from sklearn.datasets import load_digits

    ds = load("digits", test_fraction=0.5)
    all_x = np.concatenate([ds.x_train, ds.x_test])[:, 0].astype(float) * 16 / 255
    sk = load_digits().images
    # every loaded image is one of sklearn's, up to the 0..16 -> 0..255 rounding
    assert np.abs(np.sort(all_x.reshape(len(all_x), -1).sum(1)) - np.sort(sk.reshape(len(sk), -1).sum(1))).max() < 2


def test_digits_bad_fraction():
    with pytest.raises(DataError):
        load("digits", test_fraction=1.5)
