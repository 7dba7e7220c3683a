"""Studies: training-fraction curve and the linear baselines table, written as study directories."""

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from imgclass.errors import ImgclassError
from imgclass.evaluate.report import build_report
from imgclass.evaluate.studies import baselines_study, check_fractions, train_fraction_study
from imgclass.linear.run import prepare
from tests.evaluate import self_contained_images, tiny_config


def test_train_fraction_study_trains_one_run_per_fraction(tmp_path):
    s = train_fraction_study(tiny_config(), [1.0, 0.25], out_root=tmp_path, progress=False)
    study = Path(s["run_dir"])
    assert json.loads((study / "study.json").read_text()) == json.loads(json.dumps(s))
    assert s["kind"] == "train-fraction-study" and s["fractions"] == [0.25, 1.0]
    small, full = s["runs"]
    assert small["train_size"] < full["train_size"] and abs(small["train_size"] / full["train_size"] - 0.25) < 0.02
    for r in s["runs"]:
        run = Path(r["run_dir"])
        assert run.parent == study
        assert json.loads((run / "config.json").read_text())["train_fraction"] == r["fraction"]
        assert r["test_accuracy"] == json.loads((run / "results.json").read_text())["test_accuracy"]
    assert Path(s["plot"]).is_file()
    text = build_report(study)
    assert len(self_contained_images(text)) == 1 + len(s["runs"])  # the study plot + each run's curves


@pytest.mark.parametrize("bad", [[0.0], [1.5], ["x"], []])
def test_fractions_must_lie_in_0_1(bad):
    with pytest.raises(ImgclassError, match=r"\(0, 1\]"):
        check_fractions(bad)


def test_baselines_study_uses_the_linear_split_and_matches_sklearn_fitted_directly(tmp_path):
    s = baselines_study("digits", subset=400, max_iter=200, iters=300, repeats=1, out_root=tmp_path)
    assert [r["library"] for r in s["rows"]] == ["scikit-learn", "scikit-learn", "imgclass", "imgclass"]
    assert [r["model"].split()[0] for r in s["rows"]] == ["LogisticRegression", "LinearSVC", "SoftmaxClassifier",
                                                          "LinearSVM"]
    _, split, _, xtr, xval, xte = prepare("digits", dtype="float64")
    assert (s["val_size"], s["test_size"], s["train_size"]) == (len(split.y_val), len(split.y_test), 400)
    assert s["settings"]["reg"] == pytest.approx(1 / (2 * 1.0 * 400))
    for r in s["rows"]:
        assert r["fit_seconds"] > 0 and r["val_accuracy"] > 0.8 and r["test_accuracy"] > 0.8
    keep = np.sort(np.random.default_rng(0).permutation(len(split.y_train))[:400])
    oracle = LogisticRegression(max_iter=200).fit(xtr[keep], split.y_train[keep])
    assert s["rows"][0]["test_accuracy"] == round(oracle.score(xte, split.y_test), 4)
    study = Path(s["run_dir"])
    assert json.loads((study / "study.json").read_text())["kind"] == "baselines-study"
    text = build_report(study)
    assert len(self_contained_images(text)) == 1 and "LinearSVC" in text


def test_baselines_subset_smaller_than_the_classes_is_refused(tmp_path):
    with pytest.raises(ImgclassError, match="--subset"):
        baselines_study("digits", subset=5, out_root=tmp_path)


def test_baselines_gamma_gives_every_model_the_same_powered_features(tmp_path):
    s = baselines_study("digits", gamma=0.5, subset=400, max_iter=200, iters=300, repeats=1, out_root=tmp_path)
    assert s["settings"]["gamma"] == 0.5
    _, split, _, xtr, _, xte = prepare("digits", dtype="float64", gamma=0.5)
    keep = np.sort(np.random.default_rng(0).permutation(len(split.y_train))[:400])
    oracle = LogisticRegression(max_iter=200).fit(xtr[keep], split.y_train[keep])
    assert s["rows"][0]["test_accuracy"] == round(oracle.score(xte, split.y_test), 4)
