"""Run directories written by the previous imgclass (before ``kind`` and the one results schema) still open.

``tests/runs/legacy/`` holds one small directory of every kind as imgclass 0.1 wrote them (on digits;
plots and checkpoints left out). Each is read as today's layout: its kind, its config, its results
under today's keys; report, compare, evaluate and predict work on them.
"""

import json
import shutil
from pathlib import Path

import pytest

from imgclass.evaluate.compare import compare_runs
from imgclass.evaluate.report import build_report
from imgclass.evaluate.run import evaluate_run
from imgclass.runs import COMMON, Run, load_model
from imgclass.runs.legacy import RENAMED

LEGACY = Path(__file__).parent / "legacy"
KINDS = {"train": "train", "torch": "train", "linear": "linear", "linear-sweep": "linear-sweep", "seeds": "seeds",
         "sweep": "sweep", "study-train-fraction": "study", "study-baselines": "study"}


def old(name: str, file: str) -> dict:
    return json.loads((LEGACY / name / file).read_text())


@pytest.mark.parametrize("name, kind", KINDS.items())
def test_an_old_directory_has_its_kind_and_todays_results_keys(name, kind):
    run = Run.open(LEGACY / name)
    assert run.kind == kind
    res = run.results()
    assert list(res)[:len(COMMON)] == list(COMMON) and res["kind"] == kind
    assert not set(res) & set(RENAMED)  # no old name is left
    assert isinstance(run.config(), dict) and "kind" not in run.config()


def test_old_figures_are_read_under_their_new_names():
    assert Run.open(LEGACY / "train").results()["val_accuracy"] == old("train", "results.json")["best_val_accuracy"]
    assert Run.open(LEGACY / "train").results()["train_accuracy"] == \
        old("train", "results.json")["final_train_accuracy"]
    assert Run.open(LEGACY / "linear").results()["train_seconds"] == old("linear", "results.json")["fit_seconds"]
    sweep = Run.open(LEGACY / "linear-sweep").results()
    assert (sweep["lr"], sweep["val_accuracy"]) == (old("linear-sweep", "results.json")["best_lr"],
                                                    old("linear-sweep", "results.json")["best_val_accuracy"])
    seeds = Run.open(LEGACY / "seeds").results()
    assert seeds["test_accuracy"] == old("seeds", "seeds.json")["test_accuracy_mean"]
    optuna = Run.open(LEGACY / "sweep").results()
    assert optuna["val_accuracy"] == old("sweep", "sweep.json")["best"]["value"]
    rows = Run.open(LEGACY / "study-train-fraction").results()["rows"]
    assert [r["val_accuracy"] for r in rows] == [r["best_val_accuracy"]
                                                 for r in old("study-train-fraction", "study.json")["runs"]]


def test_old_configs_become_typed_configs():
    lin = Run.open(LEGACY / "linear").linear_config()
    params = old("linear", "config.json")["params"]
    assert (lin.lr, lin.iters, lin.loss) == (params["learning_rate"], params["num_iters"], "softmax")
    assert Run.open(LEGACY / "linear-sweep").linear_config().pairs() == \
        [tuple(c) for c in old("linear-sweep", "config.json")["configs"]]
    assert Run.open(LEGACY / "train").train_config().engine == "numpy"
    assert Run.open(LEGACY / "seeds").train_config().model.kind == "mlp"


@pytest.mark.parametrize("name", KINDS)
def test_every_old_directory_gets_a_report(name):
    assert "<h1>" in build_report(LEGACY / name)


def test_old_directories_compare_side_by_side():
    c = compare_runs([LEGACY / n for n in ("train", "torch", "linear", "linear-sweep", "seeds", "sweep")])
    assert [r["kind"] for r in c["runs"]] == ["train", "train", "linear", "linear-sweep", "seeds", "sweep"]
    assert all(r["test_accuracy"] is not None for r in c["runs"])


@pytest.mark.parametrize("name", ["train", "torch", "linear"])
def test_old_runs_evaluate_and_predict(name, tmp_path):
    run = Path(shutil.copytree(LEGACY / name, tmp_path / name))
    m = evaluate_run(run, again=name == "linear")  # the old linear run stored no scores
    assert m["accuracy"] == old(name, "results.json")["test_accuracy"]
    model = load_model(run)
    assert model.image_shape == (1, 8, 8) and model.classes == [str(d) for d in range(10)]
