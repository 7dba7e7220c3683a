"""Optimizers against torch.optim (same parameters, same gradient sequence), plus convergence and errors."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from imgclass.errors import ImgclassError
from imgclass.nn.optim import SGD, Adam, AdamW, RMSProp
from imgclass.nn.parameter import ParamRef
from tests.nn.layer_check import scaled_error

SHAPES = {"w": (6, 4), "b": (4,), "k": (3, 2, 3, 3)}  # affine weight, bias, conv weight
DECAY = {"w": True, "b": False, "k": True}
OURS = {"SGD": SGD, "RMSProp": RMSProp, "Adam": Adam, "AdamW": AdamW}
TORCH = {"SGD": torch.optim.SGD, "RMSProp": torch.optim.RMSprop, "Adam": torch.optim.Adam, "AdamW": torch.optim.AdamW}

CASES = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, weight_decay=0.05)),
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True)),
    ("SGD", dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.1)),
    ("RMSProp", dict(lr=1e-2)),
    ("RMSProp", dict(lr=3e-2, alpha=0.9, eps=1e-6, weight_decay=0.1)),
    ("Adam", dict(lr=1e-2)),
    ("Adam", dict(lr=3e-2, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
    ("AdamW", dict(lr=1e-2)),  # default weight_decay=1e-2
    ("AdamW", dict(lr=1e-2, weight_decay=0.0)),
    ("AdamW", dict(lr=5e-2, betas=(0.5, 0.9), weight_decay=0.3)),
]
IDS = [f"{name}-{'-'.join(f'{k}={v}' for k, v in kw.items())}" for name, kw in CASES]


def make_params(dtype=np.float64, seed=0):
    """Fresh ``params``/``grads`` dicts and their ParamRefs (``b`` has decay=False)."""
    rng = np.random.default_rng(seed)
    params = {k: rng.standard_normal(s).astype(dtype) for k, s in SHAPES.items()}
    grads: dict = {}
    refs = [ParamRef(params, grads, k, name=k, decay=DECAY[k]) for k in SHAPES]
    return params, grads, refs


def grad_sequence(n, seed=1):
    rng = np.random.default_rng(seed)
    return [{k: rng.standard_normal(s) for k, s in SHAPES.items()} for _ in range(n)]


def run(opt, grads, seq, dtype=np.float64):
    for g in seq:
        opt.zero_grad()
        for k, v in g.items():
            grads[k] = v.astype(dtype)
        opt.step()


def run_torch(name, kwargs, weight_decay, seq, seed=0):
    """The same run in torch.optim, with a weight-decay group and a no-decay group."""
    params, _, _ = make_params(seed=seed)
    tensors = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    kw = {k: v for k, v in kwargs.items() if k != "weight_decay"}
    groups = [
        {"params": [t for k, t in tensors.items() if DECAY[k]], "weight_decay": weight_decay},
        {"params": [t for k, t in tensors.items() if not DECAY[k]], "weight_decay": 0.0},
    ]
    opt = TORCH[name](groups, foreach=False, **kw)
    for g in seq:
        for k, t in tensors.items():
            t.grad = torch.from_numpy(g[k].copy())
        opt.step()
    return {k: t.detach().numpy() for k, t in tensors.items()}


@pytest.mark.parametrize("name,kwargs", CASES, ids=IDS)
def test_matches_torch_float64(name, kwargs):
    params, grads, refs = make_params()
    start = {k: v.copy() for k, v in params.items()}
    arrays = dict(params)  # the layer's arrays: updates must land in these very objects
    opt = OURS[name](refs, **kwargs)
    seq = grad_sequence(20)
    run(opt, grads, seq)
    expected = run_torch(name, kwargs, opt.weight_decay, seq)
    for k in SHAPES:
        assert params[k] is arrays[k], f"{k} was replaced, not updated in place"
        assert params[k].dtype == np.float64
        assert not np.allclose(params[k], start[k]), f"{k} did not move"
        err = scaled_error(params[k], expected[k])
        assert err < 1e-12, f"{name} {kwargs}: {k} differs from torch by {err:.2e}"


@pytest.mark.parametrize("cls", [SGD, RMSProp, Adam, AdamW])
def test_weight_decay_skips_params_without_decay(cls):
    params, grads, refs = make_params()
    start = {k: v.copy() for k, v in params.items()}
    opt = cls(refs, lr=0.01, weight_decay=0.5)
    for _ in range(5):
        opt.zero_grad()  # zero gradients: only weight decay can move anything
        opt.step()
    np.testing.assert_array_equal(params["b"], start["b"])
    for k in ("w", "k"):
        assert np.linalg.norm(params[k]) < np.linalg.norm(start[k]), f"{k} was not decayed"


@pytest.mark.parametrize("name,kwargs", CASES, ids=IDS)
def test_float32_stays_float32(name, kwargs):
    seq = grad_sequence(20)
    params64, grads64, refs64 = make_params()
    run(OURS[name](refs64, **kwargs), grads64, seq)

    params, grads, refs = make_params(np.float32)
    arrays = dict(params)
    opt = OURS[name](refs, **kwargs)
    opt.lr = np.float64(opt.lr)  # a numpy scalar lr (as a schedule might set) must not upcast
    run(opt, grads, seq, dtype=np.float64)  # float64 gradients are cast to the parameter's dtype
    for k in SHAPES:
        assert params[k] is arrays[k]
        assert params[k].dtype == np.float32, f"{k} became {params[k].dtype}"
        assert scaled_error(params[k], params64[k]) < 1e-4
    for state in opt.state:
        for buf in state.values():
            assert buf.dtype == np.float32


def _plain(x):
    """True if a state_dict holds only plain Python scalars/str and numpy arrays."""
    if isinstance(x, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in x.items())
    if isinstance(x, (list, tuple)):
        return all(_plain(v) for v in x)
    return isinstance(x, np.ndarray) or type(x) in (int, float, str)


@pytest.mark.parametrize("name,kwargs", CASES, ids=IDS)
def test_state_dict_round_trip_mid_run(name, kwargs):
    seq = grad_sequence(20)
    params, grads, refs = make_params()
    a = OURS[name](refs, **kwargs)
    run(a, grads, seq[:10])
    a.lr = a.lr / 2  # as a schedule would; the state_dict must carry it
    saved = a.state_dict()
    saved_copy = copy.deepcopy(saved)
    snapshot = {k: v.copy() for k, v in params.items()}
    assert _plain(saved)
    assert saved["steps"] == 10
    run(a, grads, seq[10:])

    params_b, grads_b, refs_b = make_params()
    for k in params_b:
        params_b[k][...] = snapshot[k]
    b = OURS[name](refs_b, **kwargs)
    b.load_state_dict(saved)
    run(b, grads_b, seq[10:])
    for k in SHAPES:
        np.testing.assert_array_equal(params_b[k], params[k])
    assert b.steps == a.steps == 20
    for s, s0 in zip(saved["state"], saved_copy["state"]):  # loading did not alias the saved buffers
        for key in s:
            np.testing.assert_array_equal(s[key], s0[key])


def test_state_dict_carries_buffers():
    """Without the saved momentum buffers, the continued run differs (so the round trip above can fail)."""
    seq = grad_sequence(20)
    params, grads, refs = make_params()
    a = SGD(refs, lr=0.05, momentum=0.9)
    run(a, grads, seq[:10])
    snapshot = {k: v.copy() for k, v in params.items()}
    run(a, grads, seq[10:])
    params_b, grads_b, refs_b = make_params()
    for k in params_b:
        params_b[k][...] = snapshot[k]
    run(SGD(refs_b, lr=0.05, momentum=0.9), grads_b, seq[10:])  # fresh buffers
    assert not np.allclose(params_b["w"], params["w"])


def test_load_state_dict_rejects_mismatches():
    _, _, refs = make_params()
    saved = SGD(refs, lr=0.1, momentum=0.9).state_dict()
    with pytest.raises(ImgclassError, match="Adam"):
        Adam(refs).load_state_dict(saved)
    with pytest.raises(ImgclassError, match="parameters"):
        SGD(refs[:2], lr=0.1, momentum=0.9).load_state_dict(saved)
    with pytest.raises(ImgclassError, match="state_dict"):
        SGD(refs, lr=0.1).load_state_dict({"lr": 0.1})
    bad = copy.deepcopy(saved)
    bad["state"][0]["momentum_buffer"] = np.zeros((2, 2))
    with pytest.raises(ImgclassError, match="shape"):
        SGD(refs, lr=0.1, momentum=0.9).load_state_dict(bad)


@pytest.mark.parametrize("cls", [SGD, RMSProp, Adam, AdamW])
def test_zero_grad_zeros(cls):
    params, grads, refs = make_params(np.float32)
    for k, s in SHAPES.items():
        grads[k] = np.ones(s, np.float32)
    cls(refs, lr=0.1).zero_grad()
    for k, s in SHAPES.items():
        assert grads[k].shape == s and grads[k].dtype == np.float32
        assert not grads[k].any()


def test_wrong_gradient_shape_raises():
    params, grads, refs = make_params()
    grads["w"] = np.ones((4, 6))
    with pytest.raises(ImgclassError, match="shape"):
        SGD(refs, lr=0.1).step()


def least_squares(seed=0):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((200, 5))
    b = a @ rng.standard_normal(5) + 0.1 * rng.standard_normal(200)
    x_star = np.linalg.lstsq(a, b, rcond=None)[0]
    return a, b, x_star


@pytest.mark.parametrize("make_opt,steps", [
    (lambda refs: SGD(refs, lr=0.1, momentum=0.9), 300),
    (lambda refs: SGD(refs, lr=0.1, momentum=0.9, nesterov=True), 300),
    (lambda refs: Adam(refs, lr=0.05), 1500),
], ids=["sgd-momentum", "sgd-nesterov", "adam"])
def test_converges_on_least_squares(make_opt, steps):
    a, b, x_star = least_squares()
    params, grads = {"x": np.zeros(5)}, {}
    opt = make_opt([ParamRef(params, grads, "x", name="x", decay=False)])
    assert np.linalg.norm(params["x"] - x_star) > 1.0
    for _ in range(steps):
        opt.zero_grad()
        grads["x"] = a.T @ (a @ params["x"] - b) / len(b)  # gradient of 0.5 * mean squared residual
        opt.step()
    assert np.linalg.norm(params["x"] - x_star) < 1e-4


@pytest.mark.parametrize("make_opt,match", [
    (lambda r: SGD(r, lr=0.0), "lr"),
    (lambda r: SGD(r, lr=-1e-3), "lr"),
    (lambda r: SGD(r, lr=float("nan")), "lr"),
    (lambda r: SGD(r, lr="fast"), "lr"),
    (lambda r: SGD(r, lr=0.1, momentum=-0.5), "momentum"),
    (lambda r: SGD(r, lr=0.1, nesterov=True), "nesterov"),
    (lambda r: SGD(r, lr=0.1, weight_decay=-1), "weight_decay"),
    (lambda r: RMSProp(r, lr=0), "lr"),
    (lambda r: RMSProp(r, alpha=1.0), "alpha"),
    (lambda r: RMSProp(r, alpha=-0.1), "alpha"),
    (lambda r: RMSProp(r, eps=-1e-8), "eps"),
    (lambda r: Adam(r, lr=-1), "lr"),
    (lambda r: Adam(r, betas=(1.0, 0.999)), r"betas\[0\]"),
    (lambda r: Adam(r, betas=(0.9, 1.0)), r"betas\[1\]"),
    (lambda r: Adam(r, betas=(-0.1, 0.999)), r"betas\[0\]"),
    (lambda r: Adam(r, betas=0.9), "betas"),
    (lambda r: Adam(r, eps=-1.0), "eps"),
    (lambda r: AdamW(r, weight_decay=-0.01), "weight_decay"),
    (lambda r: AdamW(r, betas=(0.9, 1.5)), r"betas\[1\]"),
    (lambda r: SGD([], lr=0.1), "empty"),
    (lambda r: Adam([np.zeros(3)]), "ParamRef"),
])
def test_bad_hyperparameters_raise(make_opt, match):
    _, _, refs = make_params()
    with pytest.raises(ImgclassError, match=match):
        make_opt(refs)
