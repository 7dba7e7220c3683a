"""Hyperparameter sweeps: config generators, batched training equal to separate sgd_fit runs, divergence, output."""

import json

import numpy as np
import pytest
import torch

from imgclass.data import Preprocessor, load, make_split
from imgclass.errors import ImgclassError
from imgclass.linear.sgd import sgd_fit
from imgclass.linear.plots import plot_sweep
from imgclass.linear.sweep import SweepResult, grid, random_configs, sweep

ITERS = 60
DIVERGES = (1e6, 1e3)  # lr, reg: the L2 step multiplies W by about 1 - 2e9 each iteration


@pytest.fixture(scope="module")
def digits():
    s = make_split(load("digits"), val=0.2, seed=0)
    pre = Preprocessor(normalize="pixel", flatten=True, bias=True, dtype="float64").fit(s.x_train)
    return pre.transform(s.x_train), s.y_train, pre.transform(s.x_val), s.y_val


def run(digits, configs, **kw):
    kw = {"num_iters": ITERS, "batch_size": 50, "progress": False, **kw}
    return sweep(*digits, configs, **kw)


def separate(digits, lr, reg, *, loss="softmax", seed=0, sampling="replacement", init_std=1e-4, loss_kwargs=None):
    """One config trained alone with sgd_fit from the sweep's initial W: (W, history, train_acc, val_acc)."""
    xtr, ytr, xval, yval = digits
    W = init_std * np.random.default_rng(seed).standard_normal((10, xtr.shape[1]))
    h = sgd_fit(W, xtr, ytr, loss=loss, lr=lr, reg=reg, num_iters=ITERS, batch_size=50, seed=seed,
                sampling=sampling, loss_kwargs=loss_kwargs)
    return W, h, np.mean((xtr @ W.T).argmax(1) == ytr), np.mean((xval @ W.T).argmax(1) == yval)


# ---------------------------------------------------------------------------- configs


def test_grid_is_every_pair_lr_major():
    g = grid([1e-3, 1e-2, 1e-1], np.array([0.0, 1e-4]))
    assert g == [(1e-3, 0.0), (1e-3, 1e-4), (1e-2, 0.0), (1e-2, 1e-4), (1e-1, 0.0), (1e-1, 1e-4)]
    assert all(type(v) is float for pair in g for v in pair)


@pytest.mark.parametrize("lrs, regs", [([], [1.0]), ([1e-3], []), ([0.0], [1.0]), ([1e-3], [-1.0]),
                                       ([float("nan")], [1.0])])
def test_grid_rejects_bad_values(lrs, regs):
    with pytest.raises(ImgclassError):
        grid(lrs, regs)


def test_random_configs_log_uniform_and_seeded():
    c = random_configs(4000, lr_range=(1e-7, 1e-1), reg_range=(1e-6, 1e4), seed=3)
    lr, reg = np.array(c).T
    assert len(c) == 4000
    assert lr.min() >= 1e-7 and lr.max() <= 1e-1 and reg.min() >= 1e-6 and reg.max() <= 1e4
    # log-uniform: every decade gets its share (a linear-uniform draw would put ~90% in the top decade)
    for values, lo, hi in ((lr, -7, -1), (reg, -6, 4)):
        counts = np.histogram(np.log10(values), bins=hi - lo, range=(lo, hi))[0]
        share = 1 / (hi - lo)
        assert np.all(np.abs(counts / len(values) - share) < 0.35 * share), counts
    assert random_configs(20, seed=3) == random_configs(20, seed=3)
    assert random_configs(20, seed=3) != random_configs(20, seed=4)


@pytest.mark.parametrize("args", [dict(n=0), dict(n=2.5), dict(n=3, lr_range=(0, 1)),
                                  dict(n=3, reg_range=(1.0, 0.1)), dict(n=3, lr_range=(1e-3,))])
def test_random_configs_rejects_bad_input(args):
    with pytest.raises(ImgclassError):
        random_configs(**args)


# ------------------------------------------------------------------------------ sweep


@pytest.mark.parametrize("loss, sampling, loss_kwargs", [("softmax", "replacement", None),
                                                         ("svm", "epochs", {"average": "classes"})])
def test_batched_sweep_equals_separate_sgd_fit_runs(digits, loss, sampling, loss_kwargs):
    configs = grid([1e-3, 3e-2, 3e-1], [0.0, 1e-2])
    r = run(digits, configs, loss=loss, sampling=sampling, seed=5, loss_kwargs=loss_kwargs)
    assert r.history.shape == (ITERS, len(configs))
    for i, (lr, reg) in enumerate(configs):
        W, h, tr, va = separate(digits, lr, reg, loss=loss, seed=5, sampling=sampling, loss_kwargs=loss_kwargs)
        rec = r.records[i]
        assert (rec["lr"], rec["reg"]) == (lr, reg) and not rec["diverged"]
        np.testing.assert_allclose(r.history[:, i], h, rtol=0, atol=1e-10)
        assert rec["final_loss"] == pytest.approx(h[-1], abs=1e-10)
        assert (rec["train_acc"], rec["val_acc"]) == (tr, va)
        if i == r.best_index:
            np.testing.assert_allclose(r.best_W, W, rtol=0, atol=1e-10)
    assert r.best_b is None and r.best_W.shape == (10, digits[0].shape[1])


def test_best_record_has_the_max_val_accuracy(digits):
    r = run(digits, random_configs(12, lr_range=(1e-4, 1.0), reg_range=(1e-5, 1.0), seed=1))
    val = [rec["val_acc"] for rec in r.records]
    assert r.best is r.records[r.best_index]
    assert r.best["val_acc"] == max(val)
    assert r.best_index == val.index(max(val))  # the first on a tie
    assert len(set(val)) > 1  # the configs really differ


