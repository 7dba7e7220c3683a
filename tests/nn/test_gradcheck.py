"""The numeric-gradient tools themselves."""

import numpy as np
import pytest

from imgclass.nn.gradcheck import rel_error, sparse_gradient_check
from imgclass.nn.losses import softmax_loss


def test_rel_error_definition():
    assert rel_error(np.array([1.0, 2.0]), np.array([1.0, 2.0])) == 0.0
    assert rel_error(np.array([1.0]), np.array([3.0])) == pytest.approx(0.5)
    assert rel_error(np.array([1e-12]), np.array([0.0])) == pytest.approx(1e-4)  # floor 1e-8 in the denominator
    with pytest.raises(ValueError):
        rel_error(np.zeros(2), np.zeros(3))


def test_sparse_check_accepts_the_right_gradient_and_rejects_a_wrong_one():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((20, 300)), rng.integers(0, 10, 20)
    w = 0.01 * rng.standard_normal((300, 10))  # too many entries to difference one by one cheaply

    def loss(w):
        return softmax_loss(x @ w, y)[0]

    dw = x.T @ softmax_loss(x @ w, y)[1]
    assert sparse_gradient_check(loss, w, dw, num_checks=20) < 1e-7
    assert sparse_gradient_check(loss, w, 1.01 * dw, num_checks=20) > 1e-3
