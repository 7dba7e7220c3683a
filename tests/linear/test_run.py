"""'imgclass linear train' end to end: run directory, plots, test split used once."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imgclass.cli import main
from imgclass.data import Preprocessor, load, make_split
from imgclass.linear.estimators import SoftmaxClassifier
from tests.conftest import require_fashion_mnist


def test_linear_train_cli_writes_a_complete_run(tmp_path, capsys):
    assert main(["linear", "train", "digits", "--loss", "softmax", "--lr", "0.1", "--reg", "1e-4",
                 "--out", str(tmp_path), "--json"]) == 0
    r = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    run = Path(r["run_dir"])
    assert r["test_accuracy"] >= 0.9 and r["kind"] == "linear"
    assert [e["by"] for e in json.loads((run / "test_log.json").read_text())] == ["linear"]  # the test split, once
    for name in ("config.json", "data.json", "results.json", "model.npz", "preprocessor.npz", "plots/loss.png",
                 "plots/templates.png", "plots/confusion.png"):
        assert (run / name).is_file(), name
    with Image.open(run / "plots/templates.png") as img:
        assert img.format == "PNG"
    # the saved model + preprocessing reproduce the reported test accuracy
    est = SoftmaxClassifier.load(run / "model.npz")
    pre = Preprocessor.load(run / "preprocessor.npz")
    split = make_split(load("digits"), val=0.1, seed=0)
    acc = np.mean(est.predict(pre.transform(split.x_test)) == split.y_test)
    assert round(float(acc), 4) == r["test_accuracy"]


def test_linear_train_svm_bias_trick(tmp_path, capsys):
    assert main(["linear", "train", "digits", "--loss", "svm", "--bias", "trick", "--out", str(tmp_path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["test_accuracy"] >= 0.9


def test_linear_train_bad_lr_is_a_clear_error(tmp_path, capsys):
    assert main(["linear", "train", "digits", "--lr", "-1", "--out", str(tmp_path)]) == 1
    assert "lr must be a finite number > 0" in capsys.readouterr().err


def test_linear_sweep_cli_grid_and_random(tmp_path, capsys):
    assert main(["linear", "sweep", "digits", "--loss", "svm", "--lrs", "1e-4,1e-3,1e-2", "--regs", "0,1e-2",
                 "--iters", "200", "--out", str(tmp_path), "--json"]) == 0
    r = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    run = Path(r["run_dir"])
    assert r["configs"] == 6 and r["kind"] == "linear-sweep" and r["lr"] in (1e-4, 1e-3, 1e-2)
    assert r["tuned"] == ["lr", "reg"] and r["hyperparameters"]["lr"] == r["lr"]
    sweep = json.loads((run / "sweep.json").read_text())
    assert len(sweep["records"]) == 6 and all({"lr", "reg", "train_acc", "val_acc"} <= set(x) for x in sweep["records"])
    assert round(max(x["val_acc"] for x in sweep["records"]), 4) == round(sweep["best"]["val_acc"], 4) == \
        r["val_accuracy"]
    for name in ("model.npz", "preprocessor.npz", "best_weights.npz", "plots/sweep_train_acc.png",
                 "plots/sweep_val_acc.png", "plots/templates.png"):
        assert (run / name).is_file(), name
    # the saved best model reproduces the reported test accuracy
    from imgclass.linear.estimators import LinearSVM

    est, pre = LinearSVM.load(run / "model.npz"), Preprocessor.load(run / "preprocessor.npz")
    split = make_split(load("digits"), val=0.1, seed=0)
    assert round(float(np.mean(est.predict(pre.transform(split.x_test)) == split.y_test)), 4) == r["test_accuracy"]

    assert main(["linear", "sweep", "digits", "--search", "random", "--trials", "5", "--iters", "100", "--gamma", "0.5",
                 "--out", str(tmp_path), "--json"]) == 0
    r = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert r["configs"] == 5
    assert json.loads((Path(r["run_dir"]) / "config.json").read_text())["gamma"] == 0.5
    assert Preprocessor.load(Path(r["run_dir"]) / "preprocessor.npz").gamma == 0.5


def test_linear_sweep_needs_validation(tmp_path, capsys):
    assert main(["linear", "sweep", "digits", "--val", "0", "--out", str(tmp_path)]) == 1
    assert "validation split" in capsys.readouterr().err


def test_a_whitened_sweep_saves_its_best_as_a_linear_model_on_the_pixels(tmp_path, capsys):
    """--whiten sweeps on x Z; the saved best is the sweep's W mapped to W Z and scores the pixels as W scored x Z."""
    from imgclass.data import zca_matrix
    from imgclass.linear.config import LinearSweepConfig
    from imgclass.linear.estimators import LinearSVM
    from imgclass.linear.run import with_bias_column
    from imgclass.linear.sweep import sweep
    from imgclass.train import recipes

    assert main(["linear", "sweep", "digits", "--loss", "svm", "--whiten", "0.01", "--grid-size", "3", "2",
                 "--iters", "200", "--out", str(tmp_path), "--json"]) == 0
    r = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    run = Path(r["run_dir"])
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["whiten"] == 0.01 and cfg["lr_range"] == list(recipes.LINEAR_SWEEP_RANGES["whitened"]["lr"])
    split = make_split(load("digits"), val=0.1, seed=0)
    pre = Preprocessor.load(run / "preprocessor.npz")
    xtr, xval, xte = (pre.transform(x) for x in (split.x_train, split.x_val, split.x_test))
    z = zca_matrix(xtr, 0.01)
    by_hand = sweep(with_bias_column(xtr @ z), split.y_train, with_bias_column(xval @ z), split.y_val,
                    LinearSweepConfig(dataset="digits", loss="svm", whiten=0.01, grid_size=(3, 2)).pairs(),
                    loss="svm", num_iters=200, progress=False)
    assert by_hand.best["lr"] == r["lr"] and round(by_hand.best["val_acc"], 4) == r["val_accuracy"]
    saved = LinearSVM.load(run / "model.npz")
    assert saved.coef_.shape == (10, 64)
    np.testing.assert_allclose(saved.decision_function(xte), with_bias_column(xte @ z) @ by_hand.best_W.T,
                               rtol=1e-4, atol=1e-4)
    assert not np.allclose(saved.coef_, by_hand.best_W[:, :-1], atol=1e-3)  # the whitened weights were mapped back
    np.testing.assert_allclose(np.load(run / "best_weights.npz")["W"][:, :-1], saved.coef_, rtol=1e-6)
    assert round(float(np.mean(saved.predict(xte) == split.y_test)), 4) == r["test_accuracy"] >= 0.9


