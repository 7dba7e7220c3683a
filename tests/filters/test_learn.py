"""Learning a filter bank back from its outputs through the engine's conv backward."""

from __future__ import annotations

import numpy as np
import pytest

from imgclass.errors import ImgclassError
from imgclass.filters import learn_filter_bank, load_weights, save_learning


@pytest.fixture(scope="module")
def default_run():
    return learn_filter_bank(seed=0)  # sgd, 60 steps, 20x3x5x5 on 100 noise images: < 1 s


def test_default_run_recovers_the_weights_and_the_outputs(default_run):
    r = default_run
    assert r.w_true.shape == r.w_learned.shape == (20, 3, 5, 5) and r.n_images == 100
    assert r.weight_rel < 1e-10 and r.output_rel < 1e-10
    assert r.weight_l2 == pytest.approx(np.linalg.norm(r.w_learned - r.w_true))
    assert r.identifiable
    assert r.loss_history.shape == (61,) and r.loss_history[-1] < 1e-20 * r.loss_history[0]


def test_initial_weights_are_uniform_in_minus_one_one(default_run):
    w = default_run.w_init
    assert w.min() >= -1 and w.max() <= 1 and w.std() == pytest.approx(1 / np.sqrt(3), rel=0.1)
    assert np.linalg.norm(w - default_run.w_true) > 0.5 * np.linalg.norm(default_run.w_true)  # far at the start


def test_adam_recovers_the_weights_too():
    r = learn_filter_bank(seed=1, optimizer="adam", steps=150)  # measured: relative errors 3.2e-4
    assert r.lr == 0.1 and r.weight_rel < 1e-3 and r.output_rel < 1e-3
    assert r.loss_history[-1] < 1e-6 * r.loss_history[0]


def test_given_weights_are_the_target_and_do_not_change_the_images_or_the_init(default_run, rng):
    w = rng.standard_normal((20, 3, 5, 5)) * 0.3
    r = learn_filter_bank(w, seed=0)
    np.testing.assert_array_equal(r.w_true, w)
    np.testing.assert_array_equal(r.w_init, default_run.w_init)  # separate random streams
    assert r.weight_rel < 1e-10


def test_other_bank_shapes(rng):
    r = learn_filter_bank(rng.standard_normal((4, 1, 3, 3)), n_images=10, image_size=8, steps=60)
    # the default step: F / (λmax + λmin) of the 360 noise patches' second moments, about F / 2 = 2.0
    assert r.w_learned.shape == (4, 1, 3, 3) and r.lr == pytest.approx(2.0, rel=0.1) and r.weight_rel < 1e-8


def test_same_seed_same_run_other_seed_other_bank(default_run):
    again = learn_filter_bank(seed=0, steps=5)
    np.testing.assert_array_equal(again.w_true, default_run.w_true)
    np.testing.assert_array_equal(again.loss_history, default_run.loss_history[:6])
    assert not np.array_equal(learn_filter_bank(seed=1, steps=0).w_true, default_run.w_true)


def test_too_few_output_pixels_is_flagged_not_identifiable():
    r = learn_filter_bank(n_images=1, image_size=5, steps=20, lr=0.1)  # 1 output pixel per filter, 75 weights
    assert not r.identifiable
    assert r.output_rel < 1e-6  # the outputs still match


@pytest.mark.parametrize("n_images, image_size", [(1, 8), (2, 6), (5, 8)])
def test_the_default_step_converges_on_a_few_small_images(n_images, image_size):
    # F/2 suits many noise patches; on these few it diverged within 12 steps (their patches' curvature is larger)
    r = learn_filter_bank(n_images=n_images, image_size=image_size, steps=200)
    assert r.loss_history[-1] < 1e-4 * r.loss_history[0]


def test_divergence_is_a_clear_error():
    with pytest.raises(ImgclassError, match="diverged.*smaller --lr"):
        learn_filter_bank(lr=40.0, steps=30)


@pytest.mark.parametrize("kwargs,match", [
    ({"optimizer": "lbfgs"}, "unknown optimizer"),
    ({"steps": -1}, "steps must be"),
    ({"n_images": 0}, "n_images must be"),
    ({"image_size": 4}, "smaller than the 5x5 filters"),
    ({"seed": 1.5}, "seed must be"),
])
def test_bad_arguments_are_clear_errors(kwargs, match):
    with pytest.raises(ImgclassError, match=match):
        learn_filter_bank(**kwargs)


def test_load_weights(tmp_path, rng):
    w = rng.standard_normal((20, 3, 5, 5)).astype(np.float32)
    np.save(tmp_path / "w.npy", w)
    out = load_weights(tmp_path / "w.npy")
    assert out.dtype == np.float64 and np.array_equal(out, w)


@pytest.mark.parametrize("make,match", [
    (None, "not found"),
    (lambda p: p.write_text("not numpy"), "not a .npy"),
    (lambda p: np.save(p, np.zeros((3, 5, 5)) + 1), "must have shape"),
    (lambda p: np.save(p, np.full((2, 3, 5, 5), np.nan)), "NaN"),
    (lambda p: np.save(p, np.zeros((2, 3, 5, 5))), "all zeros"),
    (lambda p: np.save(p, np.array([["a"]])), "real numbers"),
    (lambda p: np.save(p, np.array([{"w": 1}], dtype=object)), "not a .npy"),
])
def test_unusable_weight_files_are_clear_errors(tmp_path, make, match):
    path = tmp_path / "w.npy"
    if make is not None:
        make(path)
    with pytest.raises(ImgclassError, match=match):
        load_weights(path)


def test_npz_is_refused_with_advice(tmp_path):
    np.savez(tmp_path / "w.npz", w=np.ones((2, 3, 5, 5)))
    with pytest.raises(ImgclassError, match="several arrays"):
        load_weights(tmp_path / "w.npz")


def test_save_learning_writes_pictures_and_weights(tmp_path, default_run):
    paths = save_learning(default_run, tmp_path / "run")
    for key in ("loss_plot", "filters_plot"):
        assert paths[key].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = np.load(paths["weights"])
    np.testing.assert_array_equal(saved["w_learned"], default_run.w_learned)
    np.testing.assert_array_equal(saved["w_true"], default_run.w_true)
    summary = default_run.summary()
    assert summary["filters"] == [20, 3, 5, 5] and summary["final_loss"] == default_run.loss_history[-1]
