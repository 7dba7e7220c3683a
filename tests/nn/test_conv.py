"""Convolution and pooling: every op through check_layer (numeric gradients + PyTorch), fast == naive."""

from __future__ import annotations

import numpy as np
import pytest
import torch.nn.functional as tF

import imgclass.nn.conv as conv_module
from imgclass.errors import ImgclassError
from imgclass.nn.functional import (
    avg_pool_backward,
    avg_pool_forward,
    conv_backward,
    conv_backward_naive,
    conv_forward,
    conv_forward_naive,
    max_pool_backward,
    max_pool_backward_naive,
    max_pool_forward,
    max_pool_forward_naive,
)
from tests.nn.layer_check import check_layer, conv_inputs

CONV_BOUND = 1e-7
POOL_BOUND = 1e-7

# (x shape, w shape, stride, padding, dilation)
CONV_CASES = {
    "plain": ((2, 3, 7, 6), (4, 3, 3, 2), 1, 0, 1),
    "stride2-pad1": ((2, 3, 7, 6), (4, 3, 3, 2), 2, 1, 1),
    "pad2": ((2, 3, 7, 6), (4, 3, 3, 2), 1, 2, 1),
    "dilation2-pad1": ((2, 3, 7, 6), (4, 3, 3, 2), 1, 1, 2),
    "stride2-pad2-dilation2": ((2, 3, 7, 6), (4, 3, 3, 2), 2, 2, 2),
    "kernel1x3-pairs": ((2, 3, 6, 7), (4, 3, 1, 3), (2, 1), (0, 2), 1),
    "all-pairs": ((2, 3, 7, 6), (4, 3, 3, 2), (1, 2), (2, 1), (2, 1)),
    "1x1": ((2, 3, 5, 4), (2, 3, 1, 1), 1, 0, 1),
    "taps-only-in-padding": ((1, 2, 1, 2), (2, 2, 3, 3), 3, 4, 1),
}

# (x shape, kernel, stride)
POOL_CASES = {
    "2x2": ((2, 3, 8, 6), 2, None),
    "overlap-k3-s2": ((2, 3, 7, 6), 3, 2),
    "non-square-pairs": ((2, 3, 7, 9), (2, 3), (1, 2)),
    "stride-gt-kernel": ((2, 3, 7, 6), (3, 1), (3, 4)),
    "not-divisible": ((2, 3, 7, 5), 2, None),
}


@pytest.mark.parametrize("impl", ["fast", "naive"])
@pytest.mark.parametrize("case", CONV_CASES.values(), ids=CONV_CASES.keys())
def test_conv_gradients_and_torch(case, impl):
    x_shape, w_shape, stride, padding, dilation = case
    forward, backward = {"fast": (conv_forward, conv_backward),
                         "naive": (conv_forward_naive, conv_backward_naive)}[impl]
    check_layer(
        lambda x, w, b: forward(x, w, b, stride, padding, dilation),
        backward,
        conv_inputs(x_shape, w_shape),
        lambda x, w, b: tF.conv2d(x, w, b, stride, padding, dilation),
        CONV_BOUND,
    )


@pytest.mark.parametrize("blocks", ["one-block", "per-sample"])
@pytest.mark.parametrize("case", CONV_CASES.values(), ids=CONV_CASES.keys())
def test_conv_fast_equals_naive(case, blocks, monkeypatch):
    if blocks == "per-sample":  # conv_backward builds dcols in blocks of samples; force one per sample
        monkeypatch.setattr(conv_module, "_DCOLS_BLOCK_BYTES", 1)
    x_shape, w_shape, stride, padding, dilation = case
    inputs = conv_inputs((3, *x_shape[1:]), (5, *w_shape[1:]), seed=1)
    fast, fast_cache = conv_forward(**inputs, stride=stride, padding=padding, dilation=dilation)
    naive, naive_cache = conv_forward_naive(**inputs, stride=stride, padding=padding, dilation=dilation)
    np.testing.assert_allclose(fast, naive, rtol=1e-10, atol=1e-10)
    dout = np.random.default_rng(2).standard_normal(fast.shape)
    for g_fast, g_naive in zip(conv_backward(dout, fast_cache), conv_backward_naive(dout, naive_cache)):
        np.testing.assert_allclose(g_fast, g_naive, rtol=1e-10, atol=1e-10)


def test_conv_fast_accepts_non_contiguous_input():
    inputs = conv_inputs((2, 3, 6, 7), (4, 3, 3, 3))
    x = np.ascontiguousarray(inputs["x"].transpose(0, 1, 3, 2)).transpose(0, 1, 3, 2)[:, :, ::-1]
    fast, _ = conv_forward(x, inputs["w"], inputs["b"], padding=1)
    naive, _ = conv_forward_naive(x, inputs["w"], inputs["b"], padding=1)
    np.testing.assert_allclose(fast, naive, rtol=1e-10, atol=1e-10)


