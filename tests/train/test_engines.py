"""Both engines behind the Engine protocol: the same schedules, losses, clipping, EMA, mixed precision, weights."""

import math

import numpy as np
import pytest
import torch

from imgclass.train import TrainConfig
from imgclass.train.callbacks import read_metrics
from imgclass.train.engines import Engine, NumpyEngine, build_engine
from imgclass.train.run import prepare, train

FAST = dict(dataset="digits", model="mlp:32", epochs=3, batch_size=64, lr=1e-2)


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
def test_both_engines_follow_the_protocol_the_run_uses(engine):
    p = prepare(TrainConfig(engine=engine, **FAST))
    assert isinstance(p.engine, Engine) and p.engine.name == engine
    assert str(p.engine.device) == "cpu" and p.engine.weights_file == f"model.{'npz' if engine == 'numpy' else 'pt'}"
    assert p.engine.num_parameters() == 8 * 8 * 32 + 32 + 32 * 10 + 10  # mlp:32 on 8x8 digits, 10 classes


def test_the_same_spec_and_seed_give_both_engines_the_same_start():
    np_engine, torch_engine = (prepare(TrainConfig(engine=e, **FAST)).engine for e in ("numpy", "torch"))
    assert isinstance(np_engine, NumpyEngine) and np_engine.num_parameters() == torch_engine.num_parameters()
    x = prepare(TrainConfig(engine="numpy", **FAST)).x_val[:20]
    np.testing.assert_allclose(np_engine.scores(x), torch_engine.scores(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("engine", ["numpy", "torch"])
def test_saved_weights_load_into_a_fresh_engine_with_the_same_scores(tmp_path, engine):
    cfg = TrainConfig(engine=engine, **FAST)
    p = prepare(cfg)
    p.engine.bind(p.x_train, p.split.y_train)
    for k in range(3):
        p.engine.train_step(np.arange(64 * k, 64 * (k + 1)))
    path = p.engine.save_weights(tmp_path / p.engine.weights_file)
    fresh = build_engine(cfg, p.x_train.shape[1:], 10, total_steps=1)
    assert not np.allclose(fresh.scores(p.x_val), p.engine.scores(p.x_val))
    fresh.load_weights(path)
    np.testing.assert_array_equal(fresh.scores(p.x_val), p.engine.scores(p.x_val))


def test_the_torch_engine_takes_its_precision_and_layout_rules_from_deep_device():
    from imgclass.deep import device

    cpu = prepare(TrainConfig(engine="torch", **FAST)).engine
    assert cpu.amp is None and not cpu.scaler.is_enabled() and not cpu.channels_last
    bf16 = prepare(TrainConfig(engine="torch", amp=True, **{**FAST, "model": "cnn:8;fc=16"})).engine
    assert bf16.amp is torch.bfloat16 == device.amp_dtype("cpu", True) and not bf16.scaler.is_enabled()
    nhwc = prepare(TrainConfig(engine="torch", channels_last=True, **{**FAST, "model": "cnn:8,16;fc=16"})).engine
    assert nhwc.channels_last and device.is_channels_last(nhwc.module)


def test_the_numpy_engine_augments_training_batches_and_averages_mirrored_test_scores():
    cfg = TrainConfig(engine="numpy", flip=True, crop_padding=1, tta_flip=True, **{**FAST, "model": "cnn:4;fc=8"})
    p = prepare(cfg)
    assert p.engine.augment.active
    x = p.x_val[:8]
    plain = p.engine.model.predict_scores(x)
    mirrored = p.engine.model.predict_scores(np.ascontiguousarray(x[..., ::-1]))
    np.testing.assert_allclose(p.engine.scores(x), (plain + mirrored) / 2, rtol=1e-5, atol=1e-6)


def test_muon_takes_the_conv_filter_banks_and_nesterov_sgd_the_rest():
    cfg = TrainConfig(engine="torch", optimizer="muon", muon_lr=0.05, norm_lr_scale=8.0,
                      **{**FAST, "model": "cnn:4,8;fc=16"})
    engine = prepare(cfg).engine
    sgd, muon = engine.optimizers
    filters = [p for p in engine.module.parameters() if p.ndim == 4]
    assert [id(p) for p in muon.param_groups[0]["params"]] == [id(p) for p in filters]
    assert sgd.param_groups[0]["nesterov"] and all(p.ndim < 4 for g in sgd.param_groups for p in g["params"])
    assert sgd.param_groups[1]["lr"] == pytest.approx(8.0 * sgd.param_groups[0]["lr"])  # biases and batchnorm


def test_progressive_resizing_trains_the_first_steps_on_smaller_images(tmp_path):
    sizes = []
    cfg = TrainConfig(engine="torch", progressive="6:0.5", **{**FAST, "model": "resnet:1;widths=4", "epochs": 2})
    p = prepare(cfg)
    p.engine.module.register_forward_pre_hook(lambda m, args: sizes.append(tuple(args[0].shape[2:])))
    p.engine.bind(p.x_train, p.split.y_train)
    steps = p.engine.total_steps
    for k in range(steps):
        p.engine.train_step(np.arange(64 * (k % 10), 64 * (k % 10 + 1)))
    assert sizes == [(6, 6)] * (steps // 2 + steps % 2) + [(8, 8)] * (steps // 2)


def test_shifted_test_views_are_averaged_with_the_weights_of_the_recipe():
    import torch.nn.functional as F

    cfg = TrainConfig(engine="torch", tta_flip=True, tta_shift=True, **{**FAST, "model": "cnn:4;fc=8"})
    p = prepare(cfg)
    x = torch.from_numpy(p.x_val[:5])
    net = p.engine.module.eval()
    with torch.no_grad():
        both = lambda z: (net(z) + net(z.flip(3))) / 2  # noqa: E731
        pad = F.pad(x, (1, 1, 1, 1), mode="reflect")
        expected = both(x) / 2 + both(pad[:, :, :-2, :-2]) / 4 + both(pad[:, :, 2:, 2:]) / 4
    np.testing.assert_allclose(p.engine.scores(p.x_val[:5]), expected.numpy(), rtol=1e-5, atol=1e-6)


def test_the_fast_recipe_options_are_refused_on_the_numpy_engine():
    from imgclass.errors import ImgclassError

    for bad in (dict(optimizer="muon"), dict(schedule="triangle"), dict(lookahead=True), dict(tta_shift=True),
                dict(norm_lr_scale=2.0)):
        with pytest.raises(ImgclassError, match="numpy engine does not support"):
            TrainConfig(engine="numpy", **FAST, **bad)
    with pytest.raises(ImgclassError, match="SIZE:FRACTION"):
        TrainConfig(progressive="24")
    with pytest.raises(ImgclassError, match="pools globally"):
        TrainConfig(model="cnn", progressive="24:0.5")
