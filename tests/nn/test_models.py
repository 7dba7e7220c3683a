"""Whole models: parameter gradients against numeric differences, save/load, modes."""

import numpy as np
import pytest

from imgclass.errors import ImgclassError
from imgclass.nn.checks import model_gradient_errors
from imgclass.nn.gradcheck import numerical_gradient, rel_error
from imgclass.nn.models import CNN, MLP, LinearClassifier, TwoLayerNet


def model_grad_errors(model, x, y, h=1e-6, order=2):
    """Largest relative error of every parameter's analytic gradient vs. centered differences."""
    return model_gradient_errors(model, x, y, h, order)


@pytest.mark.parametrize("loss", ["softmax", "hinge"])
def test_two_layer_net_gradients_with_regularization(loss):
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((5, 6)), rng.integers(0, 3, 5)
    model = TwoLayerNet(6, 7, 3, weight_scale=0.5, reg=0.7, loss=loss, seed=1)
    errors = model_grad_errors(model, x, y, h=3e-5)
    # 1e-8, not the 1e-10 asked for: float64 centered differences of a scalar loss carry an
    # absolute rounding error ~eps*|loss|/h, which is ~1e-9 relative on the smallest entries.
    assert max(errors.values()) < 1e-8, errors
    assert set(errors) == {"0.w", "0.b", "2.w", "2.b"}


EXTENDED = np.finfo(np.longdouble).eps < 1e-18  # x86-64 Linux: 80-bit long double


@pytest.mark.skipif(not EXTENDED, reason="np.longdouble is plain float64 on this platform")
def test_two_layer_net_gradients_below_1e10_in_extended_precision():
    """The issue's 1e-10 bound. In float64 the numeric oracle itself is only good to ~1e-9
    on small entries (rounding ~eps*|loss|/h); run the same code in 80-bit long double with
    a 4th-order stencil and the backward pass agrees to ~1e-12."""
    checked = []
    for seed in range(8):
        rng = np.random.default_rng(seed)
        x, y = rng.standard_normal((5, 6)).astype(np.longdouble), rng.integers(0, 3, 5)
        model = TwoLayerNet(6, 7, 3, weight_scale=0.5, reg=0.7, seed=seed + 1, dtype=np.longdouble)
        w1, b1 = (p.value for p in model.parameters()[:2])
        if np.abs(x @ w1 + b1).min() < 1e-2:  # a step of 2h must not cross a ReLU kink
            continue
        errors = model_grad_errors(model, x, y, h=1e-4, order=4)
        assert max(errors.values()) < 1e-10, (seed, errors)
        checked.append(seed)
    assert len(checked) >= 4, checked


def test_numerical_gradient_orders_on_a_known_function():
    x = np.array([0.3, -1.2, 2.0])
    exact = np.cos(x)
    for order, h, bound in [(2, 1e-5, 1e-9), (4, 1e-3, 1e-11)]:
        num = numerical_gradient(lambda v: np.sin(v).sum(), x.copy(), h, order)
        assert rel_error(num, exact) < bound


def test_two_layer_net_initial_loss_and_reg_only_on_weights():
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((200, 20)), rng.integers(0, 10, 200)
    model = TwoLayerNet(20, 30, 10, weight_scale=1e-4)
    assert abs(model.loss(x, y) - np.log(10)) < 1e-3
    model.parameters()[1].value[...] = 5.0  # a large bias adds nothing to the penalty
    model.reg = 1.0
    w_penalty = 0.5 * sum(float((p.value ** 2).sum()) for p in model.parameters() if p.decay)
    no_reg = TwoLayerNet(20, 30, 10, weight_scale=1e-4)
    no_reg.parameters()[1].value[...] = 5.0
    assert model.loss(x, y) == pytest.approx(no_reg.loss(x, y) + w_penalty, rel=1e-12)


def test_mlp_with_batchnorm_and_dropout_gradients():
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((6, 5)), rng.integers(0, 4, 6)
    model = MLP(5, [8, 7], 4, batchnorm=True, dropout=0.2, reg=0.1, seed=3)
    errors = model_grad_errors(model, x, y, h=1e-5)
    assert "0.b" not in errors  # no bias before batchnorm: it would have no effect
    assert max(errors.values()) < 1e-7, errors


def test_linear_classifier_and_predict():
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((4, 6)), rng.integers(0, 3, 4)
    model = LinearClassifier(6, 3, reg=0.1, reg_convention="full", init=0.1)
    assert max(model_grad_errors(model, x, y, h=3e-5).values()) < 1e-8
    assert model.predict(x).shape == (4,)


def test_cnn_gradients_small():
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((2, 1, 8, 8)), rng.integers(0, 3, 2)
    model = CNN((1, 8, 8), 3, channels=(2,), fc=(5,), batchnorm=True, dtype=np.float64, seed=0)
    errors = model_grad_errors(model, x, y, h=1e-5)
    assert max(errors.values()) < 1e-6, errors


@pytest.mark.parametrize("make", [
    lambda bias: LinearClassifier(6, 3, init=0.1, bias=bias, seed=1),
    lambda bias: MLP(6, [5, 4], 3, bias=bias, seed=1),
    lambda bias: CNN((1, 6, 6), 3, channels=(2,), fc=(4,), batchnorm=False, bias=bias, dtype=np.float64, seed=1),
], ids=["linear", "mlp", "cnn"])
def test_bias_false_drops_every_bias_and_keeps_the_weights(make):
    with_b, without = make(True), make(False)
    assert any(k.endswith(".b") for k, _ in _params(with_b))
    names = [k for k, _ in _params(without)]
    assert names and not any(k.endswith(".b") for k in names), names
    weights = dict(_params(with_b))
    for k, w in _params(without):  # same seed, same weights: a bias draws nothing from the RNG
        np.testing.assert_array_equal(w, weights[k])
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 1, 6, 6)) if isinstance(without, CNN) else rng.standard_normal((3, 6))
    errors = model_grad_errors(without, x, rng.integers(0, 3, 3), h=1e-5)
    assert errors and max(errors.values()) < 1e-6, errors


def _params(model):
    return [(f"{i}.{k}", v) for i, layer in enumerate(model.net.layers) for k, v in layer.params.items()]


def test_save_load_roundtrip(tmp_path):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((10, 1, 8, 8)).astype(np.float32)
    a = CNN((1, 8, 8), 3, channels=(4,), fc=(6,), seed=0)
    a.loss(x, rng.integers(0, 3, 10))  # moves the batchnorm running statistics
    a.save(tmp_path / "m.npz")
    b = CNN((1, 8, 8), 3, channels=(4,), fc=(6,), seed=99).load(tmp_path / "m.npz")
    np.testing.assert_array_equal(a.predict_scores(x), b.predict_scores(x))
    with pytest.raises(ImgclassError, match="do not fit"):
        MLP(64, [5], 3).load(tmp_path / "m.npz")


def test_eval_mode_is_deterministic_and_train_is_not():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((20, 10))
    m = MLP(10, [32], 3, dropout=0.5)
    np.testing.assert_array_equal(m.predict_scores(x), m.predict_scores(x))
    m.train()
    assert not np.array_equal(m.forward(x), m.forward(x))


def test_bad_loss_name():
    with pytest.raises(ImgclassError, match="loss must be"):
        TwoLayerNet(3, 4, 2, loss="mse")
