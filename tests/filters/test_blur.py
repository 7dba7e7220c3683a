"""Gaussian blur through the engine's conv layer, checked against scipy.ndimage.gaussian_filter."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

import imgclass.filters.blur as blur_module
import imgclass.nn.conv as conv_module
from imgclass.errors import ImgclassError
from imgclass.filters import gaussian_blur, gaussian_kernel, gaussian_layer

CASES = [(1, 0.5), (3, 0.5), (3, 1.0), (5, 1.0), (7, 2.0), (9, 1.5), (11, 4.0)]  # (K, sigma)


def scipy_blur(x: np.ndarray, size: int, sigma: float, mode: str) -> np.ndarray:
    """The oracle: scipy's separable Gaussian over H and W only, support K (truncate = (K//2)/sigma)."""
    sigmas = (0,) * (x.ndim - 2) + (sigma, sigma)  # 0 = leave the N and C axes alone
    return gaussian_filter(x.astype(np.float64), sigmas, mode=mode, truncate=(size // 2) / sigma)


@pytest.mark.parametrize("size,sigma", CASES)
def test_kernel_is_normalised_symmetric_and_matches_scipy(size, sigma):
    k = gaussian_kernel(size, sigma)
    assert k.shape == (size, size)
    assert k.sum() == pytest.approx(1.0, abs=1e-14)
    np.testing.assert_allclose(k, k.T)
    np.testing.assert_allclose(k, k[::-1, ::-1])
    assert k.argmax() == (size * size) // 2  # peak at the centre
    delta = np.zeros((size, size))
    delta[size // 2, size // 2] = 1.0  # scipy's response to an impulse is its kernel
    np.testing.assert_allclose(k, scipy_blur(delta, size, sigma, "constant"), rtol=0, atol=1e-15)


@pytest.mark.parametrize("size,sigma", CASES)
def test_blur_matches_scipy_away_from_the_borders(rng, size, sigma):
    x = rng.uniform(0, 255, size=(2, 3, 20, 23))
    y = gaussian_blur(x, size, sigma)
    assert y.shape == x.shape and y.dtype == np.float64
    p = size // 2
    interior = (..., slice(p, x.shape[2] - p), slice(p, x.shape[3] - p))
    for mode in ("reflect", "nearest", "constant"):  # the border mode cannot matter in the interior
        diff = np.abs(y[interior] - scipy_blur(x, size, sigma, mode)[interior]).max()
        assert diff < 1e-10, (mode, diff)


@pytest.mark.parametrize("border", ["constant", "reflect"])
@pytest.mark.parametrize("size,sigma", [(3, 1.0), (7, 2.0)])
def test_borders_match_scipy_on_the_whole_image(rng, border, size, sigma):
    x = rng.uniform(0, 255, size=(3, 12, 9))  # (C, H, W) is accepted too
    y = gaussian_blur(x, size, sigma, border=border)
    np.testing.assert_allclose(y, scipy_blur(x, size, sigma, border), rtol=0, atol=1e-10)


def test_uint8_digits_images_keep_their_scale():
    from imgclass.data import load

    x = load("digits").x_train[:20]  # uint8 (20, 1, 8, 8)
    y = gaussian_blur(x, 3, 0.8)
    np.testing.assert_allclose(y[..., 1:-1, 1:-1], scipy_blur(x, 3, 0.8, "reflect")[..., 1:-1, 1:-1], atol=1e-10)
    assert y.min() >= 0 and y.max() <= 255


def test_goes_through_the_engine_conv(monkeypatch, rng):
    calls = []
    real = conv_module.conv_forward

    def spy(x, w, b, *args, **kwargs):
        calls.append((x.shape, w.shape))
        return real(x, w, b, *args, **kwargs)

    monkeypatch.setattr(conv_module, "conv_forward", spy)
    gaussian_blur(rng.uniform(size=(2, 3, 10, 10)), 5, 1.0)
    assert calls == [((6, 1, 14, 14), (1, 1, 5, 5))]  # channels folded into the batch, padded by K//2


def test_layer_has_the_kernel_as_its_weight():
    layer = gaussian_layer(5, 1.2)
    assert layer.params["w"].shape == (1, 1, 5, 5) and "b" not in layer.params and not layer.training
    np.testing.assert_array_equal(layer.params["w"][0, 0], gaussian_kernel(5, 1.2))


def test_strips_and_blocks_give_the_same_result(monkeypatch, rng):
    x = rng.uniform(0, 255, size=(2, 3, 17, 13))
    whole = gaussian_blur(x, 5, 1.3, border="reflect")
    for budget in (25 * 13 * 8 * 3, 25 * 13 * 8 * 17 * 4):  # strips of 3 rows; blocks of 4 images
        monkeypatch.setattr(blur_module, "_COLUMN_BUDGET_BYTES", budget)
        # equal up to rounding: BLAS sums in a different order for a different matrix size
        np.testing.assert_allclose(gaussian_blur(x, 5, 1.3, border="reflect"), whole, rtol=1e-14, atol=0)


def test_kernel_larger_than_the_image(rng):
    x = rng.uniform(size=(1, 1, 3, 4))
    np.testing.assert_allclose(gaussian_blur(x, 9, 3.0), scipy_blur(x, 9, 3.0, "constant"), atol=1e-12)


@pytest.mark.parametrize("size", [0, -3, 4, 2.5, True, "5", None])
def test_bad_size_is_a_clear_error(size):
    with pytest.raises(ImgclassError, match="kernel size must be"):
        gaussian_kernel(size, 1.0)


@pytest.mark.parametrize("sigma", [0, -1.0, float("nan"), float("inf"), "wide"])
def test_bad_sigma_is_a_clear_error(sigma):
    with pytest.raises(ImgclassError, match="sigma must be"):
        gaussian_kernel(5, sigma)


def test_bad_images_and_border_are_clear_errors(rng):
    with pytest.raises(ImgclassError, match="images must be"):
        gaussian_blur(np.zeros((4, 4)), 3, 1.0)
    with pytest.raises(ImgclassError, match="images must be"):
        gaussian_blur(np.zeros((1, 1, 0, 4)), 3, 1.0)
    with pytest.raises(ImgclassError, match="unknown border"):
        gaussian_blur(rng.uniform(size=(1, 4, 4)), 3, 1.0, border="wrap")
