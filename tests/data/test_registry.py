import numpy as np
import pytest

from imgclass.data import available, load
from imgclass.data.idx import FASHION_CLASSES
from imgclass.errors import DataError, ImgclassError
from tests.conftest import FASHION_DIR, require_fashion_mnist


@pytest.mark.realdata
def test_real_fashion_mnist_official_counts():
    require_fashion_mnist()
    ds = load("fashion-mnist", download=False)
    assert ds.source == str(FASHION_DIR)
    assert ds.x_train.shape == (60000, 1, 28, 28) and ds.x_test.shape == (10000, 1, 28, 28)
    assert ds.x_train.dtype == np.uint8 and ds.y_train.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(ds.y_train), [6000] * 10)
    np.testing.assert_array_equal(np.bincount(ds.y_test), [1000] * 10)
    assert ds.classes == FASHION_CLASSES
    # published statistics of Fashion-MNIST's training images: mean 0.2860, std 0.3530
    assert abs(ds.x_train.mean() / 255 - 0.2860) < 1e-3 and abs(ds.x_train.std() / 255 - 0.3530) < 1e-3


def test_unknown_name_lists_choices():
    with pytest.raises(DataError, match="unknown dataset 'imagenet'.*fashion-mnist"):
        load("imagenet")


def test_option_a_loader_does_not_take():
    with pytest.raises(DataError, match="does not take image_size"):
        load("digits", image_size=32)


def test_none_options_count_as_not_given():
    assert load("digits", image_size=None, data_dir=None).name == "digits"


def test_prefix_without_path_and_aliases():
    with pytest.raises(DataError, match="needs a path"):
        load("folder:")
    assert load("DIGITS").name == "digits"


def test_one_exception_type():
    assert issubclass(DataError, ImgclassError)
    assert "fashion-mnist" in available() and "folder:PATH" in available()
