"""The split of a run is rebuilt from its config in one place, the same for train and linear configs."""

import numpy as np

from imgclass.data import load, make_split
from imgclass.linear.config import LinearConfig
from imgclass.runs import rebuild_split
from imgclass.train import TrainConfig


def test_a_train_config_rebuilds_the_split_it_trained_on():
    cfg = TrainConfig(val=200, seed=3, train_fraction=0.5)
    got, want = rebuild_split(cfg), make_split(load("digits"), val=200, seed=3, train_fraction=0.5)
    for part in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(got, part), getattr(want, part))


def test_a_linear_config_rebuilds_the_same_split_for_the_same_settings():
    a = rebuild_split(LinearConfig(val=0.2, seed=1, data_options={"test_fraction": 0.3}))
    b = rebuild_split(TrainConfig(val=0.2, seed=1, data_options={"test_fraction": 0.3}))
    np.testing.assert_array_equal(a.y_val, b.y_val)
    assert a.sizes() == b.sizes() and a.sizes()["test"] == round(0.3 * 1797)
