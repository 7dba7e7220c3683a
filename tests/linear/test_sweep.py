"""Batched linear sweeps: equal to separate sgd_fit runs, divergence, chunking, torch tensors, bad input,
and the fused NumPy step against the update as sgd_fit writes it."""

import numpy as np
import pytest
import torch

from imgclass.errors import ImgclassError
from imgclass.linear.search import grid, random_configs
from imgclass.linear.sgd import SMALL_GEMM_FLOPS, _blas_threads, loss_function, sgd_fit
from imgclass.linear.sweep import _gemm_update, _numpy_step, sweep
from tests.linear.sweeps import DIVERGES, ITERS, run


def separate(sweep_digits, lr, reg, *, loss="softmax", seed=0, sampling="replacement", init_std=1e-4, loss_kwargs=None):
    """One config trained alone with sgd_fit from the sweep's initial W: (W, history, train_acc, val_acc)."""
    xtr, ytr, xval, yval = sweep_digits
    W = (init_std * np.random.default_rng(seed).standard_normal((10, xtr.shape[1]))).astype(xtr.dtype)
    h = sgd_fit(W, xtr, ytr, loss=loss, lr=lr, reg=reg, num_iters=ITERS, batch_size=50, seed=seed,
                sampling=sampling, loss_kwargs=loss_kwargs)
    return W, h, np.mean((xtr @ W.T).argmax(1) == ytr), np.mean((xval @ W.T).argmax(1) == yval)


# ---------------------------------------------------------------------------- configs


@pytest.mark.parametrize("loss, sampling, loss_kwargs", [("softmax", "replacement", None),
                                                         ("svm", "epochs", {"average": "classes"})])
def test_batched_sweep_equals_separate_sgd_fit_runs(sweep_digits, loss, sampling, loss_kwargs):
    configs = grid([1e-3, 3e-2, 3e-1], [0.0, 1e-2])
    r = run(sweep_digits, configs, loss=loss, sampling=sampling, seed=5, loss_kwargs=loss_kwargs)
    assert r.history.shape == (ITERS, len(configs))
    for i, (lr, reg) in enumerate(configs):
        W, h, tr, va = separate(sweep_digits, lr, reg, loss=loss, seed=5, sampling=sampling, loss_kwargs=loss_kwargs)
        rec = r.records[i]
        assert (rec["lr"], rec["reg"]) == (lr, reg) and not rec["diverged"]
        np.testing.assert_allclose(r.history[:, i], h, rtol=0, atol=1e-10)
        assert rec["final_loss"] == pytest.approx(h[-1], abs=1e-10)
        assert (rec["train_acc"], rec["val_acc"]) == (tr, va)
        if i == r.best_index:
            np.testing.assert_allclose(r.best_W, W, rtol=0, atol=1e-10)
    assert r.best_b is None and r.best_W.shape == (10, sweep_digits[0].shape[1])


def test_best_record_has_the_max_val_accuracy(sweep_digits):
    r = run(sweep_digits, random_configs(12, lr_range=(1e-4, 1.0), reg_range=(1e-5, 1.0), seed=1))
    val = [rec["val_acc"] for rec in r.records]
    assert r.best is r.records[r.best_index]
    assert r.best["val_acc"] == max(val)
    assert r.best_index == val.index(max(val))  # the first on a tie
    assert len(set(val)) > 1  # the configs really differ


def test_diverging_config_is_recorded_and_excluded(sweep_digits):
    xtr, ytr, _, _ = sweep_digits
    W = 1e-4 * np.random.default_rng(0).standard_normal((10, xtr.shape[1]))
    with pytest.raises(ImgclassError, match="lower the learning rate"), np.errstate(all="ignore"):
        sgd_fit(W, xtr, ytr, lr=DIVERGES[0], reg=DIVERGES[1], num_iters=ITERS, batch_size=50)
    good = grid([1e-2, 1e-1], [1e-3])
    r = run(sweep_digits, [good[0], DIVERGES, good[1]])
    bad = r.records[1]
    assert bad["diverged"] and 1 <= bad["diverged_at"] <= ITERS
    assert np.isnan(bad["val_acc"]) and np.isnan(bad["train_acc"]) and np.isnan(bad["final_loss"])
    assert np.all(np.isnan(r.history[bad["diverged_at"]:, 1]))
    assert r.best_index != 1
    ref = run(sweep_digits, good)  # the others train as without the diverging one
    # (to rounding: a stack of 3 and a stack of 2 are GEMMs of different shapes, which BLAS may block differently)
    for i, j in ((0, 0), (2, 1)):
        assert not r.records[i]["diverged"] and r.records[i]["diverged_at"] is None
        np.testing.assert_allclose(r.history[:, i], ref.history[:, j], rtol=1e-12)
        assert r.records[i]["val_acc"] == ref.records[j]["val_acc"]
    np.testing.assert_allclose(r.best_W, ref.best_W, rtol=1e-9, atol=1e-15)


def test_all_configs_diverging_is_a_clear_error(sweep_digits):
    with pytest.raises(ImgclassError, match="all 2 configs diverged"):
        run(sweep_digits, [DIVERGES, (2 * DIVERGES[0], DIVERGES[1])])


