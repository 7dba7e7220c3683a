"""Initializers: shapes, dtypes, seeding, fans, and empirical spread against the theoretical one."""

from __future__ import annotations

import math

import numpy as np
import pytest

from imgclass.errors import ImgclassError
from imgclass.nn.init import (
    fan_in_and_fan_out,
    kaiming_normal,
    kaiming_uniform,
    normal,
    xavier_normal,
    xavier_uniform,
    zeros,
)

RANDOM = {
    "normal": lambda shape, rng, dtype: normal(shape, 0.05, rng, dtype),
    "xavier_uniform": xavier_uniform,
    "xavier_normal": xavier_normal,
    "kaiming_normal": kaiming_normal,
    "kaiming_uniform": kaiming_uniform,
}
SHAPES = [(20, 7), (8, 3, 5, 5)]  # affine (D_in, D_out), conv (F, C, KH, KW)


@pytest.mark.parametrize("name", RANDOM)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_shape_dtype_and_seeding(name, shape, dtype):
    init = RANDOM[name]
    a = init(shape, np.random.default_rng(7), dtype)
    assert a.shape == shape and a.dtype == dtype
    np.testing.assert_array_equal(a, init(shape, np.random.default_rng(7), dtype))
    assert not np.array_equal(a, init(shape, np.random.default_rng(8), dtype))
    # drawn in float64 then cast: the seed gives the same numbers in either dtype
    b = init(shape, np.random.default_rng(7), np.float64)
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", RANDOM)
def test_returns_new_arrays_and_advances_rng(name):
    rng = np.random.default_rng(0)
    a, b = RANDOM[name]((5, 4), rng, np.float64), RANDOM[name]((5, 4), rng, np.float64)
    assert a is not b and not np.array_equal(a, b)


def test_fans():
    assert fan_in_and_fan_out((784, 100)) == (784, 100)  # our affine (D_in, D_out)
    assert fan_in_and_fan_out((32, 3, 5, 5)) == (3 * 25, 32 * 25)  # conv (F, C, KH, KW), as torch
    assert fan_in_and_fan_out((16, 4, 7)) == (28, 112)
    for bad in [(10,), (), (0, 5)]:
        with pytest.raises(ImgclassError):
            fan_in_and_fan_out(bad)


# (init, shape, fan_in, fan_out): non-square so a swapped fan convention would show
BIG = [((1000, 300), 1000, 300), ((128, 64, 3, 3), 64 * 9, 128 * 9)]


@pytest.mark.parametrize("shape,fan_in,fan_out", BIG)
def test_kaiming_normal_std(shape, fan_in, fan_out):
    w = kaiming_normal(shape, np.random.default_rng(0))
    assert abs(w.std() / math.sqrt(2.0 / fan_in) - 1) < 0.02
    assert abs(w.mean()) < 0.01 * math.sqrt(2.0 / fan_in)
    w_out = kaiming_normal(shape, np.random.default_rng(0), mode="fan_out")
    assert abs(w_out.std() / math.sqrt(2.0 / fan_out) - 1) < 0.02


@pytest.mark.parametrize("shape,fan_in,fan_out", BIG)
def test_kaiming_uniform_bound_and_std(shape, fan_in, fan_out):
    w = kaiming_uniform(shape, np.random.default_rng(0))
    bound = math.sqrt(6.0 / fan_in)
    assert np.abs(w).max() <= bound
    assert np.abs(w).max() > 0.99 * bound
    assert abs(w.std() / math.sqrt(2.0 / fan_in) - 1) < 0.02


@pytest.mark.parametrize("shape,fan_in,fan_out", BIG)
def test_xavier_uniform_bound(shape, fan_in, fan_out):
    w = xavier_uniform(shape, np.random.default_rng(0))
    bound = math.sqrt(6.0 / (fan_in + fan_out))
    assert np.abs(w).max() <= bound
    assert np.abs(w).max() > 0.99 * bound
    assert abs(w.std() / math.sqrt(2.0 / (fan_in + fan_out)) - 1) < 0.02
    w2 = xavier_uniform(shape, np.random.default_rng(0), gain=2.0)
    assert 1.98 * bound < np.abs(w2).max() <= 2 * bound


@pytest.mark.parametrize("shape,fan_in,fan_out", BIG)
def test_xavier_normal_std(shape, fan_in, fan_out):
    w = xavier_normal(shape, np.random.default_rng(0), np.float32)
    assert w.dtype == np.float32
    assert abs(w.std(dtype=np.float64) / math.sqrt(2.0 / (fan_in + fan_out)) - 1) < 0.02


def test_normal_std():
    w = normal((500, 400), 0.01, np.random.default_rng(0))
    assert abs(w.std() / 0.01 - 1) < 0.02
    assert not normal((3, 3), 0.0, np.random.default_rng(0)).any()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_zeros(dtype):
    z = zeros((3, 4), dtype)
    assert z.shape == (3, 4) and z.dtype == dtype and not z.any()
    assert zeros(5).shape == (5,)
    assert zeros(5) is not zeros(5)


@pytest.mark.parametrize("call,match", [
    (lambda: normal((3, 3), -1.0, np.random.default_rng(0)), "std"),
    (lambda: normal((3, 3), 1.0, 0), "Generator"),
    (lambda: kaiming_normal((3, 3), np.random.RandomState(0)), "Generator"),
    (lambda: xavier_uniform((3, 3), np.random.default_rng(0), np.int64), "dtype"),
    (lambda: zeros((3,), np.int32), "dtype"),
    (lambda: xavier_normal((10,), np.random.default_rng(0)), "2 dims"),
    (lambda: kaiming_uniform((3, 3), np.random.default_rng(0), mode="fan_avg"), "mode"),
    (lambda: normal((3, -1), 1.0, np.random.default_rng(0)), "shape"),
])
def test_bad_arguments_raise(call, match):
    with pytest.raises(ImgclassError, match=match):
        call()
