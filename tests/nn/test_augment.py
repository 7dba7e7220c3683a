"""The NumPy engine's batch augmentation: flips and padded crops equal to a per-sample loop, seeded, resumable."""

import numpy as np
import pytest

from imgclass.errors import ImgclassError
from imgclass.nn.augment import Augment, random_crop, random_flip


def test_flip_mirrors_exactly_the_drawn_samples():
    x = np.arange(4 * 2 * 3 * 5, dtype=np.float32).reshape(4, 2, 3, 5)
    rng = np.random.default_rng(7)
    out = random_flip(x, rng)
    drawn = np.random.default_rng(7).random(4) < 0.5
    for i in range(4):
        np.testing.assert_array_equal(out[i], x[i, :, :, ::-1] if drawn[i] else x[i])


def test_crop_is_a_window_of_the_reflect_padded_image():
    x = np.random.default_rng(0).standard_normal((6, 3, 8, 7)).astype(np.float32)
    out = random_crop(x, 2, np.random.default_rng(3))
    off = np.random.default_rng(3).integers(0, 5, size=(2, 6))
    for i in range(6):
        padded = np.pad(x[i], ((0, 0), (2, 2), (2, 2)), mode="reflect")
        np.testing.assert_array_equal(out[i], padded[:, off[0, i]:off[0, i] + 8, off[1, i]:off[1, i] + 7])
    assert out.dtype == x.dtype and out.shape == x.shape


def test_the_generator_state_replays_the_same_batches():
    x = np.random.default_rng(1).standard_normal((16, 1, 6, 6))
    a = Augment(crop_padding=1, flip=True, seed=5)
    a(x)
    state = a.state_dict()
    first = a(x)
    b = Augment(crop_padding=1, flip=True, seed=99)
    b.load_state_dict(state)
    np.testing.assert_array_equal(b(x), first)


def test_bad_input_is_a_clear_error():
    with pytest.raises(ImgclassError, match="images"):
        Augment(flip=True)(np.zeros((4, 10)))
    with pytest.raises(ImgclassError, match="larger than"):
        random_crop(np.zeros((1, 1, 2, 2)), 2, np.random.default_rng(0))