@pytest.mark.parametrize("chunk", [1, 2, 4])
def test_chunking_gives_identical_results(sweep_digits, chunk):
    """Same results up to BLAS rounding: the stack is one GEMM, whose blocking depends on its size."""
    configs = [*grid([1e-3, 1e-1], [0.0, 1e-1]), DIVERGES]
    ref = run(sweep_digits, configs)
    r = run(sweep_digits, configs, chunk=chunk)
    assert r.settings["chunk"] == chunk and ref.settings["chunk"] == len(configs)
    np.testing.assert_allclose(r.history, ref.history, rtol=1e-12)
    for a, b in zip(r.records, ref.records):
        assert a["diverged"] == b["diverged"] and a["val_acc"] == b["val_acc"] or (a["diverged"] and b["diverged"])
    assert r.best_index == ref.best_index
    np.testing.assert_allclose(r.best_W, ref.best_W, rtol=1e-10, atol=1e-14)


def test_torch_tensors_match_numpy(sweep_digits):
    configs = [*grid([1e-2, 3e-1], [0.0, 1e-2]), DIVERGES]
    ref = run(sweep_digits, configs)
    xtr, ytr, xval, yval = (torch.from_numpy(a) for a in sweep_digits)
    r = sweep(xtr, ytr, xval, yval, configs, num_iters=ITERS, batch_size=50, progress=False)
    assert r.settings["backend"].startswith("torch")
    assert isinstance(r.best_W, np.ndarray) and r.best_index == ref.best_index
    np.testing.assert_allclose(r.best_W, ref.best_W, rtol=0, atol=1e-10)
    np.testing.assert_allclose(r.history[:, :4], ref.history[:, :4], rtol=0, atol=1e-10)
    for a, b in zip(r.records, ref.records):
        assert a["diverged"] == b["diverged"]
        if not a["diverged"]:
            assert (a["train_acc"], a["val_acc"]) == (b["train_acc"], b["val_acc"])


@pytest.mark.parametrize("change, match", [
    (dict(configs=[]), "no configs"),
    (dict(configs=[(1e-3,)]), "pair"),
    (dict(configs=[(-1e-3, 0.0)]), "learning rates"),
    (dict(loss="hinge"), "loss must be"),
    (dict(loss_kwargs={"margin": 2.0}), "unknown softmax loss option"),
    (dict(loss_kwargs={"reg_convention": "quarter"}), "reg_convention"),
    (dict(loss="svm", loss_kwargs={"average": "samples"}), "average"),
    (dict(sampling="shuffle"), "sampling"),
    (dict(chunk=0), "chunk"),
    (dict(num_iters=0), "num_iters"),
])
def test_bad_arguments_raise_imgclass_error(sweep_digits, change, match):
    kw = {"configs": [(1e-2, 0.0)], "num_iters": 2, **change}
    with pytest.raises(ImgclassError, match=match):
        sweep(*sweep_digits, kw.pop("configs"), progress=False, **kw)


def test_bad_data_raise_imgclass_error(sweep_digits):
    xtr, ytr, xval, yval = sweep_digits
    with pytest.raises(ImgclassError, match="same D"):
        sweep(xtr, ytr, xval[:, :-1], yval, [(1e-2, 0.0)], progress=False)
    with pytest.raises(ImgclassError, match="non-empty"):
        sweep(xtr, ytr, xval[:0], yval[:0], [(1e-2, 0.0)], progress=False)
    with pytest.raises(ImgclassError, match="both"):
        sweep(xtr, ytr, torch.from_numpy(xval), yval, [(1e-2, 0.0)], progress=False)


@pytest.mark.parametrize("loss, loss_kwargs", [("softmax", {"reg_convention": "half"}),
                                               ("svm", {"margin": 0.5, "reg_convention": "half"})])
def test_sweep_without_a_bias_column_and_half_l2_equals_separate_runs(sweep_digits, loss, loss_kwargs):
    """D = 64 (no constant column), X a non-contiguous view, the reg/2·||W||² convention."""
    xtr, ytr, xval, yval = sweep_digits
    digits = (xtr[:, :-1], ytr, xval[:, :-1], yval)
    configs = grid([1e-2, 3e-1], [0.0, 1e-1])
    r = run(digits, configs, loss=loss, loss_kwargs=loss_kwargs)
    for i, (lr, reg) in enumerate(configs):
        W, h, tr, va = separate(digits, lr, reg, loss=loss, loss_kwargs=loss_kwargs)
        np.testing.assert_allclose(r.history[:, i], h, rtol=0, atol=1e-10)
        assert (r.records[i]["train_acc"], r.records[i]["val_acc"]) == (tr, va)
        if i == r.best_index:
            np.testing.assert_allclose(r.best_W, W, rtol=0, atol=1e-10)


