"""A whole run from a TrainConfig to its run directory: files, results, the test split once, thread counts."""

import json

import pytest

from imgclass.runs import Run
from imgclass.train import TrainConfig
from imgclass.train.callbacks import read_metrics
from imgclass.train.run import train, train_seeds

FAST = dict(dataset="digits", model="mlp:32", epochs=3, batch_size=64, lr=1e-2)


@pytest.mark.parametrize("engine", ["numpy", "torch"])
def test_a_run_learns_and_writes_its_directory(tmp_path, engine):
    r = train(TrainConfig(engine=engine, **FAST), run_dir=tmp_path / "run", progress=False)
    run = tmp_path / "run"
    for name in ("config.json", "metrics.csv", "checkpoint.pt", "results.json", "preprocessor.npz", "plots/curves.png"):
        assert (run / name).is_file(), name
    assert (run / ("model.npz" if engine == "numpy" else "model.pt")).is_file()
    rows = read_metrics(run / "metrics.csv")
    assert [row["epoch"] for row in rows] == [1.0, 2.0, 3.0]
    assert rows[-1]["train_loss"] < rows[0]["train_loss"]
    assert r["test_accuracy"] > 0.85  # digits: an MLP gets ~0.95 in three epochs
    assert r["val_accuracy"] == pytest.approx(max(row["val_acc"] for row in rows), abs=1e-4)


def test_trainer_needs_no_validation_set(tmp_path):
    r = train(TrainConfig(engine="numpy", val=0, **FAST), run_dir=tmp_path / "r", progress=False)
    assert r["val_accuracy"] is None and r["test_accuracy"] > 0.85


def test_without_test_the_test_split_is_untouched(tmp_path):
    r = train(TrainConfig(engine="numpy", **FAST), run_dir=tmp_path / "r", progress=False, test=False)
    assert r["test_accuracy"] is None and r["val_accuracy"] > 0.85
    assert not (tmp_path / "r" / "test_log.json").exists() and not (tmp_path / "r" / "test_scores.npz").exists()


def test_a_run_with_its_own_thread_count_restores_the_callers(tmp_path):
    import torch

    before = torch.get_num_threads()
    train(TrainConfig(engine="torch", threads=1, **{**FAST, "epochs": 1}), run_dir=tmp_path / "r",
          progress=False, test=False)
    assert torch.get_num_threads() == before


@pytest.mark.parametrize("engine", ["numpy", "torch"])
def test_linear_runs_plot_their_class_templates(tmp_path, engine):
    r = train(TrainConfig(engine=engine, **{**FAST, "model": "linear"}), run_dir=tmp_path / "r", progress=False)
    assert str(tmp_path / "r" / "plots" / "templates.png") in r["plots"]
    from PIL import Image

    Image.open(tmp_path / "r" / "plots" / "templates.png").verify()


def test_the_results_follow_the_one_schema_and_the_run_reads_back(tmp_path):
    from imgclass.runs import COMMON

    r = train(TrainConfig(engine="numpy", **FAST), run_dir=tmp_path / "r", progress=False)
    assert list(r)[:len(COMMON)] == list(COMMON) and r["kind"] == "train"
    run = Run.open(tmp_path / "r")
    assert run.kind == "train" and run.results() == json.loads(json.dumps(r))
    assert run.train_config() == TrainConfig(engine="numpy", **FAST)
    assert run.data()["classes"] == [str(d) for d in range(10)] and run.data()["image_shape"] == [1, 8, 8]
    assert [e["by"] for e in run.test_log()] == ["train"]


def test_seeds_write_one_parent_with_the_mean_and_std(tmp_path):
    s = train_seeds(TrainConfig(engine="numpy", **FAST), 2, out_root=tmp_path, progress=False)
    parent = Run.open(s["run_dir"])
    assert parent.kind == "seeds" and parent.config()["seeds"] == 2
    accs = [Run.open(r).results()["test_accuracy"] for r in s["runs"]]
    assert s["test_accuracies"] == accs and s["test_accuracy"] == pytest.approx(sum(accs) / 2, abs=1e-4)
    assert s["hyperparameters"]["seed"] == "0..1 (2 seeds)"


def test_a_bad_dataset_leaves_no_half_made_run_directory(tmp_path):
    from imgclass.errors import ImgclassError

    with pytest.raises(ImgclassError):
        train(TrainConfig(dataset="folder:/nonexistent", **{k: v for k, v in FAST.items() if k != "dataset"}),
              out_root=tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == []
