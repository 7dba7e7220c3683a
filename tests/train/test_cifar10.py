"""The CIFAR-10 recipes on the real data, small enough for CI: the full-size figures are benchmarks'
(benchmarks/cifar10_speed.py, benchmarks/cifar10_assignments.py); these prove the same code paths learn."""

import json

import pytest

from imgclass.cli import main
from imgclass.train import TrainConfig
from imgclass.train.run import train
from tests.conftest import require_cifar10

pytestmark = [pytest.mark.realdata, pytest.mark.slow]


def test_the_default_fast_net_learns_from_a_small_subset_with_its_whole_recipe(tmp_path):
    data = require_cifar10()
    # the default recipe (muon, lookahead, progressive 24 px, translate + flip, flip + shift test views), on
    # 5% of the training images for 4 epochs: far from the full run's figure, far above chance (10%)
    cfg = TrainConfig(dataset="cifar10", data_options=data, model="fast-small", train_fraction=0.05, val=500,
                      epochs=4, threads=2)
    assert cfg.optimizer == "muon" and cfg.lookahead and cfg.progressive and cfg.tta_shift
    r = train(cfg, out_root=tmp_path, progress=False)
    assert r["train_size"] == 2475 and r["test_accuracy"] > 0.40, r


def test_the_overfitting_exercise_memorizes_450_images(tmp_path):
    r = train(TrainConfig(dataset="cifar10", data_options=require_cifar10(), recipe="overfit"), out_root=tmp_path,
              progress=False)
    assert r["train_size"] == 450 and r["train_accuracy"] >= 0.80, r
    assert r["test_accuracy"] < r["train_accuracy"] - 0.3  # memorized, not generalized


def test_seeds_on_cifar10_report_mean_and_std(tmp_path, capsys):
    data = require_cifar10()
    assert main(["train", "--dataset", "cifar10", "--data-dir", data["data_dir"], "--recipe", "overfit",
                 "--epochs", "5", "--seeds", "2", "--out", str(tmp_path), "--no-progress", "--json"]) == 0
    out = capsys.readouterr().out
    result = json.loads(out.strip().splitlines()[-1])
    accs = result["test_accuracies"]
    assert len(accs) == 2 and accs[0] != accs[1]  # two seeds, two different models
    assert result["test_accuracy"] == pytest.approx(sum(accs) / 2, abs=1e-4)
    assert result["test_accuracy_std"] > 0
