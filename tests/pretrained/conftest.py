"""Fixtures for imgclass.pretrained: the real model (loaded once) and small image files."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image


@pytest.fixture(scope="session")
def imagenet():
    """The pretrained EfficientNet-Lite0 predictor on the CPU (about 0.5 s to load; shared)."""
    from imgclass.pretrained.predict import ImageNetPredictor

    return ImageNetPredictor(device="cpu")


@pytest.fixture(scope="session")
def photos(tmp_path_factory):
    """scikit-image's real photos as files: the cat 'chelsea' (PNG) and the 'coffee' cup (JPEG)."""
    import skimage.data as data  # a test dependency (requirements-dev.txt)

    d = tmp_path_factory.mktemp("photos")
    Image.fromarray(data.chelsea()).save(d / "chelsea.png")
    Image.fromarray(data.coffee()).save(d / "coffee.jpg", quality=95)
    return d


class BrightnessPredictor:
    """A stand-in model (no torch): class 'bright' when the mean pixel exceeds 127, else 'dark'."""

    name = "brightness stub"
    class_names = ["dark", "bright"]

    def __init__(self, input_shape=(3, 16, 16), crop_fraction=None, resample="bilinear"):
        self.input_shape = input_shape
        self.crop_fraction = crop_fraction
        self.resample = resample
        self.calls = []

    def predict_proba(self, x):
        assert x.dtype == np.uint8 and x.shape[1:] == self.input_shape
        self.calls.append(len(x))
        p = x.reshape(len(x), -1).mean(axis=1) / 255.0
        return np.stack([1 - p, p], axis=1)


@pytest.fixture
def stub():
    return BrightnessPredictor()