def test_float32_sweep_equals_float32_separate_runs(sweep_digits):
    """float32 stays float32 on both sides; they agree to float32 rounding (eps ~1.2e-7; measured ~3e-7)."""
    digits = tuple(a.astype(np.float32) if a.dtype == np.float64 else a for a in sweep_digits)
    configs = grid([1e-3, 3e-2], [0.0, 1e-1])
    r = run(digits, configs)
    assert r.settings["dtype"] == "float32" and r.best_W.dtype == np.float32
    for i, (lr, reg) in enumerate(configs):
        W, h, tr, va = separate(digits, lr, reg)
        np.testing.assert_allclose(r.history[:, i], h, rtol=5e-6)
        assert (r.records[i]["train_acc"], r.records[i]["val_acc"]) == (tr, va)
        if i == r.best_index:
            np.testing.assert_allclose(r.best_W, W, rtol=0, atol=5e-6 * np.abs(W).max())


# ------------------------------------------------------------------ the fused NumPy step


def plain_step(W, xb, yb, lr, reg, loss, kw):
    """sgd_fit's update on a stack: dW from the vectorized loss, then ``W -= lr * dW``."""
    value, dW = loss_function(loss)(W, xb, yb, reg.astype(W.dtype), **kw)
    W -= lr.astype(W.dtype).reshape(-1, 1, 1) * dW
    return value


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-12), (np.float32, 1e-5)])
@pytest.mark.parametrize("loss, kw", [("softmax", {}), ("softmax", {"reg_convention": "half"}), ("svm", {}),
                                      ("svm", {"average": "classes", "margin": 0.5, "reg_convention": "half"})])
@pytest.mark.parametrize("with_reg", [False, True], ids=["reg0", "reg"])
def test_fused_step_equals_the_plain_update(sweep_digits, dtype, rtol, loss, kw, with_reg):
    """Eight steps of three configs: the same losses and weights to rounding, in W's dtype."""
    xtr, ytr, _, _ = sweep_digits
    X = xtr.astype(dtype)
    rng = np.random.default_rng(1)
    lr = np.array([1e-3, 3e-2, 3e-1])
    reg = np.array([1e-3, 1e-1, 1.0]) if with_reg else np.zeros(3)
    W = (0.01 * rng.standard_normal((3, 10, X.shape[1]))).astype(dtype)
    ref = W.copy()
    for _ in range(8):
        idx = rng.choice(len(X), 50)
        value = _numpy_step(W, X[idx], ytr[idx], lr, reg, loss, kw)
        want = plain_step(ref, X[idx], ytr[idx], lr, reg, loss, kw)
        assert value.dtype == dtype
        np.testing.assert_allclose(value, want, rtol=rtol)
    assert W.dtype == dtype
    np.testing.assert_allclose(W, ref, rtol=0, atol=rtol * np.abs(ref).max())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_step_with_subnormal_probabilities_equals_the_plain_update(sweep_digits, dtype):
    """Saturated softmax (scores hundreds apart): probabilities underflow to subnormals, which the step flushes."""
    xtr, ytr, _, _ = sweep_digits
    X = xtr.astype(dtype)
    rng = np.random.default_rng(2)
    W = (rng.standard_normal((2, 10, X.shape[1])) * (30.0 if dtype == np.float32 else 250.0)).astype(dtype)
    idx = rng.choice(len(X), 50)
    scores = np.einsum("kcd,nd->knc", W, X[idx])
    e = np.exp(scores - scores.max(-1, keepdims=True))  # the unnormalized probabilities
    assert np.any((e > 0) & (e < np.finfo(dtype).tiny)), "the test needs subnormal probabilities"
    lr, reg = np.array([1e-2, 1e-1]), np.array([0.0, 1e-2])
    ref = W.copy()
    value = _numpy_step(W, X[idx], ytr[idx], lr, reg, "softmax", {})
    want = plain_step(ref, X[idx], ytr[idx], lr, reg, "softmax", {})
    assert np.all(np.isfinite(value))
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(value, want, rtol=rtol)
    np.testing.assert_allclose(W, ref, rtol=0, atol=rtol * np.abs(ref).max())


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_gemm_update_subtracts_in_place(dtype):
    """``flat -= dst @ xb`` into flat's own memory: BLAS (float32/64) or NumPy (other dtypes)."""
    rng = np.random.default_rng(0)
    flat = rng.standard_normal((12, 7)).astype(dtype)
    xb, dst = rng.standard_normal((5, 7)).astype(dtype), rng.standard_normal((12, 5)).astype(dtype)
    want = flat.astype(np.float64) - dst.astype(np.float64) @ xb.astype(np.float64)
    memory = flat
    _gemm_update(flat, xb, dst)
    assert flat is memory and flat.dtype == dtype
    np.testing.assert_allclose(flat, want, rtol=0, atol=float(np.finfo(dtype).eps) * 40)


def test_small_stacks_train_with_one_blas_thread():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    with _blas_threads(SMALL_GEMM_FLOPS / 10):
        assert all(p["num_threads"] == 1 for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas")
    before = [p["num_threads"] for p in threadpoolctl.threadpool_info()]
    with _blas_threads(SMALL_GEMM_FLOPS):
        assert [p["num_threads"] for p in threadpoolctl.threadpool_info()] == before


# ----------------------------------------------------------------------------- output


