"""The linear baselines study: scikit-learn's classifiers next to imgclass's, on the features 'imgclass linear' uses."""

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from imgclass.errors import ImgclassError
from imgclass.evaluate.report import build_report
from imgclass.linear.config import LinearConfig
from imgclass.linear.run import prepare
from imgclass.studies.baselines import baselines_study
from tests.evaluate import self_contained_images


def test_baselines_study_uses_the_linear_split_and_matches_sklearn_fitted_directly(tmp_path):
    s = baselines_study("digits", subset=400, max_iter=200, iters=300, repeats=1, out_root=tmp_path)
    assert [r["library"] for r in s["rows"]] == ["scikit-learn", "scikit-learn", "imgclass", "imgclass"]
    assert [r["model"].split()[0] for r in s["rows"]] == ["LogisticRegression", "LinearSVC", "SoftmaxClassifier",
                                                          "LinearSVM"]
    split, _, xtr, xval, xte = prepare(LinearConfig(dtype="float64"))
    assert (s["val_size"], s["test_size"], s["train_size"]) == (len(split.y_val), len(split.y_test), 400)
    assert s["hyperparameters"]["reg"] == pytest.approx(1 / (2 * 1.0 * 400))
    for r in s["rows"]:
        assert r["train_seconds"] > 0 and r["val_accuracy"] > 0.8 and r["test_accuracy"] > 0.8
    keep = np.sort(np.random.default_rng(0).permutation(len(split.y_train))[:400])
    oracle = LogisticRegression(max_iter=200).fit(xtr[keep], split.y_train[keep])
    assert s["rows"][0]["test_accuracy"] == round(oracle.score(xte, split.y_test), 4)
    study = Path(s["run_dir"])
    assert json.loads((study / "config.json").read_text())["study"] == "baselines"
    assert s["kind"] == "study" and s["study"] == "baselines"
    text = build_report(study)
    assert len(self_contained_images(text)) == 1 and "LinearSVC" in text


def test_baselines_subset_smaller_than_the_classes_is_refused(tmp_path):
    with pytest.raises(ImgclassError, match="--subset"):
        baselines_study("digits", subset=5, out_root=tmp_path)


def test_baselines_gamma_gives_every_model_the_same_powered_features(tmp_path):
    s = baselines_study("digits", gamma=0.5, subset=400, max_iter=200, iters=300, repeats=1, out_root=tmp_path)
    assert s["hyperparameters"]["gamma"] == 0.5
    split, _, xtr, _, xte = prepare(LinearConfig(dtype="float64", gamma=0.5))
    keep = np.sort(np.random.default_rng(0).permutation(len(split.y_train))[:400])
    oracle = LogisticRegression(max_iter=200).fit(xtr[keep], split.y_train[keep])
    assert s["rows"][0]["test_accuracy"] == round(oracle.score(xte, split.y_test), 4)
