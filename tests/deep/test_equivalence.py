"""Both engines, one spec: same logits, loss and gradients in float64 (the architecture's promise)."""

import pytest

from imgclass.modelspec import ModelSpec
from tests.deep.engine_check import check_engines

# (spec, input shape, train mode). Dropout is random per engine, so models with dropout
# are compared in evaluation mode (batchnorm then uses the running statistics).
CASES = {
    "linear": (ModelSpec(kind="linear", init=0.5), (3, 4, 4), True),
    "linear-nobias": (ModelSpec(kind="linear", bias=False, init=0.5), (7,), True),
    "mlp": (ModelSpec(kind="mlp", hidden=(9, 8)), (10,), True),
    "mlp-nobias": (ModelSpec(kind="mlp", hidden=(9,), bias=False), (2, 3, 3), True),
    "mlp-bn-train": (ModelSpec(kind="mlp", hidden=(9, 8), batchnorm=True), (10,), True),
    "mlp-bn-dropout-eval": (ModelSpec(kind="mlp", hidden=(9, 8), batchnorm=True, dropout=0.3), (10,), False),
    "cnn-bn-train": (ModelSpec(kind="cnn", channels=(3, 4), fc=(6,), batchnorm=True), (2, 8, 8), True),
    "cnn-bn-nobias-dropout-eval": (ModelSpec(kind="cnn", channels=(3, 4), fc=(6,), batchnorm=True, bias=False,
                                             dropout=0.25), (2, 8, 8), False),
    "cnn-plain": (ModelSpec(kind="cnn", channels=(3, 4), fc=(6, 5), batchnorm=False), (3, 8, 8), True),
    "cnn-plain-nobias": (ModelSpec(kind="cnn", channels=(4,), fc=(), batchnorm=False, bias=False), (1, 6, 6), True),
    "cnn-kernel5": (ModelSpec(kind="cnn", channels=(3,), fc=(5,), kernel=5), (2, 7, 7), True),
}
LOSSES = [("softmax", "sum"), ("hinge", "sum"), ("hinge", "classes")]


@pytest.mark.parametrize("loss,average", LOSSES, ids=["softmax", "hinge-sum", "hinge-classes"])
@pytest.mark.parametrize("case", list(CASES))
def test_same_logits_loss_and_gradients_on_both_engines(case, loss, average):
    spec, in_shape, train = CASES[case]
    errors = check_engines(spec, in_shape, loss=loss, hinge_average=average, reg=0.3, train=train)
    assert errors["logits"] < 1e-12 and any(k.startswith("d") for k in errors)


def test_l2_is_on_weights_only_and_matches_without_regularization_too():
    spec = ModelSpec(kind="cnn", channels=(3,), fc=(4,), batchnorm=True)
    for reg in (0.0, 1.5):
        check_engines(spec, (1, 6, 6), reg=reg, seed=3)


def test_batchnorm_running_statistics_agree_after_training_passes():
    errors = check_engines(ModelSpec(kind="cnn", channels=(3,), fc=(), batchnorm=True), (2, 6, 6), n=4)
    assert {"1.running_mean", "1.running_var"} <= set(errors)
