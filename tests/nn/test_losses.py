import numpy as np
import pytest
import torch
import torch.nn.functional as F

from imgclass.errors import ImgclassError
from imgclass.nn.losses import hinge_loss, l2_regularization, softmax_loss
from tests.nn.layer_check import check_layer


def as_layer(loss_fn, y, **kw):
    """A loss as a forward/backward pair: out is the scalar loss, backward scales dscores."""
    def fwd(scores):
        loss, dscores = loss_fn(scores, y, **kw)
        return np.array(loss), dscores

    return fwd, lambda dout, dscores: dout * dscores


rng = np.random.default_rng(0)
y = rng.integers(0, 6, 9)


@pytest.mark.parametrize("seed", range(5))
def test_softmax_loss(seed):
    # A small batch: the numeric derivative of a scalar loss has an absolute rounding
    # error ~eps/h, so entries of dscores (~p/N) must not be tiny for a 1e-9 bound.
    r = np.random.default_rng(seed)
    scores, labels = r.standard_normal((3, 3)), r.integers(0, 3, 3)
    fwd, bwd = as_layer(softmax_loss, labels)
    check_layer(fwd, bwd, {"scores": scores}, lambda scores: F.cross_entropy(scores, torch.from_numpy(labels)),
                bound=1e-9, h=3e-5)
    big = r.standard_normal((20, 10))  # a realistic batch still agrees with PyTorch to rounding
    fwd, bwd = as_layer(softmax_loss, y20 := r.integers(0, 10, 20))
    check_layer(fwd, bwd, {"scores": big}, lambda scores: F.cross_entropy(scores, torch.from_numpy(y20)), bound=1e-7)


@pytest.mark.parametrize("average", ["sum", "classes"])
def test_hinge_loss(average):
    scores = rng.standard_normal((9, 6))
    fwd, bwd = as_layer(hinge_loss, y, average=average)
    torch_fn = None
    if average == "classes":
        def torch_fn(scores):
            return F.multi_margin_loss(scores, torch.from_numpy(y), margin=1.0)
    check_layer(fwd, bwd, {"scores": scores}, torch_fn, bound=1e-7)
    if average == "sum":  # same value as PyTorch's, times the number of classes
        t = F.multi_margin_loss(torch.from_numpy(scores), torch.from_numpy(y)).item()
        assert np.isclose(fwd(scores)[0], 6 * t, rtol=1e-12)


def test_initial_loss_values():
    """Tiny random scores: softmax loss ~ ln C, summed hinge ~ C - 1."""
    s = 1e-4 * rng.standard_normal((500, 10))
    labels = rng.integers(0, 10, 500)
    assert abs(softmax_loss(s, labels)[0] - np.log(10)) < 1e-3
    assert abs(hinge_loss(s, labels)[0] - 9.0) < 1e-2


def test_softmax_is_stable_for_huge_logits():
    s = np.array([[1e4, -1e4, 0.0], [1e300, 1e300, -1e300]])
    loss, d = softmax_loss(s, np.array([1, 2]))
    assert np.isfinite(loss) and np.all(np.isfinite(d))
    assert loss == pytest.approx((2e4 + 2e300) / 2)
    s32 = np.full((4, 10), 3e38, np.float32)  # near float32's max
    loss, d = softmax_loss(s32, np.arange(4))
    assert np.isfinite(loss) and np.all(np.isfinite(d))


def test_l2_conventions():
    w = [rng.standard_normal((3, 4)), rng.standard_normal(5)]
    half, g_half = l2_regularization(w, 0.1, "half")
    full, g_full = l2_regularization(w, 0.1, "full")
    assert full == pytest.approx(2 * half) and half == pytest.approx(0.05 * sum((a * a).sum() for a in w))
    np.testing.assert_allclose(g_half[0], 0.1 * w[0])
    np.testing.assert_allclose(g_full[1], 0.2 * w[1])
    with pytest.raises(ImgclassError):
        l2_regularization(w, -1.0)
    with pytest.raises(ImgclassError):
        l2_regularization(w, 0.1, "quarter")


def test_bad_shapes():
    with pytest.raises(ImgclassError, match=r"\(N, C\)"):
        softmax_loss(np.zeros(5), np.zeros(5, int))


def test_all_ones_weights_on_real_pixels_give_finite_loss_and_gradient():
    """Raw 0..255 digits through all-ones weights: scores ~1e5..1e9, still a finite loss and gradient."""
    from imgclass.data import load
    from imgclass.nn.models import TwoLayerNet

    ds = load("digits")
    x = ds.x_train.reshape(len(ds.x_train), -1).astype(np.float64)  # (N, 64), unnormalized
    model = TwoLayerNet(64, 50, 10, reg=0.1)
    for p in model.parameters():
        p.value[...] = 1.0
    model.parameters()[2].value[:, 3] = 2.0  # class 3's logit is twice the others: ~1e6 apart
    loss = model.loss(x, ds.y_train)
    assert np.isfinite(loss) and loss > 1e5  # the wrong classes' samples pay the full logit gap
    assert all(np.all(np.isfinite(p.grad)) for p in model.parameters())
