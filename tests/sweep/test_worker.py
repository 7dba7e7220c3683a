"""Sweeps in one process on SQLite: the sweep directory contract, test-once, resume, joining, grid, pruning."""

import json
import shutil
from pathlib import Path

import optuna
import pytest
from PIL import Image

from imgclass.errors import ImgclassError
from imgclass.sweep import parse_space
from imgclass.sweep import storage as storage_mod
from imgclass.sweep import worker as worker_mod
from imgclass.sweep.worker import sweep
from imgclass.train.trainer import TrainingDiverged
from tests.sweep.conftest import tiny_config

SPACE = ["lr=loguniform:1e-3:3e-2", "weight_decay=loguniform:1e-6:1e-3"]


def run_sweep(tmp_path, trials=3, space=SPACE, **kw):
    kw = {"sampler": "random", "pruner": "none", "out_root": tmp_path, "progress": False, **kw}
    return sweep(tiny_config(), parse_space(space), trials=trials, **kw)


def load(tmp_path, name):
    return optuna.load_study(study_name=name, storage=f"sqlite:///{tmp_path / 'sweeps.db'}")


def test_a_sweep_writes_the_contracted_directory_and_tests_only_the_best_once(tmp_path):
    r = run_sweep(tmp_path, trials=3)
    sweep_dir = Path(r["sweep_dir"])
    assert sweep_dir.parent == tmp_path and sweep_dir.name.split("-", 2)[2].startswith("sweep-torch-mlp-digits")
    doc = json.loads((sweep_dir / "sweep.json").read_text())
    assert {"kind", "study", "storage", "direction", "trials", "best"} <= set(doc)
    assert doc["kind"] == "optuna-sweep" and doc["direction"] == "maximize" and doc["study"] == r["study"]
    assert doc["storage"] == f"sqlite:///{tmp_path / 'sweeps.db'}"
    assert [t["number"] for t in doc["trials"]] == [0, 1, 2]
    for t in doc["trials"]:
        assert set(t) >= {"number", "state", "params", "value", "run_dir"} and t["state"] == "COMPLETE"
        assert Path(t["run_dir"]) == sweep_dir / "trials" / f"trial-{t['number']}"
        assert set(t["params"]) == {"lr", "weight_decay"} and 0 < t["value"] <= 1
        run = json.loads((Path(t["run_dir"]) / "results.json").read_text())
        assert run["val_accuracy"] == t["value"]
    best = doc["best"]
    assert set(best) >= {"number", "params", "value", "test_accuracy", "run_dir"}
    assert best["value"] == max(t["value"] for t in doc["trials"]) and best["test_from"] == "reused"
    assert 0 < best["test_accuracy"] <= 1
    tested = sorted(p.parent.name for p in sweep_dir.rglob("test_log.json"))
    assert tested == [f"trial-{best['number']}"]  # the trials never touch the test split; the best once
    log = json.loads((Path(best["run_dir"]) / "test_log.json").read_text())
    assert [e["by"] for e in log] == ["sweep"]
    assert {p.name for p in (sweep_dir / "plots").glob("*.png")} >= {"history.png", "lr_vs_weight_decay.png"}
    for png in (sweep_dir / "plots").glob("*.png"):
        Image.open(png).verify()
    assert r["finished_by_me"] and r["ran"] == 3
    assert r["kind"] == "sweep" and r["val_accuracy"] == best["value"] and r["test_accuracy"] == best["test_accuracy"]
    results = json.loads((sweep_dir / "results.json").read_text())
    assert results["tuned"] == ["lr", "weight_decay"] and results["hyperparameters"]["lr"] == best["params"]["lr"]
    assert json.loads((sweep_dir / "config.json").read_text())["kind"] == "sweep"

    # --report-only rewrites sweep.json from the storage without a second use of the test split
    again = sweep(report_only=True, study=r["study"], out_root=tmp_path, progress=False)
    assert again["best"] == r["best"] and again["ran"] == 0
    assert len(json.loads((Path(best["run_dir"]) / "test_log.json").read_text())) == 1


def test_resume_continues_the_latest_study_with_its_own_settings_up_to_more_trials(tmp_path):
    first = run_sweep(tmp_path, trials=2)
    r = sweep(resume=True, trials=4, out_root=tmp_path, progress=False)  # no study named: the latest
    assert r["study"] == first["study"] and r["counts"] == {"COMPLETE": 4} and r["ran"] == 2
    assert [t["params"] for t in r["trials"][:2]] == [t["params"] for t in first["trials"]]
    assert sorted(p.name for p in (Path(r["sweep_dir"]) / "trials").iterdir()) == [f"trial-{i}" for i in range(4)]
    with pytest.raises(ImgclassError, match="no study 'nope'"):
        sweep(resume=True, study="nope", out_root=tmp_path, progress=False)


def test_a_second_worker_joins_a_named_study_only_with_the_same_settings(tmp_path):
    r = run_sweep(tmp_path, trials=2, study="shared")
    assert r["study"] == "shared" and r["sweep_dir"].endswith("-sweep-shared")
    late = run_sweep(tmp_path, trials=2, study="shared")  # nothing left to run: it stands down
    assert late["ran"] == 0 and not late["finished_by_me"] and "another worker" in late["note"]
    assert late["sweep_dir"] == r["sweep_dir"] and late["best"]["test_accuracy"] == r["best"]["test_accuracy"]
    with pytest.raises(ImgclassError, match="exists with other settings \\(space differ"):
        run_sweep(tmp_path, trials=2, study="shared", space=["lr=loguniform:1e-4:1e-1"])


