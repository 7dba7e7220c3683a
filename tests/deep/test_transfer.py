"""Transfer learning from the pretrained EfficientNet-Lite0: frozen means frozen, features are computed once."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from imgclass.deep import transfer
from imgclass.deep.transfer import BACKBONE_LR_SCALE, TransferNet
from imgclass.errors import ImgclassError
from imgclass.runs import load_model
from imgclass.train import TrainConfig
from imgclass.train.run import train

SMALL = dict(dataset="digits", model="efficientnet;size=32", epochs=2, batch_size=64)


def test_the_head_trains_on_cached_features_and_the_backbone_stays_imagenets(tmp_path, monkeypatch):
    calls = []
    real = transfer.feature_runner

    def counted(*args):
        run = real(*args)
        return lambda xb: calls.append(len(xb)) or run(xb)

    monkeypatch.setattr(transfer, "feature_runner", counted)
    first = train(TrainConfig(**SMALL), run_dir=tmp_path / "a", progress=False)
    # every train, val and test image once, and its mirror image once (the recipe's flips), never per step
    assert sum(calls) == 2 * (1213 + 135 + 449)
    assert len(list(transfer.cache_dir().glob("*.npy"))) == 6
    assert len(list(transfer.cache_dir().glob("*.onnx"))) == 1  # on the CPU the backbone runs in onnxruntime
    calls.clear()
    second = train(TrainConfig(**SMALL, seed=0), run_dir=tmp_path / "b", progress=False)
    assert calls == [] and second["test_accuracy"] == first["test_accuracy"]  # the cache, bit for bit
    model = load_model(tmp_path / "a")
    net = model.scorer.eval_module
    fresh = TransferNet(3, 10, size=32)
    for (name, a), b in zip(net.backbone.state_dict().items(), fresh.backbone.state_dict().values(), strict=True):
        assert torch.equal(a, b), name  # weights and batchnorm statistics: ImageNet's
    assert first["test_accuracy"] > 0.5  # chance is 0.1; 8x8 digits upscaled are far from ImageNet photos


def test_finetune_all_trains_every_layer_the_pretrained_ones_slower_with_imagenet_statistics(tmp_path):
    cfg = TrainConfig(**{**SMALL, "epochs": 1}, finetune="all", lr=1e-3)
    from imgclass.train.engines import build_engine

    engine = build_engine(cfg, (1, 8, 8), 10, total_steps=10)
    backbone = {id(p) for p in engine.module.backbone_parameters()}
    peak = {}  # the schedule's peak rate of each group, by (pretrained?, weight decay?)
    for g in engine.optimizer.param_groups:
        pretrained = {id(p) in backbone for p in g["params"]}
        assert len(pretrained) == 1  # a group is all pretrained or all new
        peak[(pretrained.pop(), g["weight_decay"] > 0)] = g["max_lr"]
    assert peak[(False, True)] == pytest.approx(1e-3) and peak[(True, True)] == pytest.approx(1e-3 * BACKBONE_LR_SCALE)
    assert peak[(True, False)] == pytest.approx(1e-3 * BACKBONE_LR_SCALE)
    before = {k: v.clone() for k, v in engine.module.backbone.state_dict().items()}
    r = train(cfg, run_dir=tmp_path / "all", progress=False)
    after = load_model(r["run_dir"]).scorer.eval_module.backbone.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before if k.endswith("weight"))
    assert all(torch.equal(before[k], after[k]) for k in before if k.endswith(("running_mean", "running_var")))


def test_finetune_last_trains_the_last_block_on_the_trunks_cached_maps(tmp_path, monkeypatch):
    """``last``: the trunk's maps are computed once per image and cached; the last block, the head conv and the
    classifier train on them (the pretrained two slower, with ImageNet's batchnorm statistics); the trunk stays
    ImageNet's, and the saved net scores images as the engine scored the cached maps."""
    from imgclass.train.engines import build_engine

    calls = []
    real = transfer.feature_runner
    monkeypatch.setattr(transfer, "feature_runner", lambda *a: (run := real(*a)) and (
        lambda xb: calls.append(len(xb)) or run(xb)))
    cfg = TrainConfig(**SMALL, finetune="last", lr=1e-3)
    engine = build_engine(cfg, (1, 8, 8), 10, total_steps=10)
    net = engine.module
    tail = {id(p) for p in net.tail_modules().parameters()}
    assert {id(p) for p in net.backbone_parameters()} == tail and tail
    assert all(not p.requires_grad for p in net.trunk_parameters()) and not tail & {id(p) for p in net.trunk_parameters()}
    trained = {id(p) for g in engine.optimizer.param_groups for p in g["params"]}
    assert tail <= trained and not trained & {id(p) for p in net.trunk_parameters()}
    for g in engine.optimizer.param_groups:
        assert g["max_lr"] == pytest.approx(1e-3 * (BACKBONE_LR_SCALE if {id(p) in tail for p in g["params"]} == {True}
                                                    else 1.0))
    assert net.feature_shape() == (192, 1, 1)  # a 32 px image is 1 x 1 after the trunk's strides

    first = train(cfg, run_dir=tmp_path / "a", progress=False)
    assert sum(calls) == 2 * (1213 + 135 + 449)  # every image and its mirror through the trunk once, not per step
    assert {np.load(f, mmap_mode="r").shape[1:] for f in transfer.cache_dir().glob("*.npy")} == {(192, 1, 1)}
    calls.clear()
    second = train(cfg, run_dir=tmp_path / "b", progress=False)
    assert calls == [] and second["test_accuracy"] == first["test_accuracy"]  # the trunk's key ignores the tail

    model = load_model(tmp_path / "a")
    after, fresh = model.scorer.eval_module.backbone.state_dict(), TransferNet(3, 10, size=32).backbone.state_dict()
    changed = {k for k in fresh if not torch.equal(after[k], fresh[k])}
    assert changed and all(k.startswith(("_blocks.15.", "_conv_head.", "_bn1.")) for k in changed)
    assert not any(k.endswith(("running_mean", "running_var")) for k in changed)
    assert first["test_accuracy"] > 0.3  # chance is 0.1: 2 epochs on 8x8 digits, 1 x 1 maps

    x = np.random.default_rng(0).random((20, 1, 8, 8), dtype=np.float32)
    cached = model.scorer.scores(x)  # the engine: the trunk's maps from the cache path, then the tail
    with torch.inference_mode():  # the whole net on the images and (the recipe's flip test-time view) their mirrors
        net = model.scorer.eval_module.eval()
        direct = ((net(torch.from_numpy(x)) + net(torch.from_numpy(x[..., ::-1].copy()))) / 2).numpy()
    np.testing.assert_allclose(cached, direct, atol=1e-4)


def test_a_transfer_run_resumes_predicts_and_explains_like_any_run(tmp_path, capsys):
    from PIL import Image

    from imgclass.cli import main

    run = tmp_path / "r"
    first = train(TrainConfig(**SMALL), run_dir=run, progress=False)
    (run / "results.json").unlink()
    assert train(resume=run, progress=False)["test_accuracy"] == first["test_accuracy"]
    Image.fromarray((np.arange(64).reshape(8, 8) * 4).astype(np.uint8)).save(tmp_path / "digit.png")
    assert main(["predict", str(tmp_path / "digit.png"), "--run", str(run), "--explain", str(tmp_path / "x")]) == 0
    assert (tmp_path / "x" / "digit-gradcam.png").is_file()


@pytest.mark.parametrize("kw, message", [
    (dict(model="cnn", pretrained=True), "pretrained weights exist for --model efficientnet-lite0 only"),
    (dict(model="efficientnet;size=16"), "size must be at least 32"),
    (dict(model="efficientnet-lite0", engine="numpy"), "only available on the torch engine"),
    (dict(model="efficientnet-lite0", finetune="some"), "finetune must be one of head, last, all"),
])
def test_bad_transfer_settings_are_clear_errors(kw, message):
    with pytest.raises(ImgclassError, match=message):
        TrainConfig(dataset="digits", **kw)


@pytest.mark.parametrize("size, finetune, shape", [(32, "head", (1280,)), (48, "head", (1280,)),
                                                    (64, "last", (192, 2, 2))])
def test_onnxruntime_features_equal_pytorchs(size, finetune, shape, rng):
    net = TransferNet(1, 3, size=size, finetune=finetune).eval()
    x = rng.random((5, 1, 20, 20), dtype=np.float32)
    fast = transfer.feature_runner(net, "cpu", (1, 20, 20))(x)
    with torch.inference_mode():
        ref = net.features(torch.from_numpy(x)).numpy()
    assert fast.shape == (5, *shape) == (5, *net.feature_shape()) and np.abs(fast - ref).max() < 1e-4
    (graph,) = transfer.cache_dir().glob("*.onnx")
    graph.write_bytes(b"damaged")  # a damaged graph on disk is exported again
    assert np.abs(transfer.feature_runner(net, "cpu", (1, 20, 20))(x) - ref).max() < 1e-4


@pytest.mark.parametrize("finetune", ["head", "last"])
def test_flips_of_a_frozen_backbone_train_on_the_mirrored_images_cached_features(finetune, rng, monkeypatch):
    """--flip keeps a frozen backbone on cached features: a flipped sample is its mirror image's features, and
    the steps equal those of running the backbone on the randomly flipped images themselves."""
    from imgclass.train.engines import build_engine

    calls = []
    real = transfer.feature_runner
    monkeypatch.setattr(transfer, "feature_runner", lambda *a: (run := real(*a)) and (
        lambda xb: calls.append(len(xb)) or run(xb)))
    x = rng.random((40, 3, 12, 12), dtype=np.float32)
    x[:, :, :, :6] *= 0.2  # images unlike their mirrors
    y = np.arange(40) % 4
    cfg = TrainConfig(dataset="digits", model="efficientnet;size=32;dropout=0", flip=True, lr=1e-2, batch_size=8,
                      finetune=finetune)
    weights = []
    for on_features in (True, False):
        torch.manual_seed(0)
        engine = build_engine(cfg, (3, 12, 12), 4, total_steps=5)
        assert engine.on_features
        engine.on_features = on_features  # False: the backbone runs on every (flipped) batch, as without a cache
        engine.bind(x, y)
        for step in range(5):
            engine.train_step(np.arange(step * 8, step * 8 + 8))
        weights.append(engine.module.fc.weight.detach().clone())
        if on_features:
            assert sum(calls) == 80  # each image and each mirror image once, not once per step
    assert not torch.allclose(weights[0], TransferNet(3, 4, size=32).fc.weight)
    torch.testing.assert_close(weights[0], weights[1], rtol=1e-3, atol=1e-5)


def test_the_validation_features_are_read_once_not_at_every_evaluation_point(tmp_path, monkeypatch):
    from imgclass.train import torch_engine

    reads = []
    real = torch_engine.cached_features
    monkeypatch.setattr(torch_engine, "cached_features",
                        lambda net, x, **kw: reads.append((len(x), kw["flip"])) or real(net, x, **kw))
    r = train(TrainConfig(**{**SMALL, "epochs": 3}, eval_points=3), run_dir=tmp_path / "r", progress=False)
    assert r["epochs_done"] == 3
    # train, val and test images and their mirrors: each read once, though val is scored at 3 points
    assert sorted(reads) == sorted((n, flip) for n in (1213, 135, 449) for flip in (False, True))


def test_a_head_with_a_hidden_layer_trains_on_the_cached_features_and_older_runs_load_as_one_layer(tmp_path):
    import json

    from torch import nn

    r = train(TrainConfig(**{**SMALL, "model": "efficientnet;size=32;hidden=24", "epochs": 4}), run_dir=tmp_path / "h",
              progress=False)
    model = load_model(tmp_path / "h")
    net = model.scorer.eval_module
    assert [tuple(m.weight.shape) for m in net.modules() if isinstance(m, nn.Linear)] == [(24, 1280), (10, 24)]
    assert model.config.model.hidden == (24,) and r["test_accuracy"] > 0.3  # ten digits: chance is 0.1

    # a run written before ``hidden`` existed has no such key: its classifier was one Linear layer
    train(TrainConfig(**{**SMALL, "model": "efficientnet;size=32;hidden="}), run_dir=tmp_path / "old", progress=False)
    cfg = json.loads((tmp_path / "old" / "config.json").read_text())
    assert cfg["model"].pop("hidden") == []
    (tmp_path / "old" / "config.json").write_text(json.dumps(cfg))
    old = load_model(tmp_path / "old")
    assert old.config.model.hidden == () and isinstance(old.scorer.eval_module.fc, nn.Linear)
    assert not any(isinstance(m, nn.Linear) for m in old.scorer.eval_module.hidden.modules())


def test_the_feature_cache_keeps_to_its_limit_and_drops_the_least_recently_used_first(rng, monkeypatch):
    import os

    net = TransferNet(3, 2, size=32, hidden=())
    xs = [rng.random((n, 3, 8, 8), dtype=np.float32) for n in (30, 20, 10)]
    for i, x in enumerate(xs):
        transfer.cached_features(net, x, device="cpu")
        (new,) = [f for f in transfer.cache_dir().glob("*.npy") if f.stat().st_mtime > 1e6]
        os.utime(new, (1000 + i, 1000 + i))  # written in this order, long ago
    transfer.cached_features(net, xs[0], device="cpu")  # a hit: the oldest file is now the most recently used
    # 30, 20, 10 and 5 images of 1280 float32 features: 153,728 + 102,528 + 51,328 + 25,728 bytes with the headers
    monkeypatch.setenv(transfer.CACHE_LIMIT_ENV, "0.00021")
    transfer.cached_features(net, rng.random((5, 3, 8, 8), dtype=np.float32), device="cpu")
    kept = sorted(len(np.load(f)) for f in transfer.cache_dir().glob("*.npy"))
    assert kept == [5, 30]  # the 20 and 10 went, least recently used first, until the cache fit 210,000 bytes

    monkeypatch.setenv(transfer.CACHE_LIMIT_ENV, "lots")
    with pytest.raises(ImgclassError, match="IMGCLASS_FEATURE_CACHE_GB must be a size in GB"):
        transfer.cached_features(net, xs[1], device="cpu")
