"""A run directory's owner: created with its kind, opened by kind, read and written through one reader."""

import json

import pytest

from imgclass.errors import ImgclassError
from imgclass.runs import KINDS, Run, resolve


def test_create_writes_the_config_with_its_kind_and_open_reads_it_back(tmp_path):
    run = Run.create("linear", {"dataset": "digits", "loss": "svm"}, root=tmp_path, name="x")
    assert run.path.parent == tmp_path and run.path.name.endswith("-x")
    assert json.loads(run.file("config.json").read_text()) == {"kind": "linear", "dataset": "digits", "loss": "svm"}
    again = Run.open(run.path)
    assert again.kind == "linear" and again.config() == {"dataset": "digits", "loss": "svm"}
    assert again.results() is None  # not finished


def test_open_checks_the_kind_the_caller_accepts(tmp_path):
    run = Run.create("study", {"study": "baselines"}, path=tmp_path / "s")
    with pytest.raises(ImgclassError, match="is a study run; this needs a train or linear run"):
        Run.open(run.path, kind=("train", "linear"))
    with pytest.raises(ImgclassError, match="unknown run kind"):
        Run.create("nope", {}, path=tmp_path / "n")
    assert set(KINDS) == {"train", "seeds", "linear", "linear-sweep", "sweep", "study"}


def test_not_a_run_directory_and_bad_files_are_clear_errors(tmp_path):
    with pytest.raises(ImgclassError, match="no such run directory"):
        Run.open(tmp_path / "missing")
    with pytest.raises(ImgclassError, match="not a run directory"):
        Run.open(tmp_path).kind
    (tmp_path / "config.json").write_text("{oops")
    with pytest.raises(ImgclassError, match="not valid JSON"):
        Run.open(tmp_path).kind


def test_a_train_config_is_read_back_typed(tmp_path):
    from imgclass.train import TrainConfig

    cfg = TrainConfig(model="mlp:16", epochs=1)
    run = Run.create("train", cfg.to_dict(), path=tmp_path / "r")
    assert Run.open(run.path).train_config() == cfg
    with pytest.raises(ImgclassError, match="not a linear run"):
        run.linear_config()


def test_recorded_paths_are_found_again_after_the_tree_moved(tmp_path):
    (tmp_path / "sweep" / "trials" / "trial-3").mkdir(parents=True)
    assert resolve(tmp_path / "sweep", "/old/place/sweep/trials/trial-3") == tmp_path / "sweep" / "trials" / "trial-3"
    assert resolve(tmp_path, None) is None
