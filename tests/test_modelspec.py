"""ModelSpec: defaults, validation, dict and text forms, presets, and the NumPy build.

(The spec is engine-neutral, src/imgclass/modelspec.py; its tests live with the engine
that introduced it.)
"""

import json

import numpy as np
import pytest

from imgclass.errors import ImgclassError
from imgclass.modelspec import KIND_DEFAULTS, PRESETS, ModelSpec, build_numpy
from imgclass.nn.models import CNN, MLP, LinearClassifier


def test_defaults_per_kind():
    assert ModelSpec(kind="cnn").channels == (32, 64) and ModelSpec(kind="cnn").batchnorm
    assert ModelSpec(kind="mlp").hidden == (256,) and ModelSpec(kind="mlp").channels == ()
    assert ModelSpec(kind="linear").init == 1e-3
    assert ModelSpec(kind="resnet").blocks == (1, 1, 1)
    for kind, defaults in KIND_DEFAULTS.items():
        assert set(ModelSpec(kind=kind).to_dict()) == {"kind", *defaults}


@pytest.mark.parametrize("d, message", [
    ({"kind": "cnn", "chanels": [8]}, "unknown model option"),
    ({"channels": [8]}, "needs a 'kind'"),
    ({"kind": "transformer"}, "model kind must be one of"),
    ({"kind": "mlp", "channels": [8]}, "does not apply to mlp"),
    ({"kind": "linear", "dropout": 0.5}, "does not apply to linear"),
    ({"kind": "cnn", "dropout": 1.0}, "dropout"),
    ({"kind": "cnn", "kernel": 4}, "odd"),
    ({"kind": "mlp", "hidden": [8, 0]}, "positive integer"),
    ({"kind": "mlp", "hidden": [8.5]}, "positive integer"),
    ({"kind": "mlp", "batchnorm": "maybe"}, "true or false"),
    ({"kind": "cnn", "init": "orthogonal"}, "init"),
    ({"kind": "resnet", "blocks": [1, 1], "widths": [8, 16, 32]}, "one width per stage"),
])
def test_bad_descriptions_raise_with_the_reason(d, message):
    with pytest.raises(ImgclassError, match=message):
        ModelSpec.from_dict(d)


def test_dict_round_trip_through_json():
    for spec in PRESETS.values():
        assert ModelSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec


def test_text_form():
    spec = ModelSpec.parse("cnn:32,64;fc=128;bn;dropout=0.25")
    assert spec == ModelSpec(kind="cnn", channels=(32, 64), fc=(128,), batchnorm=True, dropout=0.25)
    assert ModelSpec.parse("mlp:512, 256;dropout=0.5").hidden == (512, 256)
    assert ModelSpec.parse("linear;nobias").bias is False
    assert ModelSpec.parse("cnn;nobn;fc=").fc == () and not ModelSpec.parse("cnn;nobn").batchnorm
    assert ModelSpec.parse("resnet:3,3,3;widths=8,16,32").widths == (8, 16, 32)
    assert ModelSpec.parse("mlp") == ModelSpec(kind="mlp")  # a bare kind is its defaults, never a preset
    assert ModelSpec.parse("cifar-classic") is PRESETS["cifar-classic"]
    for spec in PRESETS.values():
        assert ModelSpec.parse(spec.to_text()) == spec
    with pytest.raises(ImgclassError, match="bad model description 'cnn:32;colour=red'"):
        ModelSpec.parse("cnn:32;colour=red")
    with pytest.raises(ImgclassError, match="takes no list"):
        ModelSpec.parse("linear:10")


def test_a_preset_takes_options_on_top():
    classic = PRESETS["cifar-classic"]
    assert ModelSpec.parse("cifar-classic;bn;nobias") == ModelSpec.from_dict(
        {**classic.to_dict(), "batchnorm": True, "bias": False})
    assert ModelSpec.parse("efficientnet-lite0;size=224") == ModelSpec(kind="efficientnet", size=224)
    with pytest.raises(ImgclassError, match="takes no list after ':'"):
        ModelSpec.parse("cifar-classic:16,32")
    with pytest.raises(ImgclassError, match="'widths' does not apply to cnn models"):
        ModelSpec.parse("cifar-classic;widths=8")


def test_cifar_classic_is_three_conv_relu_pool_blocks_and_two_affine_layers():
    net = build_numpy(PRESETS["cifar-classic"], (3, 32, 32), 10).net
    kinds = [type(layer).__name__ for layer in net.layers]
    assert kinds == ["Conv2d", "ReLU", "MaxPool2d"] * 3 + ["Flatten", "Dropout", "Linear", "ReLU", "Dropout", "Linear"]


def test_build_numpy_uses_the_engine_classes():
    assert isinstance(build_numpy(ModelSpec(kind="linear"), (3, 8, 8), 4), LinearClassifier)
    assert isinstance(build_numpy(ModelSpec(kind="mlp"), (12,), 4), MLP)
    model = build_numpy(ModelSpec(kind="cnn", channels=(4,), fc=()), (1, 8, 8), 4, loss="hinge", reg=0.1, seed=2)
    assert isinstance(model, CNN) and model.loss_name == "hinge" and model.reg == 0.1
    assert model.parameters()[0].value.dtype == np.float32


@pytest.mark.parametrize("spec, shape", [
    (ModelSpec(kind="linear"), (6,)),
    (ModelSpec(kind="mlp", hidden=(5, 4), batchnorm=True), (6,)),
    (ModelSpec(kind="cnn", channels=(3, 4), fc=(5,), batchnorm=False), (2, 8, 8)),
])
def test_bias_off_removes_every_bias_and_changes_nothing_else(spec, shape):
    with_bias = build_numpy(spec, shape, 3, seed=5, dtype=np.float64)
    without = build_numpy(ModelSpec.from_dict({**spec.to_dict(), "bias": False}), shape, 3, seed=5, dtype=np.float64)
    a, b = with_bias.state_dict(), without.state_dict()
    assert not any(k.endswith(".b") for k in b)
    assert {k: v for k, v in a.items() if not k.endswith(".b")}.keys() == b.keys()
    assert all(np.array_equal(a[k], b[k]) for k in b)
    x = np.random.default_rng(0).standard_normal((4, *shape))
    without.loss(x, np.arange(4) % 3)  # forward and backward run without biases
    assert not any(p.name.endswith(".b") for p in without.parameters())


def test_build_numpy_errors():
    with pytest.raises(ImgclassError, match="only available on the torch engine"):
        build_numpy(ModelSpec(kind="resnet"), (3, 32, 32), 10)
    with pytest.raises(ImgclassError, match="needs images"):
        build_numpy(ModelSpec(kind="cnn"), (784,), 10)
    with pytest.raises(ImgclassError, match="expected a ModelSpec"):
        build_numpy({"kind": "cnn"}, (1, 28, 28), 10)
    with pytest.raises(ImgclassError, match="halve"):
        build_numpy(ModelSpec(kind="cnn", channels=(4, 4, 4)), (1, 4, 4), 10)
