"""Fixtures of the linear tests."""

import pytest

from imgclass.data import Preprocessor, load, make_split


@pytest.fixture(scope="module")
def sweep_digits():
    """Digits features for the sweep tests: (x_train, y_train, x_val, y_val), bias column, float64."""
    s = make_split(load("digits"), val=0.2, seed=0)
    pre = Preprocessor(normalize="pixel", flatten=True, bias=True, dtype="float64").fit(s.x_train)
    return pre.transform(s.x_train), s.y_train, pre.transform(s.x_val), s.y_val
