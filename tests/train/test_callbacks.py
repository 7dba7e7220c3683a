"""The Trainer's callbacks: early stopping and the best weights, metrics.csv, checkpoints, the progress bar."""

import math

import pytest
import torch

from imgclass.train import TrainConfig
from imgclass.train.callbacks import Callback, Checkpoint, EarlyStopping, MetricsCSV, ProgressBar, read_metrics
from imgclass.train.checkpoint import load_checkpoint
from imgclass.train.run import prepare, train
from imgclass.train.trainer import Trainer

FAST = dict(dataset="digits", model="mlp:32", epochs=3, batch_size=64, lr=1e-2)


def test_early_stopping_stops_and_restores_the_best_weights(tmp_path):
    # a learning rate so small that validation accuracy cannot improve after the first point
    cfg = TrainConfig(engine="numpy", patience=2, **{**FAST, "epochs": 10, "lr": 1e-12})
    r = train(cfg, run_dir=tmp_path / "r", progress=False)
    assert r["stopped_early"] and r["epochs_done"] == 3.0
    assert r["best_step"] == math.ceil(1213 / 64)


def test_restored_weights_are_the_best_points(tmp_path):
    cfg = TrainConfig(engine="torch", eval_points=6, **{**FAST, "lr": 0.05})
    seen = {}

    class Record(Callback):
        def on_eval(self, trainer, row):
            seen[row["step"]] = trainer.engine.model_state()

    r = train(cfg, run_dir=tmp_path / "r", progress=False, callbacks=[Record()])

    final = load_checkpoint(tmp_path / "r" / "model.pt")
    best = seen[r["best_step"]]
    assert r["best_step"] != r["steps"] or len(seen) == 1
    assert final.keys() == best.keys() and all(torch.equal(best[k], v) for k, v in final.items())
    p = prepare(cfg)
    p.engine.load_model_state(best)
    assert p.engine.evaluate(p.x_val, p.split.y_val)[1] == pytest.approx(r["val_accuracy"], abs=1e-4)


def test_metrics_csv_holds_one_row_per_evaluation_point_and_reads_back(tmp_path):
    cfg = TrainConfig(engine="numpy", eval_points=4, **FAST)
    p = prepare(cfg)
    trainer = Trainer(p.engine, p.x_train, p.split.y_train, p.x_val, p.split.y_val, epochs=cfg.epochs,
                      batch_size=cfg.batch_size, eval_points=cfg.eval_points,
                      callbacks=[MetricsCSV(tmp_path / "metrics.csv"), ProgressBar(enabled=False)])
    history = trainer.fit()
    rows = read_metrics(tmp_path / "metrics.csv")
    assert len(rows) == len(history) == 4 and [r["step"] for r in rows] == trainer.points
    assert rows[-1]["val_acc"] == pytest.approx(history[-1]["val_acc"]) and isinstance(rows[0]["step"], int)


def test_the_checkpoint_holds_the_trainer_state_at_the_last_point(tmp_path):
    cfg = TrainConfig(engine="torch", **FAST)
    p = prepare(cfg)
    early = EarlyStopping(0)
    trainer = Trainer(p.engine, p.x_train, p.split.y_train, p.x_val, p.split.y_val, epochs=2, batch_size=64,
                      callbacks=[early, Checkpoint(tmp_path / "checkpoint.pt")])
    trainer.fit()
    state = load_checkpoint(tmp_path / "checkpoint.pt")
    assert state["trainer"]["step"] == trainer.step and len(state["trainer"]["history"]) == 2
    assert state["trainer"]["callbacks"][0]["best_step"] == early.best_step
    assert set(state["rng"]) >= {"python", "numpy", "torch"}


def test_early_stopping_without_validation_never_stops_and_keeps_the_last_weights():
    cfg = TrainConfig(engine="numpy", val=0, patience=1, **FAST)
    p = prepare(cfg)
    early = EarlyStopping(cfg.patience)
    trainer = Trainer(p.engine, p.x_train, p.split.y_train, p.x_val, p.split.y_val, epochs=3, batch_size=64,
                      callbacks=[early])
    trainer.fit()
    assert not trainer.stopped_early and early.best_state is None and trainer.step == trainer.total_steps
    assert math.isnan(trainer.history[-1]["val_acc"])
