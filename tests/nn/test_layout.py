"""Memory layouts and the fast paths' branches: channels-last activations, channel-rich convs, BLAS threads.

The fast ops work channels-last (see imgclass.nn.conv): these tests check that every op gives
the same values whatever the layout of its inputs, that layouts propagate (no hidden copies
between layers), that float32 stays float32, and that each branch of the conv and batchnorm
fast paths agrees with the naive oracles / the NCHW path that tests/nn/test_*.py check against
numeric gradients and PyTorch. No timings here: speed is measured by benchmarks/numpy_vs_torch.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch.nn.functional as tF

import imgclass.nn.conv as conv_module
from imgclass.nn import functional as nnf
from imgclass.nn import geometry
from imgclass.nn.layers import BatchNorm2d, Conv2d, MaxPool2d, ReLU
from imgclass.nn.models import CNN
from imgclass.nn.pool import max_pool_backward, max_pool_forward
from tests.nn.layer_check import check_layer, conv_inputs


def channels_last(a: np.ndarray) -> np.ndarray:
    """The same (N, C, H, W) values, stored (N, H, W, C) in memory."""
    return np.ascontiguousarray(a.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)


def is_channels_last(a: np.ndarray) -> bool:
    return a.transpose(0, 2, 3, 1).flags.c_contiguous


# Channel-rich cases: C >= W_out, so conv_backward takes the channels-last col2im branch
# (test_conv.py's CONV_CASES have 3 channels and take the transposed, channels-first one).
# (x shape, w shape, stride, padding, dilation)
RICH_CASES = {
    "3x3-pad1": ((2, 8, 5, 4), (3, 8, 3, 3), 1, 1, 1),
    "stride2": ((2, 8, 6, 5), (3, 8, 3, 3), 2, 1, 1),
    "dilation2-pad2": ((2, 8, 6, 5), (3, 8, 3, 2), 1, 2, 2),
    "pairs": ((2, 9, 7, 6), (4, 9, 2, 3), (2, 1), (0, 2), (1, 2)),
    "taps-only-in-padding": ((1, 6, 1, 2), (2, 6, 3, 3), 3, 4, 1),
    "1x1": ((2, 7, 3, 3), (5, 7, 1, 1), 1, 0, 1),
}


@pytest.mark.parametrize("blocks", ["one-block", "per-sample"])
@pytest.mark.parametrize("case", RICH_CASES.values(), ids=RICH_CASES.keys())
def test_channel_rich_conv_fast_equals_naive(case, blocks, monkeypatch):
    if blocks == "per-sample":
        monkeypatch.setattr(conv_module, "_DCOLS_BLOCK_BYTES", 1)
    x_shape, w_shape, stride, padding, dilation = case
    inputs = conv_inputs(x_shape, w_shape, seed=1)
    fast, fast_cache = conv_module.conv_forward(**inputs, stride=stride, padding=padding, dilation=dilation)
    naive, naive_cache = conv_module.conv_forward_naive(**inputs, stride=stride, padding=padding, dilation=dilation)
    np.testing.assert_allclose(fast, naive, rtol=1e-10, atol=1e-10)
    dout = np.random.default_rng(2).standard_normal(fast.shape)
    for g_fast, g_naive in zip(conv_module.conv_backward(dout, fast_cache),
                               conv_module.conv_backward_naive(dout, naive_cache)):
        np.testing.assert_allclose(g_fast, g_naive, rtol=1e-10, atol=1e-10)


def test_channel_rich_conv_gradients_and_torch():
    x_shape, w_shape, stride, padding, dilation = RICH_CASES["3x3-pad1"]
    check_layer(lambda x, w, b: conv_module.conv_forward(x, w, b, stride, padding, dilation),
                conv_module.conv_backward, conv_inputs(x_shape, w_shape),
                lambda x, w, b: tF.conv2d(x, w, b, stride, padding, dilation), 1e-7)


@pytest.mark.parametrize("c", [3, 16])  # both col2im branches
def test_conv_reads_any_layout_and_writes_channels_last(c):
    inputs = conv_inputs((3, c, 6, 5), (4, c, 3, 3), seed=3)
    ref, ref_cache = conv_module.conv_forward_naive(**inputs, padding=1)
    dout = np.random.default_rng(4).standard_normal(ref.shape)
    ref_grads = conv_module.conv_backward_naive(dout, ref_cache)
    for x in (inputs["x"], channels_last(inputs["x"]), inputs["x"][:, :, ::-1, :][:, :, ::-1, :]):
        for d in (dout, channels_last(dout)):
            out, cache = conv_module.conv_forward(x, inputs["w"], inputs["b"], padding=1)
            assert is_channels_last(out)
            np.testing.assert_allclose(out, ref, rtol=1e-10, atol=1e-10)
            dx, dw, db = conv_module.conv_backward(d, cache)
            assert is_channels_last(dx) and dw.flags.c_contiguous
            for g, r in zip((dx, dw, db), ref_grads):
                np.testing.assert_allclose(g, r, rtol=1e-10, atol=1e-10)


def test_conv_without_input_grad_skips_dx_only():
    inputs = conv_inputs((2, 3, 6, 6), (4, 3, 3, 3))
    out, cache = conv_module.conv_forward(**inputs, padding=1)
    dout = np.random.default_rng(5).standard_normal(out.shape)
    _, dw, db = conv_module.conv_backward(dout, cache)
    none, dw2, db2 = conv_module.conv_backward(dout, cache, input_grad=False)
    assert none is None
    np.testing.assert_array_equal(dw2, dw)
    np.testing.assert_array_equal(db2, db)

    layer = Conv2d(3, 4, 3, padding=1, rng=np.random.default_rng(0))
    layer.forward(inputs["x"])
    assert layer.backward(dout).shape == inputs["x"].shape
    grad_w = layer.grads["w"].copy()
    layer.input_grad = False
    layer.forward(inputs["x"])
    assert layer.backward(dout) is None
    np.testing.assert_array_equal(layer.grads["w"], grad_w)


@pytest.mark.parametrize("train", [True, False])
def test_spatial_batchnorm_channels_last_equals_nchw(train):
    """The NCHW path is checked against numeric gradients and PyTorch in test_functional.py."""
    rng = np.random.default_rng(6)
    x = 2 + rng.standard_normal((3, 5, 4, 6))
    gamma, beta = rng.standard_normal(5), rng.standard_normal(5)
    dout = rng.standard_normal(x.shape)
    results = []
    for xs, ds in [(x, dout), (channels_last(x), channels_last(dout)), (channels_last(x), dout),
                   (x[:, ::-1][:, ::-1], channels_last(dout))]:  # last: neither layout, copied
        rm, rv = np.full(5, 0.5), np.full(5, 2.0)
        out, cache = nnf.spatial_batchnorm_forward(xs, gamma, beta, rm, rv, train=train)
        assert is_channels_last(out) == is_channels_last(xs)
        grads = nnf.spatial_batchnorm_backward(ds, cache)
        assert is_channels_last(grads[0]) == is_channels_last(xs)
        results.append((out, rm, rv, *grads))
    for other in results[1:]:
        for a, b in zip(other, results[0]):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_spatial_batchnorm_in_blocks_equals_one_block(monkeypatch):
    rng = np.random.default_rng(7)
    x = channels_last(rng.standard_normal((4, 3, 5, 6)))
    dout = channels_last(rng.standard_normal(x.shape))
    gamma, beta = rng.standard_normal(3), rng.standard_normal(3)
    results = []
    for block_bytes in (2 ** 30, 1):  # everything in one block; one row per block
        monkeypatch.setattr(nnf, "_BLOCK_BYTES", block_bytes)
        rm, rv = np.zeros(3), np.ones(3)
        out, cache = nnf.spatial_batchnorm_forward(x, gamma, beta, rm, rv, train=True)
        results.append((out, rm, rv, *nnf.spatial_batchnorm_backward(dout, cache)))
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_spatial_batchnorm_float32_variance_of_an_offset_input():
    """Moments around a shift: no cancellation when the mean is large against the spread."""
    rng = np.random.default_rng(8)
    x64 = 1000.0 + 0.1 * rng.standard_normal((16, 4, 8, 8))  # E[x^2] - E[x]^2 in float32: noise ~0.06
    x32 = channels_last(x64.astype(np.float32))
    rm, rv = np.zeros(4, np.float32), np.ones(4, np.float32)
    out, _ = nnf.spatial_batchnorm_forward(x32, np.ones(4, np.float32), np.zeros(4, np.float32), rm, rv,
                                           train=True, momentum=1.0)
    assert out.dtype == np.float32 and rm.dtype == rv.dtype == np.float32
    var64 = x32.astype(np.float64).var(axis=(0, 2, 3)) * (x32.size / 4) / (x32.size / 4 - 1)
    np.testing.assert_allclose(rv, var64, rtol=1e-4)
    np.testing.assert_allclose(out.std(axis=(0, 2, 3)), 1.0, rtol=2e-3)  # eps = 1e-5 against var 0.01


def test_relu_keeps_layout_and_handles_strided_input():
    rng = np.random.default_rng(9)
    x = rng.standard_normal((2, 3, 4, 5))
    for xs in (x, channels_last(x), x[:, :, ::-1]):
        out, mask = nnf.relu_forward(xs)
        np.testing.assert_array_equal(out, np.maximum(xs, 0))
        np.testing.assert_array_equal(mask, xs > 0)
        if is_channels_last(xs) and not xs.flags.c_contiguous:
            assert is_channels_last(out) and is_channels_last(mask)


@pytest.mark.parametrize("kernel, stride", [(2, None), (3, 2), ((2, 3), (1, 2))])
def test_max_pool_channels_last_equals_nchw(kernel, stride):
    x = np.random.default_rng(10).integers(0, 4, size=(3, 5, 8, 9)).astype(np.float64)  # ties
    out, cache = max_pool_forward(x, kernel, stride)
    dout = np.random.default_rng(11).standard_normal(out.shape)
    dx = max_pool_backward(dout, cache)
    out_cl, cache_cl = max_pool_forward(channels_last(x), kernel, stride)
    assert is_channels_last(out_cl)
    np.testing.assert_array_equal(out_cl, out)
    for d in (dout, channels_last(dout)):  # e.g. from a flatten, or from a conv's backward
        dx_cl = max_pool_backward(d, cache_cl)
        assert is_channels_last(dx_cl)
        np.testing.assert_allclose(dx_cl, dx, rtol=1e-12, atol=1e-12)


def test_layers_pass_channels_last_float32_through_a_block():
    rng = np.random.default_rng(12)
    x = rng.standard_normal((4, 3, 8, 8), dtype=np.float32)
    layers = [Conv2d(3, 6, 3, padding=1, bias=False, rng=rng, dtype=np.float32), BatchNorm2d(6, dtype=np.float32),
              ReLU(), MaxPool2d(2)]
    h = x
    for layer in layers:
        h = layer.forward(h)
        assert h.dtype == np.float32 and is_channels_last(h), layer
    d = rng.standard_normal(h.shape, dtype=np.float32)
    for layer in reversed(layers):
        d = layer.backward(d)
        assert d.dtype == np.float32, layer
        assert all(g.dtype == np.float32 for g in layer.grads.values()), layer
        if layer is not layers[0]:
            assert is_channels_last(d), layer


def test_cnn_step_stays_float32():
    rng = np.random.default_rng(13)
    model = CNN((3, 8, 8), 4, channels=(4, 6), fc=(5,), seed=0, dtype=np.float32)
    loss = model.loss(rng.standard_normal((6, 3, 8, 8), dtype=np.float32), rng.integers(0, 4, 6))
    assert np.asarray(loss).dtype == np.float32
    assert all(p.grad.dtype == np.float32 for p in model.parameters())


def test_blas_threads_sets_and_restores_the_thread_count(monkeypatch):
    libraries = geometry._blas_libraries()
    if not libraries:
        pytest.skip("threadpoolctl cannot see a BLAS library")
    before = [lib.get_num_threads() for lib in libraries]
    monkeypatch.setattr(geometry, "BLAS_THREADS", 1)
    with geometry.blas_threads():
        assert [lib.get_num_threads() for lib in libraries] == [1] * len(libraries)
    assert [lib.get_num_threads() for lib in libraries] == before
    monkeypatch.setattr(geometry, "BLAS_THREADS", None)  # leave BLAS alone
    with geometry.blas_threads():
        assert [lib.get_num_threads() for lib in libraries] == before


@pytest.mark.parametrize("value, expected", [("1", 1), ("2", 2), ("0", None), ("x", 1)])
def test_blas_threads_from_the_environment(monkeypatch, value, expected):
    monkeypatch.setenv("IMGCLASS_BLAS_THREADS", value)
    if value == "x":
        with pytest.warns(UserWarning, match="IMGCLASS_BLAS_THREADS"):
            assert geometry._threads_from_env() == expected
    else:
        assert geometry._threads_from_env() == expected


def test_keep_freed_memory_is_set_once_and_can_be_turned_off(monkeypatch):
    monkeypatch.setattr(geometry, "_kept", None)
    monkeypatch.setattr(geometry, "KEEP_FREED_MEMORY", False)
    assert geometry.keep_freed_memory() is False  # off: mallopt is not called
    monkeypatch.setattr(geometry, "_kept", None)
    monkeypatch.setattr(geometry, "KEEP_FREED_MEMORY", True)
    first = geometry.keep_freed_memory()  # True with glibc, False elsewhere
    assert isinstance(first, bool) and geometry.keep_freed_memory() is first
