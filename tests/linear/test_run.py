"""'imgclass linear train' end to end: run directory, plots, test split used once."""

import json
from pathlib import Path

import numpy as np
from PIL import Image

from imgclass.cli import main
from imgclass.data import Preprocessor, load, make_split
from imgclass.linear.estimators import SoftmaxClassifier


def test_linear_train_cli_writes_a_complete_run(tmp_path, capsys):
    assert main(["linear", "train", "digits", "--loss", "softmax", "--lr", "0.1", "--reg", "1e-4",
                 "--out", str(tmp_path), "--json"]) == 0
    r = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    run = Path(r["run_dir"])
    assert r["test_accuracy"] >= 0.9 and r["test_set_used"] is True
    for name in ("config.json", "results.json", "model.npz", "preprocessor.npz", "plots/loss.png", "plots/templates.png"):
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
    assert "learning_rate must be > 0" in capsys.readouterr().err


def test_linear_sweep_cli_grid_and_random(tmp_path, capsys):
    assert main(["linear", "sweep", "digits", "--loss", "svm", "--lrs", "1e-4,1e-3,1e-2", "--regs", "0,1e-2",
                 "--iters", "200", "--out", str(tmp_path), "--json"]) == 0
    r = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    run = Path(r["run_dir"])
    assert r["configs"] == 6 and r["test_set_used"] and r["best_lr"] in (1e-4, 1e-3, 1e-2)
    sweep = json.loads((run / "sweep.json").read_text())
    assert len(sweep["records"]) == 6 and all({"lr", "reg", "train_acc", "val_acc"} <= set(x) for x in sweep["records"])
    assert max(x["val_acc"] for x in sweep["records"]) == sweep["best"]["val_acc"] == r["best_val_accuracy"] or \
        round(max(x["val_acc"] for x in sweep["records"]), 4) == r["best_val_accuracy"]
    for name in ("model.npz", "preprocessor.npz", "best_weights.npz", "plots/sweep_train_acc.png",
                 "plots/sweep_val_acc.png", "plots/templates.png"):
        assert (run / name).is_file(), name
    # the saved best model reproduces the reported test accuracy
    from imgclass.linear.estimators import LinearSVM

    est, pre = LinearSVM.load(run / "model.npz"), Preprocessor.load(run / "preprocessor.npz")
    split = make_split(load("digits"), val=0.1, seed=0)
    assert round(float(np.mean(est.predict(pre.transform(split.x_test)) == split.y_test)), 4) == r["test_accuracy"]

    assert main(["linear", "sweep", "digits", "--search", "random", "--trials", "5", "--iters", "100",
                 "--out", str(tmp_path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["configs"] == 5


def test_linear_sweep_needs_validation(tmp_path, capsys):
    assert main(["linear", "sweep", "digits", "--val", "0", "--out", str(tmp_path)]) == 1
    assert "validation split" in capsys.readouterr().err


def test_dataset_by_flag_or_positional(tmp_path, capsys):
    assert main(["linear", "train", "--dataset", "digits", "--iters", "20", "--out", str(tmp_path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["dataset"] == "digits"
    assert main(["linear", "train", "digits", "--dataset", "fashion-mnist", "--out", str(tmp_path)]) == 1
    assert "two datasets" in capsys.readouterr().err
