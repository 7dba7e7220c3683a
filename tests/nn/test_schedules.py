"""Learning-rate schedules against torch.optim.lr_scheduler (same lr sequence), state and errors."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch

from imgclass.errors import ImgclassError
from imgclass.nn.optim import SGD
from imgclass.nn.parameter import ParamRef
from imgclass.nn.schedules import CosineLR, OneCycleLR, StepLR
from tests.nn.layer_check import scaled_error

BASE_LR = 0.1
N_STEPS = 50

# (ours, kwargs, torch class, torch kwargs)
CASES = [
    (StepLR, dict(step_size=7, gamma=0.5), torch.optim.lr_scheduler.StepLR, dict(step_size=7, gamma=0.5)),
    (StepLR, dict(step_size=1, gamma=0.9), torch.optim.lr_scheduler.StepLR, dict(step_size=1, gamma=0.9)),
    (StepLR, dict(step_size=10), torch.optim.lr_scheduler.StepLR, dict(step_size=10)),
    (CosineLR, dict(total_steps=50), torch.optim.lr_scheduler.CosineAnnealingLR, dict(T_max=50)),
    (CosineLR, dict(total_steps=37, min_lr=1e-3), torch.optim.lr_scheduler.CosineAnnealingLR,
     dict(T_max=37, eta_min=1e-3)),
    # past total_steps the cosine rises again, in torch as here
    (CosineLR, dict(total_steps=20, min_lr=1e-4), torch.optim.lr_scheduler.CosineAnnealingLR,
     dict(T_max=20, eta_min=1e-4)),
    (OneCycleLR, dict(max_lr=1.0, total_steps=50), torch.optim.lr_scheduler.OneCycleLR,
     dict(max_lr=1.0, total_steps=50)),
    (OneCycleLR, dict(max_lr=0.3, total_steps=73, pct_start=0.25, div_factor=10.0, final_div_factor=100.0),
     torch.optim.lr_scheduler.OneCycleLR,
     dict(max_lr=0.3, total_steps=73, pct_start=0.25, div_factor=10.0, final_div_factor=100.0)),
    (OneCycleLR, dict(max_lr=0.05, total_steps=60, pct_start=0.0), torch.optim.lr_scheduler.OneCycleLR,
     dict(max_lr=0.05, total_steps=60, pct_start=0.0)),
]
IDS = [f"{c.__name__}-{'-'.join(f'{k}={v}' for k, v in kw.items())}" for c, kw, _, _ in CASES]
ONE_CYCLE_TORCH = dict(anneal_strategy="cos", cycle_momentum=False, three_phase=False)


def make_optimizer(lr=BASE_LR):
    params, grads = {"w": np.zeros((2, 3))}, {}
    return SGD([ParamRef(params, grads, "w", name="w")], lr=lr), params, grads


def our_lrs(cls, kwargs, n=N_STEPS):
    opt, _, _ = make_optimizer()
    sched = cls(opt, **kwargs)
    lrs = [opt.lr]
    for _ in range(n):
        opt.step()
        sched.step()
        lrs.append(opt.lr)
    return lrs


def torch_lrs(tcls, tkwargs, n=N_STEPS):
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=BASE_LR)
    extra = ONE_CYCLE_TORCH if tcls is torch.optim.lr_scheduler.OneCycleLR else {}
    sched = tcls(opt, **tkwargs, **extra)
    lrs = [opt.param_groups[0]["lr"]]
    for _ in range(n):
        opt.step()
        sched.step()
        lrs.append(opt.param_groups[0]["lr"])
    return lrs


@pytest.mark.parametrize("cls,kwargs,tcls,tkwargs", CASES, ids=IDS)
def test_lr_sequence_matches_torch(cls, kwargs, tcls, tkwargs):
    ours, expected = np.array(our_lrs(cls, kwargs)), np.array(torch_lrs(tcls, tkwargs))
    assert len(set(np.round(expected, 12))) > 3, "the schedule should actually change the lr"
    np.testing.assert_allclose(ours, expected, rtol=1e-12, atol=1e-15 * expected.max())


@pytest.mark.parametrize("cls,kwargs,tcls,tkwargs", CASES, ids=IDS)
def test_lr_at_is_what_step_sets(cls, kwargs, tcls, tkwargs):
    opt, _, _ = make_optimizer()
    sched = cls(opt, **kwargs)
    np.testing.assert_array_equal(our_lrs(cls, kwargs), [sched.lr_at(t) for t in range(N_STEPS + 1)])


@pytest.mark.parametrize("cls,kwargs,tcls,tkwargs", CASES, ids=IDS)
def test_state_dict_round_trip(cls, kwargs, tcls, tkwargs):
    opt, _, _ = make_optimizer()
    sched = cls(opt, **kwargs)
    for _ in range(17):
        sched.step()
    saved = copy.deepcopy(sched.state_dict())
    assert saved["last_step"] == 17 and type(saved["last_step"]) is int and type(saved["base_lr"]) is float
    rest = []
    for _ in range(20):
        sched.step()
        rest.append(opt.lr)

    opt2, _, _ = make_optimizer(lr=0.7)  # a different lr: the loaded state decides
    sched2 = cls(opt2, **kwargs)
    sched2.load_state_dict(saved)
    assert opt2.lr == sched.lr_at(17)
    rest2 = []
    for _ in range(20):
        sched2.step()
        rest2.append(opt2.lr)
    assert rest2 == rest


def test_load_state_dict_rejects_other_schedule():
    opt, _, _ = make_optimizer()
    saved = StepLR(opt, step_size=3).state_dict()
    with pytest.raises(ImgclassError, match="StepLR"):
        CosineLR(opt, total_steps=10).load_state_dict(saved)
    with pytest.raises(ImgclassError, match="state_dict"):
        StepLR(opt, step_size=3).load_state_dict({"last_step": 3})
    with pytest.raises(ImgclassError, match="last_step"):
        StepLR(opt, step_size=3).load_state_dict({**saved, "last_step": -1})


def test_schedule_drives_optimizer_like_torch():
    """SGD-momentum + StepLR, 20 steps, equals torch SGD + StepLR: the optimizer uses the lr the schedule sets."""
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal((4, 3))
    seq = [rng.standard_normal((4, 3)) for _ in range(20)]

    params, grads = {"w": w0.copy()}, {}
    opt = SGD([ParamRef(params, grads, "w", name="w")], lr=0.1, momentum=0.9)
    sched = StepLR(opt, step_size=5, gamma=0.3)
    t = torch.tensor(w0.copy(), requires_grad=True)
    topt = torch.optim.SGD([t], lr=0.1, momentum=0.9, foreach=False)
    tsched = torch.optim.lr_scheduler.StepLR(topt, step_size=5, gamma=0.3)
    for g in seq:
        grads["w"] = g
        opt.step()
        sched.step()
        t.grad = torch.from_numpy(g.copy())
        topt.step()
        tsched.step()
    assert opt.lr < 0.1 * 0.3**3
    assert scaled_error(params["w"], t.detach().numpy()) < 1e-12


def test_one_cycle_shape_and_end():
    opt, _, _ = make_optimizer()
    sched = OneCycleLR(opt, max_lr=1.0, total_steps=100)
    assert opt.lr == pytest.approx(1.0 / 25)
    assert sched.lr_at(29) == pytest.approx(1.0)  # peak at pct_start * total_steps - 1
    assert sched.lr_at(99) == pytest.approx(1.0 / 25 / 1e4)
    for _ in range(100):
        sched.step()
    with pytest.raises(ImgclassError, match="total_steps"):
        sched.step()


def test_cosine_endpoints():
    opt, _, _ = make_optimizer(lr=0.5)
    sched = CosineLR(opt, total_steps=10, min_lr=0.01)
    assert opt.lr == 0.5
    assert sched.lr_at(5) == pytest.approx(0.255)
    assert sched.lr_at(10) == pytest.approx(0.01)
    for _ in range(10):
        sched.step()
    assert math.isclose(StepLR(opt, step_size=4, gamma=0.5).lr_at(8), 0.01 * 0.25)  # base lr = current lr


@pytest.mark.parametrize("make,match", [
    (lambda o: StepLR(o, step_size=0), "step_size"),
    (lambda o: StepLR(o, step_size=2.5), "step_size"),
    (lambda o: StepLR(o, step_size=3, gamma=0.0), "gamma"),
    (lambda o: StepLR(o, step_size=3, gamma=-0.1), "gamma"),
    (lambda o: CosineLR(o, total_steps=0), "total_steps"),
    (lambda o: CosineLR(o, total_steps=10, min_lr=-1e-3), "min_lr"),
    (lambda o: OneCycleLR(o, max_lr=0.0, total_steps=10), "max_lr"),
    (lambda o: OneCycleLR(o, max_lr=0.1, total_steps=-5), "total_steps"),
    (lambda o: OneCycleLR(o, max_lr=0.1, total_steps=10, pct_start=1.5), "pct_start"),
    (lambda o: OneCycleLR(o, max_lr=0.1, total_steps=10, div_factor=0), "div_factor"),
    (lambda o: OneCycleLR(o, max_lr=0.1, total_steps=10, final_div_factor=-1), "final_div_factor"),
    (lambda o: StepLR(object(), step_size=3), "lr attribute"),
])
def test_bad_arguments_raise(make, match):
    opt, _, _ = make_optimizer()
    with pytest.raises(ImgclassError, match=match):
        make(opt)
