"""Predicting with runs trained by imgclass: the run's preprocessing, class names and model."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from imgclass.data import Preprocessor, load, make_split
from imgclass.errors import ImgclassError
from imgclass.linear.estimators import SoftmaxClassifier
from imgclass.linear.run import train_linear
from imgclass.pretrained.predict import predict_images
from imgclass.pretrained.runs import LinearRunPredictor, load_run_predictor


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    """A small softmax run on the bundled digits (about a second)."""
    r = train_linear("digits", "softmax", learning_rate=0.1, reg=1e-4, num_iters=200,
                     out_root=tmp_path_factory.mktemp("runs"), progress=False)
    return r["run_dir"]


@pytest.fixture(scope="module")
def digit_files(tmp_path_factory):
    """The first 40 test digits as 8x8 grayscale PNGs, and their labels."""
    split = make_split(load("digits"), val=0.1, seed=0)
    d = tmp_path_factory.mktemp("digits")
    paths = []
    for i in range(40):
        paths.append(d / f"{i:02d}.png")
        Image.fromarray(split.x_test[i, 0], "L").save(paths[-1])
    return paths, split.x_test[:40], split.y_test[:40]


def test_linear_run_predictor_surface(digits_run):
    p = load_run_predictor(digits_run)
    assert isinstance(p, LinearRunPredictor)
    assert p.class_names == [str(d) for d in range(10)]
    assert p.input_shape == (1, 8, 8)
    x = np.zeros((3, 1, 8, 8), np.uint8)
    proba = p.predict_proba(x)
    assert proba.shape == (3, 10) and np.allclose(proba.sum(axis=1), 1)


def test_files_give_exactly_the_in_memory_predictions(digits_run, digit_files):
    paths, x, y = digit_files
    run = load_run_predictor(digits_run)
    r = predict_images(paths, run, top=3, batch_size=16)
    assert r["predicted"] == 40 and r["input_shape"] == [1, 8, 8]
    est = SoftmaxClassifier.load(f"{digits_run}/model.npz")
    pre = Preprocessor.load(f"{digits_run}/preprocessor.npz")
    expected = est.predict_proba(pre.transform(x))  # the run's own preprocessing, applied by hand
    got = np.array([[q["probability"] for q in res["predictions"]] for res in r["results"]])
    np.testing.assert_allclose(got, np.sort(expected, axis=1)[:, ::-1][:, :3], atol=1e-6)
    top1 = np.array([int(res["predictions"][0]["class"]) for res in r["results"]])
    np.testing.assert_array_equal(top1, expected.argmax(axis=1))
    assert np.mean(top1 == y) >= 0.85


def test_colour_photo_converted_to_the_runs_gray_8x8(digits_run, tmp_path):
    p = tmp_path / "big.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (300, 200, 3), dtype=np.uint8)).save(p)
    r = predict_images([p], load_run_predictor(digits_run), top=10)
    assert r["predicted"] == 1 and len(r["results"][0]["predictions"]) == 10


def test_svm_run_ranks_by_score(tmp_path):
    r = train_linear("digits", "svm", num_iters=50, out_root=tmp_path, progress=False)
    p = load_run_predictor(r["run_dir"])
    assert p.calibrated is False
    x = load("digits").x_test[:5]
    proba = p.predict_proba(x)
    assert np.allclose(proba.sum(axis=1), 1)
    np.testing.assert_array_equal(proba.argmax(axis=1), p.estimator.predict(p.preprocessor.transform(x)))


def test_sweep_run_is_accepted(tmp_path):
    from imgclass.linear.run import sweep_linear

    r = sweep_linear("digits", "softmax", configs=[(0.1, 1e-4), (0.01, 1e-3)], num_iters=30,
                     out_root=tmp_path, progress=False)
    p = load_run_predictor(r["run_dir"])
    assert p.input_shape == (1, 8, 8) and len(p.class_names) == 10


def test_unknown_run_layout_is_a_clear_error(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"command": "something else"}))
    with pytest.raises(ImgclassError, match="unknown run layout"):
        load_run_predictor(tmp_path)


@pytest.mark.parametrize("content, match", [(None, "no config.json"), ("{not json", "unreadable"),
                                            ("[1, 2]", "JSON object")])
def test_not_a_run_directory(tmp_path, content, match):
    if content is not None:
        (tmp_path / "config.json").write_text(content)
    with pytest.raises(ImgclassError, match=match):
        load_run_predictor(tmp_path)


def test_missing_run_directory(tmp_path):
    with pytest.raises(ImgclassError, match="no such run directory"):
        load_run_predictor(tmp_path / "nope")


def test_incomplete_run_is_a_clear_error(digits_run, tmp_path):
    (tmp_path / "config.json").write_text((__import__("pathlib").Path(digits_run) / "config.json").read_text())
    with pytest.raises(ImgclassError, match="model.npz is missing"):
        load_run_predictor(tmp_path)
