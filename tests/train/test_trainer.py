"""The Trainer with both engines: history, evaluation points, early stopping, NaN detection, clipping."""

import math

import numpy as np
import pytest

from imgclass.train import TrainConfig
from imgclass.train.callbacks import Callback, read_metrics
from imgclass.train.checkpoint import load_checkpoint
from imgclass.train.run import prepare, train
from imgclass.train.trainer import Trainer, TrainingDiverged, eval_steps

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
    assert r["best_val_accuracy"] == pytest.approx(max(row["val_acc"] for row in rows), abs=1e-4)


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
    import torch

    final = load_checkpoint(tmp_path / "r" / "model.pt")
    best = seen[r["best_step"]]
    assert r["best_step"] != r["steps"] or len(seen) == 1
    assert final.keys() == best.keys() and all(torch.equal(best[k], v) for k, v in final.items())
    p = prepare(cfg)
    p.engine.load_model_state(best)
    assert p.engine.evaluate(p.x_val, p.split.y_val)[1] == pytest.approx(r["best_val_accuracy"], abs=1e-4)


@pytest.mark.parametrize("engine", ["numpy", "torch"])
def test_gradient_clipping_bounds_the_update(engine):
    cfg = TrainConfig(engine=engine, optimizer="sgd", momentum=0.0, clip_grad=1e-3, **{**FAST, "lr": 1.0})
    p = prepare(cfg)
    before = {k: np.asarray(getattr(v, "numpy", lambda: v)()) for k, v in p.engine.model_state().items()}
    p.engine.bind(p.x_train, p.split.y_train)
    p.engine.train_step(np.arange(64))
    after = {k: np.asarray(getattr(v, "numpy", lambda: v)()) for k, v in p.engine.model_state().items()}
    step = math.sqrt(sum(float(np.sum((after[k] - before[k]) ** 2)) for k in before if "running" not in k))
    assert step == pytest.approx(1e-3, rel=1e-3)  # lr 1 x clipped norm 1e-3


@pytest.mark.parametrize("schedule", ["step", "cosine", "onecycle"])
def test_both_engines_follow_the_same_learning_rate_schedule(tmp_path, schedule):
    lrs = {}
    for engine in ("numpy", "torch"):
        train(TrainConfig(engine=engine, schedule=schedule, eval_points=6, **FAST), run_dir=tmp_path / engine,
              progress=False)
        lrs[engine] = [row["lr"] for row in read_metrics(tmp_path / engine / "metrics.csv")]
    np.testing.assert_allclose(lrs["numpy"], lrs["torch"], rtol=1e-6)
    assert lrs["numpy"][-1] < 1e-2


def test_hinge_loss_trains_both_engines(tmp_path):
    for engine in ("numpy", "torch"):
        r = train(TrainConfig(engine=engine, loss="hinge", **FAST), run_dir=tmp_path / engine, progress=False)
        assert r["test_accuracy"] > 0.85, engine


def test_trainer_needs_no_validation_set(tmp_path):
    r = train(TrainConfig(engine="numpy", val=0, **FAST), run_dir=tmp_path / "r", progress=False)
    assert r["best_val_accuracy"] is None and r["test_accuracy"] > 0.85


def test_without_test_the_test_split_is_untouched(tmp_path):
    r = train(TrainConfig(engine="numpy", **FAST), run_dir=tmp_path / "r", progress=False, test=False)
    assert r["test_accuracy"] is None and r["best_val_accuracy"] > 0.85
    assert not (tmp_path / "r" / "test_log.json").exists() and not (tmp_path / "r" / "test_scores.npz").exists()


def test_a_run_with_its_own_thread_count_restores_the_callers(tmp_path):
    import torch

    before = torch.get_num_threads()
    train(TrainConfig(engine="torch", threads=1, **{**FAST, "epochs": 1}), run_dir=tmp_path / "r",
          progress=False, test=False)
    assert torch.get_num_threads() == before


def test_ema_weights_are_the_evaluated_and_saved_ones(tmp_path):
    import torch

    cfg = TrainConfig(engine="torch", ema=0.9, **FAST)
    p = prepare(cfg)
    p.engine.bind(p.x_train, p.split.y_train)
    for k in range(5):
        p.engine.train_step(np.arange(64 * k, 64 * (k + 1)))
    raw, ema = p.engine.module.state_dict(), p.engine.model_state()
    assert not torch.equal(raw["1.weight"], ema["1.weight"])  # the average lags behind the weights
    s = p.engine.scores(p.x_val[:10])
    with torch.no_grad():
        direct = p.engine.ema.eval()(torch.from_numpy(p.x_val[:10])).numpy()
    np.testing.assert_allclose(s, direct, rtol=1e-5, atol=1e-6)


def test_bfloat16_autocast_on_the_cpu_trains(tmp_path):
    r = train(TrainConfig(engine="torch", amp=True, **FAST), run_dir=tmp_path / "r", progress=False)
    rows = read_metrics(tmp_path / "r" / "metrics.csv")
    assert rows[-1]["train_loss"] < rows[0]["train_loss"] and r["test_accuracy"] > 0.85


@pytest.mark.parametrize("engine", ["numpy", "torch"])
def test_linear_runs_plot_their_class_templates(tmp_path, engine):
    r = train(TrainConfig(engine=engine, **{**FAST, "model": "linear"}), run_dir=tmp_path / "r", progress=False)
    assert str(tmp_path / "r" / "plots" / "templates.png") in r["plots"]
    from PIL import Image

    Image.open(tmp_path / "r" / "plots" / "templates.png").verify()
