"""Recipes live in the library: TrainConfig resolves them, so Python and the command line train the same model."""

import pytest

from imgclass.cli import get_parser, main
from imgclass.modelspec import ModelSpec
from imgclass.train import recipes
from imgclass.train.cli import config_from_args
from imgclass.train.config import TrainConfig
from imgclass.train.run import train


def cli_config(*argv: str) -> TrainConfig:
    return config_from_args(get_parser().parse_args(["train", *argv]))


@pytest.mark.parametrize("argv, python", [
    (["--dataset", "fashion-mnist", "--model", "cnn"], dict(dataset="fashion-mnist", model="cnn")),
    (["--dataset", "fashion", "--model", "cnn:16,32"], dict(dataset="fashion", model="cnn:16,32")),
    (["--dataset", "cifar10", "--model", "resnet20"], dict(dataset="cifar10", model="resnet20")),
    (["--dataset", "cifar10", "--model", "cifar-classic", "--lr", "0.01"],
     dict(dataset="cifar10", model="cifar-classic", lr=0.01)),
    (["--dataset", "fashion-mnist", "--engine", "numpy", "--model", "twolayer"],
     dict(dataset="fashion-mnist", engine="numpy", model="twolayer")),
    (["--recipe", "overfit", "--dataset", "fashion-mnist"], dict(recipe="overfit", dataset="fashion-mnist")),
    (["--dataset", "cifar10"], dict(dataset="cifar10")),
    (["--dataset", "cifar10", "--engine", "numpy"], dict(dataset="cifar10", engine="numpy")),
    (["--dataset", "cifar10", "--recipe", "numpy-cnn"], dict(dataset="cifar10", recipe="numpy-cnn")),
    (["--model", "efficientnet-lite0", "--finetune", "all"], dict(model="efficientnet-lite0", finetune="all")),
    ([], {}),
])
def test_python_and_the_command_line_resolve_the_same_config(argv, python):
    assert cli_config(*argv) == TrainConfig(**python)


def test_python_and_the_command_line_train_the_same_model(tmp_path, capsys):
    import json

    assert main(["train", "--model", "mlp:16", "--epochs", "2", "--threads", "1", "--out", str(tmp_path / "cli"),
                 "--no-progress", "--json"]) == 0
    cli = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    py = train(TrainConfig(model="mlp:16", epochs=2, threads=1), out_root=tmp_path / "py", progress=False)
    for key in ("test_accuracy", "val_accuracy", "train_loss", "hyperparameters", "model"):
        assert cli[key] == py[key], key


def test_presets_get_their_kinds_recipe():
    resnet = TrainConfig(dataset="fashion-mnist", model="resnet20")
    assert resnet.kind == "resnet" and resnet.model == ModelSpec.parse("resnet20")
    for name, value in {**recipes.KIND["resnet"], **recipes.DATASET[("resnet", "fashion-mnist")]}.items():
        assert getattr(resnet, name) == value, name
    # the ResNet recipe tuned on CIFAR-10 (benchmarks/cifar10_assignments.py --only resnet) for --model resnet
    # and the preset alike; the kind's settings it does not name stay
    for model in ("resnet", "resnet20"):
        on_cifar = TrainConfig(dataset="cifar10", model=model)
        for name, value in {**recipes.KIND["resnet"], **recipes.DATASET[("resnet", "cifar10")]}.items():
            assert getattr(on_cifar, name) == value, (model, name)
        assert cli_config("--dataset", "cifar10", "--model", model) == on_cifar
    assert TrainConfig(dataset="cifar10", model="resnet").epochs == 20 != recipes.KIND["resnet"]["epochs"]
    classic = TrainConfig(dataset="cifar10", model="cifar-classic")
    assert classic.kind == "cnn"
    for name, value in {**recipes.KIND["cnn"], **recipes.DATASET[("cnn", "cifar10")]}.items():
        assert getattr(classic, name) == value, name


def test_training_a_pretrained_net_whole_takes_its_fine_tuning_recipe():
    head = TrainConfig(model="efficientnet-lite0")
    whole = TrainConfig(model="efficientnet-lite0", finetune="all")
    assert head.finetune == "head" and head.epochs == recipes.KIND["efficientnet"]["epochs"]
    assert whole.epochs == recipes.FINETUNING[("efficientnet", "all")]["epochs"] != head.epochs
    assert whole.flip == head.flip and whole.lr == head.lr  # the rest is the kind's
    assert TrainConfig(model="efficientnet-lite0", finetune="all", epochs=2).epochs == 2  # a value given wins


