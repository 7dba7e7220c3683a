"""Multiclass SVM and softmax losses of linear classifiers (``imgclass.linear.losses``).

Every loss is checked against three oracles: its own naive loop version,
PyTorch (``multi_margin_loss`` / ``cross_entropy`` and autograd) and
centered differences in float64. Then the contract around it: NumPy in ->
NumPy out, torch in -> torch out with the dtype kept, the stacked (K, C, D)
form, the expected initial losses, overflow safety, and clear errors.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from imgclass.data import Preprocessor, load
from imgclass.errors import ImgclassError
from imgclass.linear.losses import softmax_loss_naive, softmax_loss_vectorized, svm_loss_naive, svm_loss_vectorized
from imgclass.nn.gradcheck import rel_error, sparse_gradient_check
from tests.conftest import make_images, require_fashion_mnist
from tests.nn.layer_check import scaled_error

LOSSES = {"svm": (svm_loss_naive, svm_loss_vectorized), "softmax": (softmax_loss_naive, softmax_loss_vectorized)}
SHAPES = [(1, 3, 2), (7, 5, 3), (40, 20, 10)]  # (N, D, C)


def _options(name: str):
    """Every keyword convention a loss takes: reg_convention, and average for the SVM."""
    for average in (("sum", "classes") if name == "svm" else (None,)):
        for convention in ("full", "half"):
            yield {"reg_convention": convention, **({"average": average} if average else {})}


CASES = [pytest.param(name, kw, id="-".join([name, *kw.values()])) for name in LOSSES for kw in _options(name)]


def make_problem(seed: int, n: int, d: int, c: int, *, k: int | None = None, bias: bool = False,
                 scale: float = 0.5):
    """Random float64 ``W`` (C, D) or (K, C, D), ``X`` (N, D), ``y`` (N,) and optional ``b`` (C,) or (K, C)."""
    rng = np.random.default_rng(seed)
    W = scale * rng.standard_normal((c, d) if k is None else (k, c, d))
    X = rng.standard_normal((n, d))
    y = rng.integers(0, c, n)
    b = 0.3 * rng.standard_normal(W.shape[:-1]) if bias else None
    return W, X, y, b


def torch_reference(name: str, W, X, y, reg: float, b=None, *, average: str = "sum", reg_convention: str = "full"):
    """The same loss built from torch ops on ``S = X @ W.T (+ b)``; returns loss, dW, db by autograd."""
    Wt = torch.tensor(W, requires_grad=True)
    bt = None if b is None else torch.tensor(b, requires_grad=True)
    scores = torch.tensor(X) @ Wt.T + (0 if bt is None else bt)  # (N, C)
    yt = torch.tensor(y)
    if name == "svm":  # multi_margin_loss divides by C; the "sum" convention does not
        loss = F.multi_margin_loss(scores, yt) * (W.shape[0] if average == "sum" else 1)
    else:
        loss = F.cross_entropy(scores, yt)
    loss = loss + (1.0 if reg_convention == "full" else 0.5) * reg * (Wt ** 2).sum()
    loss.backward()
    return loss.item(), Wt.grad.numpy(), None if bt is None else bt.grad.numpy()


def assert_same(out_a, out_b, tol: float, error=scaled_error) -> None:
    """(loss, dW[, db]) tuples agree to ``tol``.

    ``error`` is :func:`scaled_error` (difference relative to the array's largest entry) by default:
    elementwise :func:`rel_error` cannot hold tolerances below ~1e-8 for entries that are 0 up to
    rounding (a db entry of 4e-17 against 1.4e-16 is a relative error of 1e-8).
    """
    assert len(out_a) == len(out_b)
    for a, b in zip(out_a, out_b):
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        assert a.shape == b.shape
        assert error(a, b) < tol, (a, b)


@pytest.fixture(scope="module")
def cifar_like():
    """500 random 3x32x32 uint8 images preprocessed as in the course: mean image removed, bias column (N, 3073)."""
    x, y = make_images(np.random.default_rng(7), 500, shape=(3, 32, 32))
    X = Preprocessor(normalize="pixel", flatten=True, bias=True, dtype="float64").fit(x).transform(x)
    return X, y


# ------------------------------------------------------------------------ naive vs vectorized


@pytest.mark.parametrize("bias", [False, True], ids=["bias-trick", "explicit-b"])
@pytest.mark.parametrize("reg", [0.0, 0.3])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "N{}-D{}-C{}".format(*s))
@pytest.mark.parametrize("name, kw", CASES)
def test_naive_and_vectorized_agree(name, kw, shape, reg, bias):
    naive, vectorized = LOSSES[name]
    W, X, y, b = make_problem(sum(shape), *shape, bias=bias)
    out_n = naive(W, X, y, reg, b=b, **kw)
    out_v = vectorized(W, X, y, reg, b=b, **kw)
    assert len(out_v) == (3 if bias else 2)
    assert_same(out_n, out_v, 1e-6, error=rel_error)  # elementwise


def test_reg_conventions_differ_by_a_factor_of_two():
    """``half`` with 2·reg is ``full`` with reg: reg·||W||² either way."""
    W, X, y, _ = make_problem(3, 30, 8, 4)
    for _, vectorized in LOSSES.values():
        assert_same(vectorized(W, X, y, 0.2), vectorized(W, X, y, 0.4, reg_convention="half"), 1e-12)


# ----------------------------------------------------------------------------- PyTorch oracle


@pytest.mark.parametrize("bias", [False, True], ids=["bias-trick", "explicit-b"])
@pytest.mark.parametrize("reg", [0.0, 0.3])
@pytest.mark.parametrize("version", ["naive", "vectorized"])
@pytest.mark.parametrize("name, kw", CASES)
def test_matches_pytorch_loss_and_autograd(name, kw, version, reg, bias):
    """With average="classes" and reg=0 this is exactly F.multi_margin_loss; the softmax is F.cross_entropy."""
    fn = LOSSES[name][version == "vectorized"]
    W, X, y, b = make_problem(11, 30, 12, 6, bias=bias)
    expected = torch_reference(name, W, X, y, reg, b, **kw)
    got = fn(W, X, y, reg, b=b, **kw)
    assert_same(got, expected if bias else expected[:2], 1e-10)


def test_svm_classes_average_is_multi_margin_loss_on_the_same_scores():
    W, X, y, _ = make_problem(5, 64, 10, 7)
    scores = torch.tensor(X @ W.T)  # (N, C)
    expected = F.multi_margin_loss(scores, torch.tensor(y)).item()
    for fn in LOSSES["svm"]:
        assert fn(W, X, y, 0.0, average="classes")[0] == pytest.approx(expected, rel=1e-12)


# ------------------------------------------------------------------------------ torch in, torch out


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("bias", [False, True], ids=["bias-trick", "explicit-b"])
@pytest.mark.parametrize("version", ["naive", "vectorized"])
@pytest.mark.parametrize("name", LOSSES)
def test_torch_tensors_in_give_torch_tensors_out(name, version, bias, dtype):
    fn = LOSSES[name][version == "vectorized"]
    W, X, y, b = make_problem(2, 25, 9, 5, bias=bias)
    expected = fn(W, X, y, 0.1, b=b)
    as_t = lambda a: None if a is None else torch.tensor(a, dtype=dtype)  # noqa: E731
    got = fn(as_t(W), as_t(X), torch.tensor(y), 0.1, b=as_t(b))
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert isinstance(g, torch.Tensor) and g.dtype == dtype and tuple(g.shape) == np.shape(e)
    assert_same([g.numpy() for g in got], expected, 1e-12 if dtype == torch.float64 else 1e-4)


@pytest.mark.parametrize("version", ["naive", "vectorized"])
@pytest.mark.parametrize("name", LOSSES)
def test_numpy_float32_stays_float32(name, version):
    fn = LOSSES[name][version == "vectorized"]
    W, X, y, b = make_problem(4, 20, 6, 3, bias=True)
    out = fn(W.astype(np.float32), X.astype(np.float32), y, 0.1, b=b.astype(np.float32))
    assert [np.asarray(o).dtype for o in out] == [np.float32] * 3
    assert_same(out, fn(W, X, y, 0.1, b=b), 1e-4)


# ------------------------------------------------------------------------------- initial losses


@pytest.mark.parametrize("version", ["naive", "vectorized"])
def test_small_random_weights_give_the_textbook_initial_losses(cifar_like, version):
    """W ~ 1e-4·N(0, 1): every score ≈ 0, so the SVM loss is ≈ (C − 1)·margin and the softmax loss ≈ ln C."""
    X, y = cifar_like
    W = 1e-4 * np.random.default_rng(0).standard_normal((10, X.shape[1]))  # (C, D) = (10, 3073)
    svm, softmax = LOSSES["svm"][version == "vectorized"], LOSSES["softmax"][version == "vectorized"]
    assert svm(W, X, y, 0.0)[0] == pytest.approx(9.0, abs=1e-2)
    assert svm(W, X, y, 0.0, average="classes")[0] == pytest.approx(0.9, abs=1e-3)
    assert softmax(W, X, y, 0.0)[0] == pytest.approx(math.log(10), abs=1e-2)


# ------------------------------------------------------------------------ numeric gradients


@pytest.mark.parametrize("reg", [0.0, 50.0])
def test_softmax_sparse_gradient_check(cifar_like, reg):
    """cs231n's check on the full (500, 3073) problem; with reg=50 the L2 term is as large as the data term.
    The bias is of order 1: with near-uniform probabilities db would be ~1e-4 and the centered
    difference of a loss of 2.3 (rounding ~1e-11) could not resolve it to 1e-7."""
    X, y = cifar_like
    rng = np.random.default_rng(1)
    W = 1e-4 * rng.standard_normal((10, X.shape[1]))  # (C, D)
    b = rng.standard_normal(10)  # (C,)
    loss, dW, db = softmax_loss_vectorized(W, X, y, reg, b=b)
    assert sparse_gradient_check(lambda w: softmax_loss_vectorized(w, X, y, reg, b=b)[0], W, dW, seed=2) < 1e-7
    assert sparse_gradient_check(lambda v: softmax_loss_vectorized(W, X, y, reg, b=v)[0], b, db, num_checks=5,
                                 seed=3) < 1e-7


@pytest.mark.parametrize("reg", [0.0, 0.5])
@pytest.mark.parametrize("kw", list(_options("svm")), ids=lambda kw: "-".join(kw.values()))
def test_svm_sparse_gradient_check_off_the_kinks(kw, reg):
    """The hinge is not differentiable where a margin is 0, and a centered difference that straddles
    such a kink is wrong by O(1). So the data are small (N=20) with W ~ N(0, 1), and the test first
    asserts that every margin is far (> 1e-3) from 0 compared with the step (1e-5 · |x| ≤ 1e-4);
    away from the kinks the loss is piecewise linear and the difference is exact up to rounding."""
    W, X, y, b = make_problem(21, 20, 15, 5, bias=True, scale=1.0)
    scores = X @ W.T + b  # (N, C)
    margins = scores - scores[np.arange(len(y)), y][:, None] + 1.0
    margins[np.arange(len(y)), y] = np.inf
    assert np.min(np.abs(margins)) > 1e-3 and np.max(np.abs(X)) < 10  # no kink within reach of h
    loss, dW, db = svm_loss_vectorized(W, X, y, reg, b=b, **kw)
    assert sparse_gradient_check(lambda w: svm_loss_vectorized(w, X, y, reg, b=b, **kw)[0], W, dW,
                                 num_checks=30) < 1e-6
    assert sparse_gradient_check(lambda v: svm_loss_vectorized(W, X, y, reg, b=v, **kw)[0], b, db,
                                 num_checks=10) < 1e-6


# ------------------------------------------------------------------------- large scores


@pytest.fixture(scope="module", params=["digits", pytest.param("fashion-mnist", marks=pytest.mark.realdata)])
def raw_pixels(request):
    """A few thousand real images as raw 0..255 float64 rows (N, D), and their labels."""
    if request.param == "fashion-mnist":
        require_fashion_mnist()
        ds = load("fashion-mnist", download=False)
    else:
        ds = load("digits")
    n = min(3000, len(ds.y_train))
    return ds.x_train[:n].reshape(n, -1).astype(np.float64), ds.y_train[:n], ds.num_classes


def test_all_ones_weights_on_raw_pixels_give_a_finite_softmax(raw_pixels):
    """Scores reach ~1e5 (Fashion-MNIST) or ~1e4 (digits), where exp() overflows unless the maximum is
    subtracted first. All-ones W makes every class score equal, so the loss is exactly ln C; scaling the
    rows 1..C spreads the scores by ~1e5 and the loss must still be finite and equal PyTorch's."""
    X, y, c = raw_pixels
    W = np.ones((c, X.shape[1]))  # (C, D)
    with np.errstate(all="raise"):
        for fn in LOSSES["softmax"]:
            k = len(y) if fn is softmax_loss_vectorized else 300  # the loop version on a subset
            loss, dW = fn(W, X[:k], y[:k], 0.0)
            assert loss == pytest.approx(math.log(c), rel=1e-12) and np.all(np.isfinite(dW))
    W_spread = W * np.arange(1, c + 1)[:, None]
    loss, dW = softmax_loss_vectorized(W_spread, X, y, 1e-3)
    expected, expected_dW, _ = torch_reference("softmax", W_spread, X, y, 1e-3)
    assert np.isfinite(loss) and loss > 1e3 and np.all(np.isfinite(dW))
    assert_same((loss, dW), (expected, expected_dW), 1e-10)


# ------------------------------------------------------------------------------- stacked W


@pytest.mark.parametrize("bias", [False, True], ids=["bias-trick", "explicit-b"])
@pytest.mark.parametrize("name, kw", CASES)
def test_stacked_weights_equal_separate_calls(name, kw, bias):
    vectorized = LOSSES[name][1]
    W, X, y, b = make_problem(8, 30, 7, 4, k=3, bias=bias)  # W (K, C, D), b (K, C)
    reg = np.array([0.0, 0.1, 2.0])  # (K,)
    stacked = vectorized(W, X, y, reg, b=b, **kw)
    assert np.shape(stacked[0]) == (3,)
    for k in range(3):
        single = vectorized(W[k], X, y, reg[k], b=None if b is None else b[k], **kw)
        assert_same([s[k] for s in stacked], single, 1e-12)
    # one scalar reg for the whole stack penalizes each entry by its own ||W_k||², not by the stack's
    stacked = vectorized(W, X, y, 0.1, b=b, **kw)
    for k in range(3):
        assert_same([s[k] for s in stacked], vectorized(W[k], X, y, 0.1, b=None if b is None else b[k], **kw),
                    1e-12)


def test_stacked_torch_weights_equal_numpy():
    W, X, y, b = make_problem(9, 30, 7, 4, k=3, bias=True)
    reg = np.array([0.0, 0.1, 2.0])
    for _, vectorized in LOSSES.values():
        expected = vectorized(W, X, y, reg, b=b)
        got = vectorized(*map(torch.tensor, (W, X, y, reg)), b=torch.tensor(b))
        assert all(isinstance(g, torch.Tensor) for g in got)
        assert_same([g.numpy() for g in got], expected, 1e-12)


# ---------------------------------------------------------------------------------- bad inputs

C, D, N = 3, 5, 4
BAD = {
    "W and X differ in D": dict(W=np.zeros((C, D + 1))),
    "W is 1-D": dict(W=np.zeros(D)),
    "X is 1-D": dict(X=np.zeros(D)),
    "y too short": dict(y=np.zeros(N - 1, dtype=int)),
    "y is 2-D": dict(y=np.zeros((N, 1), dtype=int)),
    "label C is out of range": dict(y=np.array([0, 1, 2, C])),
    "negative label": dict(y=np.array([0, -1, 2, 1])),
    "b has C+1 entries": dict(b=np.zeros(C + 1)),
    "b stacked for a single W": dict(b=np.zeros((2, C))),
    "negative reg": dict(reg=-0.1),
    "reg per entry for a single W": dict(reg=np.array([0.1, 0.2])),
    "negative reg in a stack": dict(W=np.zeros((2, C, D)), reg=np.array([0.1, -1.0])),
    "reg (3,) for a stack of 2": dict(W=np.zeros((2, C, D)), reg=np.array([0.1, 0.2, 0.3])),
    "reg_convention name": dict(reg_convention="l2"),
    "average name": dict(average="mean"),
}


@pytest.mark.parametrize("version", ["naive", "vectorized"])
@pytest.mark.parametrize("name, case", [(name, case) for case in BAD for name in LOSSES
                                        if not (name == "softmax" and "average" in BAD[case])])
def test_bad_inputs_raise_imgclass_error(case, name, version):
    args = {"W": np.zeros((C, D)), "X": np.zeros((N, D)), "y": np.zeros(N, dtype=int), "reg": 0.1, **BAD[case]}
    fn = LOSSES[name][version == "vectorized"]
    with pytest.raises(ImgclassError):
        fn(args.pop("W"), args.pop("X"), args.pop("y"), args.pop("reg"), **args)


@pytest.mark.parametrize("name", LOSSES)
def test_naive_refuses_a_stack(name):
    W, X, y, _ = make_problem(0, 4, 3, 2, k=2)
    with pytest.raises(ImgclassError, match="stack"):
        LOSSES[name][0](W, X, y, np.array([0.1, 0.2]))
