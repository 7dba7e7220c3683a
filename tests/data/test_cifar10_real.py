"""The real CIFAR-10 (the official python batches, built from the JPEG copy in ../shared by .ci/run)."""

import numpy as np
import pytest

from imgclass.data import load, make_split
from tests.conftest import require_cifar10

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


@pytest.mark.realdata
def test_the_real_cifar10_has_its_official_counts_classes_and_statistics():
    ds = load("cifar10", **require_cifar10())
    assert ds.x_train.shape == (50000, 3, 32, 32) and ds.x_test.shape == (10000, 3, 32, 32)
    assert ds.x_train.dtype == np.uint8 and ds.classes == CLASSES
    assert np.bincount(ds.y_train).tolist() == [5000] * 10 and np.bincount(ds.y_test).tolist() == [1000] * 10
    means = ds.x_train.mean(axis=(0, 2, 3)) / 255
    np.testing.assert_allclose(means, [0.490, 0.481, 0.446], atol=0.002)  # the JPEG copy's (official: .4914 ...)
    split = make_split(ds, val=5000, seed=0)
    assert split.sizes() == {"train": 45000, "val": 5000, "test": 10000}
    assert np.bincount(split.y_val).tolist() == [500] * 10  # stratified
