"""Real training on the real Fashion-MNIST (slow; CI runs it)."""

import pytest

from imgclass.nn.recipes import train_fashion
from tests.conftest import require_fashion_mnist


@pytest.mark.slow
@pytest.mark.realdata
def test_two_layer_net_reaches_87_percent_on_fashion_mnist():
    require_fashion_mnist()
    r = train_fashion("twolayer", progress=False)
    assert r["test_accuracy"] >= 0.87, r


@pytest.mark.slow
@pytest.mark.realdata
def test_overfitting_exercise_on_a_small_subset():
    """cs231n's sanity check: a TwoLayerNet memorizes 550 images (it takes ~1 s here; timing is
    reported by benchmarks/numpy_fashion.py, never asserted in a test)."""
    require_fashion_mnist()
    r = train_fashion("overfit", progress=False)
    assert r["train_size"] == 550 and r["train_accuracy"] >= 0.80, r
    assert r["test_accuracy"] < r["train_accuracy"]  # memorized, not generalized