def test_grid_search_covers_the_grid_and_caps_the_trials_at_its_size(tmp_path):
    r = run_sweep(tmp_path, trials=10, sampler="grid", grid_points=2,
                  space=["lr=loguniform:1e-3:1e-2", "batch_size=categorical:32,64"])
    assert "the grid has 4 points" in r["note"] and r["counts"] == {"COMPLETE": 4}
    got = sorted((t["params"]["batch_size"], round(t["params"]["lr"], 6)) for t in r["trials"])
    assert got == [(32, 0.001), (32, 0.01), (64, 0.001), (64, 0.01)]


def test_pruned_and_diverged_trials_count_as_finished(tmp_path, monkeypatch):
    monkeypatch.setattr(storage_mod, "make_pruner", lambda name: optuna.pruners.ThresholdPruner(lower=1.01))
    r = run_sweep(tmp_path, trials=2, pruner="median")
    assert r["counts"] == {"PRUNED": 2} and r["best"] is None
    assert all(t["value"] is None and t["note"].startswith("pruned at evaluation point 1") for t in r["trials"])
    monkeypatch.undo()

    def diverge(*args, **kwargs):
        raise TrainingDiverged("the training loss became nan at step 3 (epoch 1); lower the learning rate")

    monkeypatch.setattr(worker_mod, "train", diverge)
    d = run_sweep(tmp_path / "d", trials=2)
    assert d["counts"] == {"PRUNED": 2} and d["trials"][0]["note"].startswith("diverged: the training loss")


def test_the_pruning_callback_reports_each_evaluation_point_and_stops_a_poor_trial():
    class FakeTrial:
        def __init__(self, prune_at):
            self.reports, self.prune_at = [], prune_at

        def report(self, value, step):
            self.reports.append((step, value))

        def should_prune(self):
            return len(self.reports) == self.prune_at

    class FakeTrainer:
        history: list = []

    trial, trainer = FakeTrial(prune_at=2), FakeTrainer()
    cb = worker_mod.ReportToTrial(trial)
    trainer.history = [{"val_acc": 0.5}]
    cb.on_eval(trainer, trainer.history[-1])
    trainer.history.append({"val_acc": 0.25})
    with pytest.raises(optuna.TrialPruned, match="evaluation point 2 \\(val acc 0.2500\\)"):
        cb.on_eval(trainer, trainer.history[-1])
    assert trial.reports == [(0, 0.5), (1, 0.25)]


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
def test_a_trial_created_when_enough_are_finished_or_running_is_not_run(tmp_path):
    opened = storage_mod.open_study(tiny_config(), parse_space(SPACE), trials=2, sampler="random", pruner="none",
                                  storage=None, study="race", resume=False, out_root=tmp_path, name=None,
                                  heartbeat=5, grid_points=3)
    objective = worker_mod.make_objective(opened)
    opened.study.ask(), opened.study.ask()  # two trials running elsewhere
    third = opened.study.ask()
    with pytest.raises(worker_mod.SurplusTrial):
        objective(third)
    assert "surplus" in third.user_attrs and not (opened.sweep_dir / "trials" / "trial-2").exists()


def test_the_best_is_retrained_with_a_test_evaluation_when_its_run_is_not_here(tmp_path, monkeypatch):
    monkeypatch.setattr(worker_mod, "finishes_sweep", lambda opened: False)  # another worker would end it
    r = run_sweep(tmp_path, trials=2, study="elsewhere")
    assert not r["finished_by_me"] and r["best"]["test_accuracy"] is None
    assert not (Path(r["sweep_dir"]) / "sweep.json").exists()
    shutil.rmtree(r["best"]["run_dir"])  # its run directory lives on another machine
    monkeypatch.undo()
    done = sweep(report_only=True, study="elsewhere", out_root=tmp_path, progress=False)
    best = done["best"]
    assert best["test_from"] == "retrained" and Path(best["run_dir"]).name == f"best-trial-{best['number']}"
    results = json.loads((Path(best["run_dir"]) / "results.json").read_text())
    assert results["test_accuracy"] == best["test_accuracy"] and results["val_accuracy"] == best["value"]
    assert load(tmp_path, "elsewhere").user_attrs["test"]["test_from"] == "retrained"


def test_bad_sweep_settings_are_errors(tmp_path):
    with pytest.raises(ImgclassError, match="validation split"):
        sweep(tiny_config(val=0), parse_space(SPACE), trials=2, out_root=tmp_path, progress=False)
    with pytest.raises(ImgclassError, match="--trials must be >= 1"):
        sweep(tiny_config(), parse_space(SPACE), trials=0, out_root=tmp_path, progress=False)
    with pytest.raises(ImgclassError, match="--sampler must be one of"):
        sweep(tiny_config(), parse_space(SPACE), trials=2, sampler="cma", out_root=tmp_path, progress=False)
    with pytest.raises(ImgclassError, match="no imgclass study"):
        sweep(resume=True, out_root=tmp_path / "empty", progress=False)
    with pytest.raises(ImgclassError, match="cannot open the study storage"):
        sweep(tiny_config(), parse_space(SPACE), trials=2, storage="nosuchdb://x", out_root=tmp_path,
              progress=False)