def test_a_sweep_s_default_ranges_follow_whitening_and_given_ones_stay():
    from imgclass.linear.config import LinearSweepConfig
    from imgclass.train import recipes

    plain, whitened = LinearSweepConfig(dataset="cifar10", loss="svm"), LinearSweepConfig(whiten=3e-4)
    assert plain.whiten == 0 and plain.lr_range == recipes.LINEAR_SWEEP_RANGES["pixels"]["lr"]  # no recipe applied
    assert whitened.reg_range == recipes.LINEAR_SWEEP_RANGES["whitened"]["reg"]
    lrs = sorted({lr for lr, _ in whitened.pairs()})
    assert (lrs[0], lrs[-1]) == pytest.approx(recipes.LINEAR_SWEEP_RANGES["whitened"]["lr"])  # the grid spans it
    assert LinearSweepConfig(whiten=3e-4, lr_range=(1e-3, 1e-2)).lr_range == (1e-3, 1e-2)


@pytest.mark.parametrize("value", ["-0.1", "nan"])
def test_a_sweep_s_bad_whiten_is_a_clear_error(tmp_path, capsys, value):
    assert main(["linear", "sweep", "digits", f"--whiten={value}", "--out", str(tmp_path)]) == 1
    assert "whiten must be a finite number >= 0" in capsys.readouterr().err


