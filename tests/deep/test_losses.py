"""Torch losses against the NumPy engine's conventions, and L2 through weight decay."""

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from imgclass.deep import build_torch, cross_entropy, hinge_loss, l2_penalty, loss_function, param_groups, weight_decay
from imgclass.deep.losses import decayed_parameters
from imgclass.errors import ImgclassError
from imgclass.modelspec import ModelSpec, build_numpy
from imgclass.nn import losses as NL
from tests.nn.layer_check import scaled_error


def _scores(seed=0, n=7, c=5):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, c)), rng.integers(0, c, n)


@pytest.mark.parametrize("average", ["sum", "classes"])
@pytest.mark.parametrize("margin", [1.0, 0.3])
def test_hinge_matches_numpy_value_and_gradient(average, margin):
    s, y = _scores()
    want, dwant = NL.hinge_loss(s, y, margin=margin, average=average)
    st = torch.tensor(s, requires_grad=True)
    got = hinge_loss(st, torch.from_numpy(y), margin=margin, average=average)
    got.backward()
    assert abs(got.item() - want) < 1e-14 and scaled_error(st.grad.numpy(), dwant) < 1e-14


def test_hinge_classes_is_multi_margin_loss_and_sum_is_c_times_it():
    s, y = (torch.from_numpy(a) for a in _scores(1))
    mm = F.multi_margin_loss(s, y)
    assert torch.allclose(hinge_loss(s, y, average="classes"), mm, rtol=1e-14)
    assert torch.allclose(hinge_loss(s, y, average="sum"), mm * s.shape[1], rtol=1e-14)


def test_hinge_has_no_gradient_at_a_zero_margin():
    s = torch.tensor([[2.0, 1.0, 0.0]], dtype=torch.float64, requires_grad=True)  # s_1 - s_0 + 1 == 0 exactly
    hinge_loss(s, torch.tensor([0])).backward()
    _, dnp = NL.hinge_loss(s.detach().numpy(), np.array([0]))
    assert torch.equal(s.grad, torch.from_numpy(dnp)) and not s.grad.any()


def test_cross_entropy_matches_numpy_and_label_smoothing_matches_its_formula():
    s, y = _scores(2)
    want, dwant = NL.softmax_loss(s, y)
    st = torch.tensor(s, requires_grad=True)
    got = cross_entropy(st, torch.from_numpy(y))
    got.backward()
    assert abs(got.item() - want) < 1e-14 and scaled_error(st.grad.numpy(), dwant) < 1e-14
    eps, c = 0.1, s.shape[1]
    target = (1 - eps) * np.eye(c)[y] + eps / c
    logp = s - np.log(np.exp(s).sum(1, keepdims=True))
    smoothed = cross_entropy(torch.from_numpy(s), torch.from_numpy(y), label_smoothing=eps).item()
    assert abs(smoothed - float(-(target * logp).sum(1).mean())) < 1e-14


def test_l2_penalty_is_the_classifiers_on_weights_only():
    spec = ModelSpec(kind="cnn", channels=(3,), fc=(4,), batchnorm=True)
    numpy_model = build_numpy(spec, (1, 6, 6), 3, dtype=np.float64)
    module = build_torch(spec, (1, 6, 6), 3).double()
    weights, others = decayed_parameters(module)
    assert [tuple(w.shape) for w in weights] == [(3, 1, 3, 3), (4, 27), (3, 4)]
    assert len(others) == 4  # batchnorm scale and shift, two affine biases
    for convention in ("half", "full"):
        want, _ = NL.l2_regularization([p.value for p in numpy_model.parameters() if p.decay], 0.7, convention)
        assert abs(l2_penalty(module, 0.7, convention).item() - want) < 1e-6 * want  # float32 initial weights


@pytest.mark.parametrize("convention", ["half", "full"])
@pytest.mark.parametrize("opt_class", [torch.optim.SGD, torch.optim.Adam])
def test_weight_decay_groups_take_the_steps_of_the_explicit_penalty(convention, opt_class):
    spec = ModelSpec(kind="mlp", hidden=(6,), batchnorm=True)
    a, b = (build_torch(spec, (5,), 3, seed=0).double() for _ in range(2))
    x, y = torch.randn(8, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0)), torch.arange(8) % 3
    opt_a = opt_class(param_groups(a, 0.4, convention), lr=0.05)
    opt_b = opt_class(b.parameters(), lr=0.05)
    for _ in range(3):
        opt_a.zero_grad(), opt_b.zero_grad()
        F.cross_entropy(a(x), y).backward()
        (F.cross_entropy(b(x), y) + l2_penalty(b, 0.4, convention)).backward()
        opt_a.step(), opt_b.step()
    assert all(torch.allclose(p, q, rtol=1e-12, atol=1e-14) for p, q in zip(a.parameters(), b.parameters()))
    assert weight_decay(0.4, convention) == (0.4 if convention == "half" else 0.8)


@pytest.mark.parametrize("loss", ["softmax", "hinge"])
def test_a_few_steps_reduce_each_loss(loss):
    model = build_torch(ModelSpec(kind="mlp", hidden=(16,)), (10,), 4, seed=0)
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(32, 10, generator=gen), torch.arange(32) % 4
    fn = loss_function(loss)
    opt = torch.optim.SGD(param_groups(model, 1e-3), lr=0.1, momentum=0.9)
    losses = []
    for _ in range(10):
        opt.zero_grad()
        value = fn(model(x), y)
        value.backward()
        opt.step()
        losses.append(value.item())
    assert losses[-1] < 0.6 * losses[0], losses


def test_bad_loss_options_raise():
    with pytest.raises(ImgclassError, match="loss must be one of"):
        loss_function("l1")
    with pytest.raises(ImgclassError, match="hinge average"):
        loss_function("hinge", hinge_average="mean")
    with pytest.raises(ImgclassError, match="softmax loss only"):
        loss_function("hinge", label_smoothing=0.1)
    with pytest.raises(ImgclassError, match="label smoothing"):
        loss_function("softmax", label_smoothing=1.0)
    with pytest.raises(ImgclassError, match=r"scores must be \(N, C\)"):
        hinge_loss(torch.zeros(3), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ImgclassError, match="convention"):
        l2_penalty(torch.nn.Linear(2, 2), 0.1, "double")
    with pytest.raises(ImgclassError, match=">= 0"):
        param_groups(torch.nn.Linear(2, 2), -1.0)
