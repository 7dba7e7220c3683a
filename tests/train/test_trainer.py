"""The Trainer loop: evaluation points, history rows, a NaN loss stopping the run with the last good checkpoint."""

import math

import numpy as np
import pytest

from imgclass.train import TrainConfig
from imgclass.train.callbacks import Callback, read_metrics
from imgclass.train.checkpoint import load_checkpoint
from imgclass.train.run import train
from imgclass.train.trainer import TrainingDiverged, eval_steps

FAST = dict(dataset="digits", model="mlp:32", epochs=3, batch_size=64, lr=1e-2)


def test_evaluation_points_evenly_spaced():
    assert eval_steps(100, 10, 0) == list(range(10, 101, 10))
    assert eval_steps(100, 10, 4) == [25, 50, 75, 100]
    assert eval_steps(7, 7, 3) == [2, 5, 7]


def test_n_evaluation_points_give_n_history_rows(tmp_path):
    r = train(TrainConfig(engine="numpy", eval_points=5, **FAST), run_dir=tmp_path / "r", progress=False)
    assert len(read_metrics(tmp_path / "r" / "metrics.csv")) == 5
    assert r["steps"] == 3 * math.ceil(r["train_size"] / 64)


class SetLR(Callback):
    """After the first evaluation point, set a learning rate that makes the loss blow up."""

    def __init__(self, lr):
        self.lr = lr

    def on_eval(self, trainer, row):
        if row["step"] == trainer.points[0]:
            trainer.engine.optimizer.lr = self.lr


def test_nan_loss_stops_with_a_clear_message_and_keeps_the_last_good_checkpoint(tmp_path):
    cfg = TrainConfig(engine="numpy", **{**FAST, "epochs": 5})
    with pytest.raises(TrainingDiverged, match="lower the learning rate"):
        train(cfg, run_dir=tmp_path / "r", progress=False, callbacks=[SetLR(1e30)])
    state = load_checkpoint(tmp_path / "r" / "checkpoint.pt")
    assert state["trainer"]["step"] == math.ceil(1213 / 64)  # the first epoch's point, the last good one
    assert all(np.isfinite(v).all() for v in state["trainer"]["engine"]["model"].values())
    assert not (tmp_path / "r" / "results.json").exists()
