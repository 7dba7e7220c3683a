"""One results schema: every kind of run writes the common keys, the same key for the same figure."""

import pytest

from imgclass.errors import ImgclassError
from imgclass.runs import COMMON, Run, results
from tests.evaluate import linear_run, linear_sweep_run, seeds_run, train_run


def test_every_producer_writes_the_common_keys_first(tmp_path_factory):
    for make in (train_run, seeds_run, linear_run, linear_sweep_run):
        res = Run.open(make(tmp_path_factory)).results()
        assert list(res)[:len(COMMON)] == list(COMMON), make.__name__
        assert 0 <= res["test_accuracy"] <= 1 and 0 <= res["val_accuracy"] <= 1 and res["train_seconds"] >= 0
        assert res["dataset"] == "digits" and res["model"] and res["engine"]


def test_the_builder_rounds_figures_and_refuses_unknown_kinds(tmp_path):
    r = results("train", tmp_path, val_accuracy=0.123456, train_seconds=1.23456, plots=[tmp_path / "a.png"])
    assert (r["val_accuracy"], r["train_seconds"], r["test_accuracy"]) == (0.1235, 1.23, None)
    assert r["plots"] == [str(tmp_path / "a.png")] and r["hyperparameters"] == {} and r["tuned"] == []
    with pytest.raises(ImgclassError, match="unknown run kind"):
        results("optuna-sweep", tmp_path)