def test_float32_stays_float32():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 8, 8), dtype=np.float32)
    w = rng.standard_normal((4, 3, 3, 3), dtype=np.float32)
    b = rng.standard_normal(4, dtype=np.float32)
    out, cache = conv_forward(x, w, b, padding=1)
    assert out.dtype == np.float32
    assert all(g.dtype == np.float32 for g in conv_backward(np.ones_like(out), cache))
    for forward, backward in [(max_pool_forward, max_pool_backward), (avg_pool_forward, avg_pool_backward)]:
        out, cache = forward(x, 2)
        assert out.dtype == np.float32
        assert backward(np.ones_like(out), cache).dtype == np.float32


POOLS = {
    "max-fast": (max_pool_forward, max_pool_backward, tF.max_pool2d),
    "max-naive": (max_pool_forward_naive, max_pool_backward_naive, tF.max_pool2d),
    "avg-fast": (avg_pool_forward, avg_pool_backward, tF.avg_pool2d),
}


@pytest.mark.parametrize("pool", POOLS.values(), ids=POOLS.keys())
@pytest.mark.parametrize("case", POOL_CASES.values(), ids=POOL_CASES.keys())
def test_pool_gradients_and_torch(case, pool):
    x_shape, kernel, stride = case
    forward, backward, torch_pool = pool
    check_layer(
        lambda x: forward(x, kernel, stride),
        backward,
        {"x": np.random.default_rng(0).standard_normal(x_shape)},
        lambda x: torch_pool(x, kernel, stride),
        POOL_BOUND,
    )


@pytest.mark.parametrize("impl", ["fast", "naive"])
@pytest.mark.parametrize("case", POOL_CASES.values(), ids=POOL_CASES.keys())
def test_max_pool_ties_route_gradient_to_first_max_once(case, impl):
    x_shape, kernel, stride = case
    forward, backward = {"fast": (max_pool_forward, max_pool_backward),
                         "naive": (max_pool_forward_naive, max_pool_backward_naive)}[impl]
    x = np.random.default_rng(3).integers(0, 3, size=x_shape).astype(np.float64)  # many equal values per window
    # numeric gradients are undefined at ties, so PyTorch is the oracle here
    check_layer(lambda x: forward(x, kernel, stride), backward, {"x": x},
                lambda x: tF.max_pool2d(x, kernel, stride), POOL_BOUND, numeric=False)
    out, cache = forward(x, kernel, stride)
    dx = backward(np.ones_like(out), cache)
    assert dx.sum() == out.size  # one unit per window, never counted twice


def test_max_pool_fast_equals_naive():
    x = np.random.default_rng(4).integers(0, 4, size=(3, 4, 9, 11)).astype(np.float64)
    for kernel, stride in [(2, None), (3, 2), ((2, 3), (2, 1))]:
        out, cache = max_pool_forward(x, kernel, stride)
        out_n, cache_n = max_pool_forward_naive(x, kernel, stride)
        np.testing.assert_array_equal(out, out_n)
        dout = np.random.default_rng(5).standard_normal(out.shape)
        np.testing.assert_allclose(max_pool_backward(dout, cache), max_pool_backward_naive(dout, cache_n),
                                   rtol=1e-10, atol=1e-10)


CONV_ERRORS = {
    "channels": (dict(w=np.zeros((4, 2, 3, 3))), "channels"),
    "bias": (dict(b=np.zeros(3)), "b must have shape"),
    "x-3d": (dict(x=np.zeros((3, 7, 6))), "4-D"),
    "empty-output": (dict(w=np.zeros((4, 3, 8, 3))), "empty"),
    "empty-by-dilation": (dict(dilation=4), "empty"),
    "stride-0": (dict(stride=0), "stride must be >= 1"),
    "stride-pair-negative": (dict(stride=(1, -1)), "stride must be >= 1"),
    "dilation-0": (dict(dilation=0), "dilation must be >= 1"),
    "padding-negative": (dict(padding=-1), "padding must be >= 0"),
    "padding-float": (dict(padding=1.5), "int or a pair"),
    "stride-triple": (dict(stride=(1, 1, 1)), "int or a pair"),
}


@pytest.mark.parametrize("forward", [conv_forward, conv_forward_naive], ids=["fast", "naive"])
@pytest.mark.parametrize("change, message", CONV_ERRORS.values(), ids=CONV_ERRORS.keys())
def test_conv_bad_arguments_raise(forward, change, message):
    args = {"x": np.zeros((2, 3, 7, 6)), "w": np.zeros((4, 3, 3, 3)), "b": np.zeros(4), **change}
    with pytest.raises(ImgclassError, match=message):
        forward(**args)


POOL_ERRORS = {
    "kernel-too-big": (dict(kernel=8), "larger than"),
    "kernel-0": (dict(kernel=0), "kernel must be >= 1"),
    "stride-0": (dict(stride=(0, 1)), "stride must be >= 1"),
    "x-2d": (dict(x=np.zeros((7, 6))), "4-D"),
}


@pytest.mark.parametrize("forward", [max_pool_forward, max_pool_forward_naive, avg_pool_forward],
                         ids=["max", "max-naive", "avg"])
@pytest.mark.parametrize("change, message", POOL_ERRORS.values(), ids=POOL_ERRORS.keys())
def test_pool_bad_arguments_raise(forward, change, message):
    with pytest.raises(ImgclassError, match=message):
        forward(**{"x": np.zeros((2, 3, 7, 6)), **change})