def test_diverging_config_is_recorded_and_excluded(digits):
    xtr, ytr, _, _ = digits
    W = 1e-4 * np.random.default_rng(0).standard_normal((10, xtr.shape[1]))
    with pytest.raises(ImgclassError, match="lower the learning rate"), np.errstate(all="ignore"):
        sgd_fit(W, xtr, ytr, lr=DIVERGES[0], reg=DIVERGES[1], num_iters=ITERS, batch_size=50)
    good = grid([1e-2, 1e-1], [1e-3])
    r = run(digits, [good[0], DIVERGES, good[1]])
    bad = r.records[1]
    assert bad["diverged"] and 1 <= bad["diverged_at"] <= ITERS
    assert np.isnan(bad["val_acc"]) and np.isnan(bad["train_acc"]) and np.isnan(bad["final_loss"])
    assert np.all(np.isnan(r.history[bad["diverged_at"]:, 1]))
    assert r.best_index != 1
    ref = run(digits, good)  # the others train as without the diverging one
    # (to rounding: a stack of 3 and a stack of 2 are GEMMs of different shapes, which BLAS may block differently)
    for i, j in ((0, 0), (2, 1)):
        assert not r.records[i]["diverged"] and r.records[i]["diverged_at"] is None
        np.testing.assert_allclose(r.history[:, i], ref.history[:, j], rtol=1e-12)
        assert r.records[i]["val_acc"] == ref.records[j]["val_acc"]
    np.testing.assert_allclose(r.best_W, ref.best_W, rtol=1e-9, atol=1e-15)


def test_all_configs_diverging_is_a_clear_error(digits):
    with pytest.raises(ImgclassError, match="all 2 configs diverged"):
        run(digits, [DIVERGES, (2 * DIVERGES[0], DIVERGES[1])])


@pytest.mark.parametrize("chunk", [1, 2, 4])
def test_chunking_gives_identical_results(digits, chunk):
    """Same results up to BLAS rounding: the stack is one GEMM, whose blocking depends on its size."""
    configs = [*grid([1e-3, 1e-1], [0.0, 1e-1]), DIVERGES]
    ref = run(digits, configs)
    r = run(digits, configs, chunk=chunk)
    assert r.settings["chunk"] == chunk and ref.settings["chunk"] == len(configs)
    np.testing.assert_allclose(r.history, ref.history, rtol=1e-12)
    for a, b in zip(r.records, ref.records):
        assert a["diverged"] == b["diverged"] and a["val_acc"] == b["val_acc"] or (a["diverged"] and b["diverged"])
    assert r.best_index == ref.best_index
    np.testing.assert_allclose(r.best_W, ref.best_W, rtol=1e-10, atol=1e-14)


def test_torch_tensors_match_numpy(digits):
    configs = [*grid([1e-2, 3e-1], [0.0, 1e-2]), DIVERGES]
    ref = run(digits, configs)
    xtr, ytr, xval, yval = (torch.from_numpy(a) for a in digits)
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
def test_bad_arguments_raise_imgclass_error(digits, change, match):
    kw = {"configs": [(1e-2, 0.0)], "num_iters": 2, **change}
    with pytest.raises(ImgclassError, match=match):
        sweep(*digits, kw.pop("configs"), progress=False, **kw)


def test_bad_data_raise_imgclass_error(digits):
    xtr, ytr, xval, yval = digits
    with pytest.raises(ImgclassError, match="same D"):
        sweep(xtr, ytr, xval[:, :-1], yval, [(1e-2, 0.0)], progress=False)
    with pytest.raises(ImgclassError, match="non-empty"):
        sweep(xtr, ytr, xval[:0], yval[:0], [(1e-2, 0.0)], progress=False)
    with pytest.raises(ImgclassError, match="both"):
        sweep(xtr, ytr, torch.from_numpy(xval), yval, [(1e-2, 0.0)], progress=False)


# ----------------------------------------------------------------------------- output


@pytest.fixture(scope="module")
def result(digits) -> SweepResult:
    return run(digits, [*grid([1e-3, 1e-1], [0.0, 1e-2, 1.0]), DIVERGES])


def test_save_writes_readable_files(result, tmp_path):
    paths = result.save(tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["best_weights.npz", "sweep.json"]
    doc = json.loads(paths["json"].read_text(), parse_constant=lambda c: pytest.fail(f"not strict JSON: {c}"))
    assert doc["loss"] == "softmax" and doc["num_configs"] == 7 and doc["num_diverged"] == 1
    assert doc["best_index"] == result.best_index and doc["best"]["val_acc"] == result.best["val_acc"]
    assert doc["records"][-1]["val_acc"] is None and doc["records"][-1]["diverged"] is True
    assert doc["settings"]["num_iters"] == ITERS and doc["seconds"] > 0
    with np.load(paths["weights"], allow_pickle=False) as z:
        np.testing.assert_array_equal(z["W"], result.best_W)
        assert float(z["lr"]) == result.best["lr"] and str(z["loss"]) == "softmax" and "b" not in z
        np.testing.assert_array_equal(z["history"], result.history[:, result.best_index])
    json.dumps(result.to_dict(), allow_nan=False)


def test_save_refuses_a_file_as_directory(result, tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(ImgclassError, match="not a directory"):
        result.save(tmp_path / "f")


def test_plot_sweep_writes_two_pngs(result, tmp_path):
    paths = plot_sweep(result, tmp_path / "plots")
    assert set(paths) == {"train", "val"}
    for p in paths.values():
        assert p.parent == tmp_path / "plots" and p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert paths["train"] != paths["val"]
