"""``evaluate_run`` on a tiny finished run: sklearn's accuracy of the stored scores, the test-use log."""

import json

import numpy as np
import pytest
from sklearn.metrics import accuracy_score

from imgclass.errors import ImgclassError
from imgclass.evaluate.run import evaluate_run
from imgclass.runs import Run
from tests.evaluate import copy_run, linear_run, train_run


def uses_of_test_split(run) -> list[dict]:
    return Run.open(run).test_log()


def test_accuracy_equals_sklearns_on_the_stored_scores(tmp_path_factory):
    run = train_run(tmp_path_factory)
    with np.load(run / "test_scores.npz") as z:
        scores, y = z["scores"], z["y"]
    m = evaluate_run(run)
    assert m["accuracy"] == round(accuracy_score(y, scores.argmax(axis=1)), 4)
    assert m["accuracy"] == json.loads((run / "results.json").read_text())["test_accuracy"]
    assert m["count"] == len(y) and m["test_uses"] == 1


def test_the_test_split_is_logged_once_by_training_and_again_by_again(tmp_path_factory, tmp_path):
    run = copy_run(train_run(tmp_path_factory), tmp_path / "run")
    log = uses_of_test_split(run)
    assert [e["by"] for e in log] == ["train"]
    evaluate_run(run)  # from the stored scores: not another use
    assert len(uses_of_test_split(run)) == 1
    m = evaluate_run(run, again=True)
    assert [e["by"] for e in uses_of_test_split(run)] == ["train", "evaluate"] and m["test_uses"] == 2
    with np.load(run / "test_scores.npz") as z:  # recomputed by the saved model: same predictions
        assert m["accuracy"] == round(accuracy_score(z["y"], z["scores"].argmax(axis=1)), 4)


def test_stored_scores_of_another_split_are_refused(tmp_path_factory, tmp_path):
    run = copy_run(train_run(tmp_path_factory), tmp_path / "run")
    with np.load(run / "test_scores.npz") as z:
        scores, y = z["scores"], z["y"]
    np.savez(run / "test_scores.npz", scores=scores[:-1], y=y[:-1])
    with pytest.raises(ImgclassError, match="use --again"):
        evaluate_run(run)


def test_a_linear_run_is_evaluated_from_its_stored_scores_too(tmp_path_factory, tmp_path):
    run = copy_run(linear_run(tmp_path_factory), tmp_path / "run")
    assert [e["by"] for e in uses_of_test_split(run)] == ["linear"]
    m = evaluate_run(run)
    assert m["accuracy"] == json.loads((run / "results.json").read_text())["test_accuracy"]
    assert m["test_uses"] == 1 and len(m["per_class"]) == 10
    again = evaluate_run(run, again=True)  # the saved model scores the test split the same way
    assert again["accuracy"] == m["accuracy"] and again["test_uses"] == 2


def test_a_directory_that_is_not_a_run_is_a_clear_error(tmp_path):
    with pytest.raises(ImgclassError, match="not a run directory"):
        evaluate_run(tmp_path)
