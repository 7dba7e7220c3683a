"""The minimal NumPy training loop on real data (the bundled digits)."""

import numpy as np
import pytest

from imgclass.data import Preprocessor, load, make_split
from imgclass.errors import ImgclassError
from imgclass.nn.loop import fit
from imgclass.nn.models import CNN, TwoLayerNet
from imgclass.nn.optim import SGD, Adam
from imgclass.nn.schedules import OneCycleLR


@pytest.fixture(scope="module")
def digits():
    split = make_split(load("digits"), val=0.15, seed=0)
    return split


def test_two_layer_net_learns_digits(digits):
    pre = Preprocessor(normalize="pixel", flatten=True).fit(digits.x_train)
    xtr, xval = pre.transform(digits.x_train), pre.transform(digits.x_val)
    model = TwoLayerNet(64, 64, 10, weight_scale="he", reg=1e-4, dtype=np.float32)
    opt = Adam(model.parameters(), lr=3e-3)
    history = fit(model, opt, xtr, digits.y_train, epochs=15, batch_size=32, x_val=xval, y_val=digits.y_val,
                  progress=False)
    assert len(history) == 15 and history[-1]["loss"] < history[0]["loss"] / 3
    assert history[-1]["val_acc"] >= 0.93
    assert model.accuracy(pre.transform(digits.x_test), digits.y_test) >= 0.93


def test_small_cnn_learns_digits_with_one_cycle(digits):
    pre = Preprocessor(normalize="channel").fit(digits.x_train)
    xtr, xval = pre.transform(digits.x_train), pre.transform(digits.x_val)
    model = CNN((1, 8, 8), 10, channels=(8,), fc=(32,), seed=0)
    opt = SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True)
    sched = OneCycleLR(opt, max_lr=0.05, total_steps=6 * -(-len(xtr) // 64))
    history = fit(model, opt, xtr, digits.y_train, epochs=6, batch_size=64, x_val=xval, y_val=digits.y_val,
                  schedule=sched, progress=False)
    assert history[-1]["val_acc"] >= 0.9


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the overflow is the point of the test
def test_diverging_loss_stops_with_a_clear_message(digits):
    pre = Preprocessor(normalize="pixel", flatten=True, dtype="float32").fit(digits.x_train)
    model = TwoLayerNet(64, 32, 10, weight_scale=1.0, dtype=np.float32)
    opt = SGD(model.parameters(), lr=1e6)
    with pytest.raises(ImgclassError, match="lower the learning rate"):
        fit(model, opt, pre.transform(digits.x_train), digits.y_train, epochs=3, batch_size=32, progress=False)
