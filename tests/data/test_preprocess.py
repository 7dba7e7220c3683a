import numpy as np
import pytest

from imgclass.data import Preprocessor
from imgclass.errors import DataError


@pytest.fixture
def x(rng):
    x = rng.integers(0, 256, (50, 3, 4, 5), dtype=np.uint8)
    x[:, :, 0, 0] = 7  # a constant pixel, like MNIST's borders
    return x


def test_per_channel_stats_and_transform(x):
    p = Preprocessor(normalize="channel", dtype="float64").fit(x)
    f = x / 255.0
    mean, std = f.mean(axis=(0, 2, 3), keepdims=True)[0], f.std(axis=(0, 2, 3), keepdims=True)[0]
    np.testing.assert_allclose(p.mean_, mean, rtol=1e-12)
    np.testing.assert_allclose(p.scale_, std, rtol=1e-10)
    out = p.transform(x)
    assert out.shape == x.shape and out.dtype == np.float64
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(out.std(axis=(0, 2, 3)), 1, atol=1e-10)


def test_per_pixel_with_constant_pixel(x):
    out = Preprocessor(normalize="pixel", dtype="float64").fit_transform(x)
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(out[:, :, 0, 0], 0, atol=1e-12)  # std 0 -> centred, not divided
    np.testing.assert_allclose(out.std(axis=0)[:, 1:, 1:], 1, atol=1e-10)


def test_mean_only_and_none(x):
    p = Preprocessor(normalize="pixel", std=False, dtype="float64").fit(x)
    np.testing.assert_allclose(p.transform(x), x / 255.0 - (x / 255.0).mean(axis=0), atol=1e-12)
    np.testing.assert_allclose(Preprocessor(normalize="none").fit_transform(x), x / np.float32(255), rtol=1e-6)


def test_statistics_come_from_training_data_only(x, rng):
    p = Preprocessor().fit(x)
    other = rng.integers(200, 256, (10, 3, 4, 5), dtype=np.uint8)
    assert p.transform(other).mean() > 1.0  # not re-centred on the new data


def test_flatten_bias_dtype(x):
    out = Preprocessor(flatten=True, bias=True, dtype="float32").fit_transform(x)
    assert out.shape == (50, 3 * 4 * 5 + 1) and out.dtype == np.float32
    np.testing.assert_array_equal(out[:, -1], 1.0)


def test_bad_parameters_and_inputs(x):
    with pytest.raises(DataError, match="bias column needs flatten"):
        Preprocessor(bias=True).fit(x)
    with pytest.raises(DataError, match="normalize must be"):
        Preprocessor(normalize="batch").fit(x)
    with pytest.raises(DataError, match="float32 or float64"):
        Preprocessor(dtype="int8").fit(x)
    with pytest.raises(DataError, match="not fitted"):
        Preprocessor().transform(x)
    with pytest.raises(DataError, match="fitted on"):
        Preprocessor().fit(x).transform(x[:, :1])
    with pytest.raises(DataError, match=r"\(N, C, H, W\)"):
        Preprocessor().fit(x[0])


def test_save_load_roundtrip_gives_same_transform(tmp_path, x):
    p = Preprocessor(normalize="pixel", flatten=True, bias=True, dtype="float64").fit(x)
    q = Preprocessor.load(p.save(tmp_path / "pre.npz"))
    assert q.get_config() == p.get_config()
    np.testing.assert_array_equal(q.transform(x), p.transform(x))
    q2 = Preprocessor.from_state_dict(p.state_dict())
    np.testing.assert_array_equal(q2.transform(x[:3]), p.transform(x[:3]))


def test_load_errors(tmp_path):
    with pytest.raises(DataError, match="not found"):
        Preprocessor.load(tmp_path / "missing.npz")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not an npz")
    with pytest.raises(DataError, match="not a saved preprocessor"):
        Preprocessor.load(junk)


def test_empty_input_keeps_its_feature_shape(x):
    p = Preprocessor(flatten=True, bias=True).fit(x)
    assert p.transform(x[:0]).shape == (0, 3 * 4 * 5 + 1)


def test_gamma_is_a_power_before_the_statistics(x):
    p = Preprocessor(normalize="pixel", gamma=0.5, dtype="float64").fit(x)
    f = (x / 255.0) ** 0.5
    np.testing.assert_allclose(p.mean_, f.mean(axis=0), rtol=1e-12)
    sd = f.std(axis=0)
    sd[sd < 1e-8] = 1.0
    np.testing.assert_allclose(p.transform(x), (f - f.mean(axis=0)) / sd, atol=1e-10)
    raw = Preprocessor(normalize="none", dtype="float64").fit_transform(x)
    dark = (raw > 0) & (raw < 0.25)  # x ** 0.5 > x on (0, 1)
    assert np.all(Preprocessor(normalize="none", gamma=0.5, dtype="float64").fit_transform(x)[dark] > raw[dark])


def test_gamma_is_saved_and_old_states_default_to_one(tmp_path, x):
    p = Preprocessor(normalize="pixel", flatten=True, gamma=0.35, dtype="float64").fit(x)
    q = Preprocessor.load(p.save(tmp_path / "pre.npz"))
    assert q.gamma == 0.35
    np.testing.assert_array_equal(q.transform(x), p.transform(x))
    state = p.state_dict()
    del state["config"]["gamma"]  # a preprocessor saved before gamma existed
    assert Preprocessor.from_state_dict(state).gamma == 1.0


@pytest.mark.parametrize("gamma", [0, -1, 11, "x", None, float("nan")])
def test_bad_gamma_is_a_clear_error(x, gamma):
    with pytest.raises(DataError, match="gamma must be"):
        Preprocessor(gamma=gamma).fit(x)


def test_zca_decorrelates_and_keeps_a_mean_variance_of_one(rng):
    from imgclass.data import zca_matrix

    mix = rng.normal(size=(6, 6))
    x = rng.normal(size=(5000, 6)) @ mix * np.array([5, 3, 1, 1, 0.5, 0.1])  # correlated, unequal scales
    x -= x.mean(0)
    z = zca_matrix(x, 1e-12)
    np.testing.assert_allclose(z, z.T, atol=1e-12)  # symmetric: the model W on x Z is the model W Z on x
    cov = (x @ z).T @ (x @ z) / len(x)
    np.testing.assert_allclose(cov, np.eye(6), atol=1e-5)
    # eps shrinks the weakest directions instead of blowing them up, and the mean variance stays 1
    lam_white = np.linalg.eigvalsh((x @ zca_matrix(x, 0.1)).T @ (x @ zca_matrix(x, 0.1)) / len(x))
    assert np.isclose(lam_white.mean(), 1.0) and lam_white.min() < 0.5 * lam_white.max()
    assert zca_matrix(x.astype(np.float32), 1e-3).dtype == np.float32


@pytest.mark.parametrize("eps", [0, -1e-3, float("nan"), float("inf")])
def test_zca_bad_eps_is_a_clear_error(eps):
    from imgclass.data import zca_matrix

    with pytest.raises(DataError, match="eps must be a finite number > 0"):
        zca_matrix(np.ones((4, 3)), eps)