def test_dataset_by_flag_or_positional(tmp_path, capsys):
    assert main(["linear", "train", "--dataset", "digits", "--iters", "20", "--out", str(tmp_path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["dataset"] == "digits"
    assert main(["linear", "train", "digits", "--dataset", "fashion-mnist", "--out", str(tmp_path)]) == 1
    assert "two datasets" in capsys.readouterr().err


def test_linear_train_gamma_averaging_and_decay_reach_the_run(tmp_path, capsys):
    assert main(["linear", "train", "digits", "--loss", "svm", "--lr", "0.01", "--reg", "1e-4", "--gamma", "0.5",
                 "--averaging", "0.5", "--lr-decay", "0.9", "--sampling", "epochs", "--iters", "300",
                 "--out", str(tmp_path), "--json"]) == 0
    r = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    run = Path(r["run_dir"])
    config = json.loads((run / "config.json").read_text())
    assert config["gamma"] == 0.5
    assert config["kind"] == "linear" and config["averaging"] == 0.5 and config["lr_decay"] == 0.9
    pre = Preprocessor.load(run / "preprocessor.npz")
    assert pre.gamma == 0.5
    from imgclass.linear.estimators import LinearSVM

    split = make_split(load("digits"), val=0.1, seed=0)
    acc = np.mean(LinearSVM.load(run / "model.npz").predict(pre.transform(split.x_test)) == split.y_test)
    assert round(float(acc), 4) == r["test_accuracy"] >= 0.9


@pytest.mark.parametrize("command", ["train", "sweep"])
def test_linear_trains_on_a_fraction_of_the_training_split(tmp_path, capsys, command):
    assert main(["linear", command, "digits", "--train-fraction", "0.25", "--iters", "200", "--out", str(tmp_path),
                 "--json"]) == 0
    r = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    full = make_split(load("digits"), val=0.1, seed=0)
    part = make_split(load("digits"), val=0.1, seed=0, train_fraction=0.25)
    assert r["train_size"] == len(part.y_train) < len(full.y_train) / 3
    assert (r["val_size"], r["test_size"]) == (len(full.y_val), len(full.y_test))  # only training shrinks
    assert json.loads((Path(r["run_dir"]) / "config.json").read_text())["train_fraction"] == 0.25
    assert main(["evaluate", r["run_dir"]]) == 0  # the stored config rebuilds the same split
    assert main(["linear", command, "digits", "--train-fraction", "0", "--out", str(tmp_path)]) == 1
    assert "train_fraction must be in (0, 1]" in capsys.readouterr().err


def test_linear_bad_gamma_is_a_clear_error(tmp_path, capsys):
    assert main(["linear", "train", "digits", "--gamma", "0", "--out", str(tmp_path)]) == 1
    assert "gamma must be" in capsys.readouterr().err


@pytest.mark.realdata
def test_fashion_svm_recipe_beats_the_target_with_gamma(tmp_path, capsys):
    """The recipe in the README (power 0.3 chosen by cross-validation on the training images): test >= 84.5%."""
    require_fashion_mnist()
    recipe = ["--loss", "svm", "--lr", "0.02", "--reg", "1e-3", "--iters", "6000", "--batch-size", "100",
              "--sampling", "epochs", "--averaging", "0.5", "--val", "5000", "--out", str(tmp_path), "--json"]
    results = {}
    for gamma in ("1", "0.3"):
        assert main(["linear", "train", "--dataset", "fashion-mnist", "--gamma", gamma, *recipe]) == 0
        results[gamma] = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert results["0.3"]["val_accuracy"] > results["1"]["val_accuracy"] + 0.003
    assert results["0.3"]["test_accuracy"] >= 0.845


def test_whitened_training_is_saved_as_a_linear_model_on_the_pixels(tmp_path, capsys):
    """--whiten trains on x Z; the saved model is W Z on the standardized pixels and scores as SGD on x Z did."""
    from imgclass.data import zca_matrix
    from imgclass.linear.config import LinearConfig
    from imgclass.linear.estimators import LinearSVM

    assert main(["linear", "train", "digits", "--loss", "svm", "--whiten", "0.01", "--lr", "1e-3", "--reg", "1e-3",
                 "--iters", "300", "--out", str(tmp_path), "--json"]) == 0
    r = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    run = Path(r["run_dir"])
    assert json.loads((run / "config.json").read_text())["whiten"] == 0.01 == r["hyperparameters"]["whiten"]
    split = make_split(load("digits"), val=0.1, seed=0)
    pre = Preprocessor.load(run / "preprocessor.npz")
    xtr, xte = pre.transform(split.x_train), pre.transform(split.x_test)
    z = zca_matrix(xtr, 0.01)
    cfg = LinearConfig(dataset="digits", loss="svm", lr=1e-3, reg=1e-3, iters=300, whiten=0.01)
    by_hand = LinearSVM(**cfg.estimator_params()).fit(xtr @ z, split.y_train)
    saved = LinearSVM.load(run / "model.npz")
    assert saved.coef_.shape == (10, 64)  # one weight per pixel: templates and predictions as without whitening
    np.testing.assert_allclose(saved.decision_function(xte), by_hand.decision_function(xte @ z), rtol=1e-4, atol=1e-4)
    assert not np.allclose(saved.coef_, by_hand.coef_, atol=1e-3)  # the whitened weights were mapped back
    assert round(float(np.mean(saved.predict(xte) == split.y_test)), 4) == r["test_accuracy"] >= 0.9


def test_the_whitening_recipe_is_the_cifar10_svm_s_alone_and_has_its_own_candidates():
    from imgclass.linear.config import LinearConfig
    from imgclass.train import recipes

    assert LinearConfig(dataset="cifar10", loss="svm").whiten == recipes.LINEAR_WHITEN[("svm", "cifar10")] > 0
    assert LinearConfig(dataset="cifar10", loss="softmax").whiten == 0
    assert LinearConfig(dataset="fashion-mnist", loss="svm").whiten == 0
    assert LinearConfig(dataset="cifar10", loss="svm", whiten=0).whiten == 0  # given, kept
    whitened = {lr for lr, _ in LinearConfig(dataset="cifar10", loss="svm").candidates()}
    plain = {lr for lr, _ in LinearConfig(dataset="cifar10", loss="svm", whiten=0).candidates()}
    assert min(whitened) == recipes.LINEAR_SEARCH_WHITENED["svm"]["lr"][0] < min(plain)


@pytest.mark.parametrize("value", ["-0.1", "nan", "inf"])
def test_linear_bad_whiten_is_a_clear_error(tmp_path, capsys, value):
    assert main(["linear", "train", "digits", f"--whiten={value}", "--out", str(tmp_path)]) == 1
    assert "whiten must be a finite number >= 0" in capsys.readouterr().err


def test_linear_runs_written_before_whitening_load_unwhitened(tmp_path):
    from imgclass.runs import Run

    run = tmp_path / "old"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"kind": "linear", "dataset": "cifar10", "loss": "svm",
                                                 "lr": 1e-4, "reg": 0.1}))
    assert Run.open(run).linear_config().whiten == 0  # not the recipe's eps: it was trained on the pixels


def test_whitening_lifts_the_cifar10_svm_on_validation(tmp_path, capsys):
    """The recipe's choice, on half the training split: each with its best pair from the full-data search."""
    from tests.conftest import require_cifar10

    data = require_cifar10()["data_dir"]
    val = {}
    for whiten, lr, reg in (("3e-4", "3.16e-5", "10"), ("0", "3e-4", "0.1")):
        assert main(["linear", "train", "--dataset", "cifar10", "--data-dir", data, "--loss", "svm",
                     "--train-fraction", "0.5", "--whiten", whiten, "--lr", lr, "--reg", reg, "--no-progress",
                     "--out", str(tmp_path), "--json"]) == 0
        val[whiten] = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["val_accuracy"]
    assert val["3e-4"] > val["0"] + 0.004, val  # measured: 0.3892 against 0.3814