def test_a_flag_or_argument_given_wins_and_the_numpy_engine_leaves_out_torch_settings():
    cfg = TrainConfig(dataset="fashion-mnist", model="cnn", epochs=3, flip=False)
    assert cfg.epochs == 3 and cfg.flip is False and cfg.tta_flip is True  # the rest from the recipe
    numpy = TrainConfig(dataset="fashion-mnist", model="cnn", engine="numpy")
    assert not numpy.flip and not numpy.amp and numpy.ema == 0 and numpy.epochs == 4  # (cnn, fashion, numpy)
    assert TrainConfig(dataset="digits", model="cnn").flip is False  # digits are not mirror-symmetric


def test_a_named_recipe_sets_its_model_and_engine_and_flags_still_win():
    cfg = TrainConfig(recipe="overfit", dataset="fashion-mnist")
    assert (cfg.engine, str(cfg.model).split(";")[0], cfg.train_fraction) == ("numpy", "mlp:100", 0.01)
    assert TrainConfig(recipe="overfit", dataset="fashion-mnist", epochs=3).epochs == 3
    with pytest.raises(Exception, match="unknown recipe"):
        TrainConfig(recipe="nope")


def test_model_is_parsed_once_and_a_stored_config_takes_nothing_from_the_recipes():
    cfg = TrainConfig(dataset="fashion-mnist", model="cnn:16,32;bn")
    assert isinstance(cfg.model, ModelSpec)
    again = TrainConfig.from_dict(cfg.to_dict())
    assert again == cfg and isinstance(again.to_dict()["model"], dict)
    old = {k: v for k, v in cfg.to_dict().items() if k not in ("recipe", "ema")}  # written by an older imgclass
    assert TrainConfig.from_dict(old).ema == recipes.BASE["ema"]  # the plain default, not the recipe's 0.999


def test_the_default_model_on_cifar10_is_the_fast_net_with_its_recipe():
    cfg = TrainConfig(dataset="cifar10")
    assert cfg.model == ModelSpec.parse(recipes.MODEL[("cifar10", "torch")]) and cfg.kind == "fast"
    assert all(getattr(cfg, name) == value for name, value in recipes.KIND["fast"].items())
    assert TrainConfig(dataset="cifar10", model="cnn").model == ModelSpec.parse("cnn")  # a model given wins
    assert TrainConfig(dataset="cifar10", engine="numpy").kind == "cnn"  # the numpy engine has no fast net
    assert TrainConfig(dataset="fashion-mnist").kind == "cnn"


def test_help_is_generated_from_the_recipe_table(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    for kind in recipes.KIND:
        assert f"{kind} {recipes._row(recipes.KIND[kind])}" in out
    for key, values in recipes.DATASET.items():
        assert " on ".join(key[:2]) in out and recipes._row(values) in out
    for (kind, mode), values in recipes.FINETUNING.items():
        assert f"{kind} --finetune {mode} {recipes._row(values)}" in out
    for name in recipes.NAMED:
        assert f"--recipe {name}" in out
    for (dataset, engine), model in recipes.MODEL.items():
        assert f"default model on {dataset} ({engine}): {model}" in out


@pytest.mark.slow
@pytest.mark.realdata
def test_the_numpy_two_layer_recipe_reaches_87_percent_on_fashion_mnist(tmp_path):
    from tests.conftest import require_fashion_mnist

    require_fashion_mnist()
    r = train(TrainConfig(dataset="fashion-mnist", engine="numpy", model="twolayer"), out_root=tmp_path,
              progress=False)
    assert r["test_accuracy"] >= 0.87, r


@pytest.mark.slow
@pytest.mark.realdata
def test_the_overfitting_recipe_memorizes_a_small_subset(tmp_path):
    """cs231n's sanity check: a small net memorizes 550 images (timing is reported by
    benchmarks/numpy_fashion.py, never asserted in a test)."""
    from tests.conftest import require_fashion_mnist

    require_fashion_mnist()
    r = train(TrainConfig(dataset="fashion-mnist", recipe="overfit"), out_root=tmp_path, progress=False)
    assert r["train_size"] == 550 and r["train_accuracy"] >= 0.80, r
    assert r["test_accuracy"] < r["train_accuracy"]  # memorized, not generalized
