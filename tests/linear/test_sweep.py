"""Batched linear sweeps: equal to separate sgd_fit runs, divergence, chunking, torch tensors, bad input."""

import numpy as np
import pytest
import torch

from imgclass.errors import ImgclassError
from imgclass.linear.sgd import sgd_fit
from imgclass.linear.search import grid, random_configs
from imgclass.linear.sweep import sweep

from tests.linear.sweeps import DIVERGES, ITERS, run


def separate(sweep_digits, lr, reg, *, loss="softmax", seed=0, sampling="replacement", init_std=1e-4, loss_kwargs=None):
    """One config trained alone with sgd_fit from the sweep's initial W: (W, history, train_acc, val_acc)."""
    xtr, ytr, xval, yval = sweep_digits
    W = init_std * np.random.default_rng(seed).standard_normal((10, xtr.shape[1]))
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


# ----------------------------------------------------------------------------- output


