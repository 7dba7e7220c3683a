"""Loading a finished run's model (``imgclass.runs.load_model``): its preprocessing, class names and weights,
and predicting with it on image files."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from imgclass.data import Preprocessor, load, make_split
from imgclass.errors import ImgclassError
from imgclass.linear.config import LinearConfig, LinearSweepConfig
from imgclass.linear.estimators import SoftmaxClassifier
from imgclass.linear.run import sweep_linear, train_linear
from imgclass.pretrained.predict import predict_images
from imgclass.runs import TrainedModel, load_model
from imgclass.train import TrainConfig
from imgclass.train.run import train


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    """A small softmax run on the bundled digits (about a second)."""
    r = train_linear(LinearConfig(loss="softmax", lr=0.1, reg=1e-4, iters=200),
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
    p = load_model(digits_run)
    assert isinstance(p, TrainedModel) and p.calibrated
    assert p.class_names == [str(d) for d in range(10)]
    assert p.input_shape == (1, 8, 8)
    x = np.zeros((3, 1, 8, 8), np.uint8)
    proba = p.predict_proba(x)
    assert proba.shape == (3, 10) and np.allclose(proba.sum(axis=1), 1)


def test_files_give_exactly_the_in_memory_predictions(digits_run, digit_files):
    paths, x, y = digit_files
    run = load_model(digits_run)
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
    r = predict_images([p], load_model(digits_run), top=10)
    assert r["predicted"] == 1 and len(r["results"][0]["predictions"]) == 10


def test_svm_run_ranks_by_score(tmp_path):
    r = train_linear(LinearConfig(loss="svm", iters=50), out_root=tmp_path, progress=False)
    p = load_model(r["run_dir"])
    assert p.calibrated is False
    x = load("digits").x_test[:5]
    proba = p.predict_proba(x)
    assert np.allclose(proba.sum(axis=1), 1)
    est = SoftmaxClassifier.load(f"{r['run_dir']}/model.npz")
    np.testing.assert_array_equal(proba.argmax(axis=1), est.predict(p.pre.transform(x)))


def test_sweep_run_is_accepted(tmp_path):
    r = sweep_linear(LinearSweepConfig(loss="softmax", configs=[(0.1, 1e-4), (0.01, 1e-3)], iters=30),
                     out_root=tmp_path, progress=False)
    p = load_model(r["run_dir"])
    assert p.input_shape == (1, 8, 8) and len(p.class_names) == 10


@pytest.mark.parametrize("engine", ["numpy", "torch"])
def test_a_train_run_scores_new_images_as_it_scored_its_test_split(tmp_path, engine):
    r = train(TrainConfig(engine=engine, model="mlp:16", epochs=1, threads=1), run_dir=tmp_path / "run",
              progress=False)
    model = load_model(r["run_dir"])
    assert model.config.engine == engine and model.name.startswith(engine)
    with np.load(tmp_path / "run" / "test_scores.npz") as z:
        stored = z["scores"]
    split = make_split(load("digits"), val=0.1, seed=0)
    np.testing.assert_allclose(model.scores(split.x_test), stored, rtol=1e-5, atol=1e-5)


def test_a_study_is_not_a_model_run(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"kind": "study", "study": "baselines"}))
    with pytest.raises(ImgclassError, match="is a study run"):
        load_model(tmp_path)


@pytest.mark.parametrize("content, match", [(None, "not a run directory"), ("{not json", "not valid JSON"),
                                            ("[1, 2]", "not a run directory")])
def test_not_a_run_directory(tmp_path, content, match):
    if content is not None:
        (tmp_path / "config.json").write_text(content)
    with pytest.raises(ImgclassError, match=match):
        load_model(tmp_path)


def test_missing_run_directory(tmp_path):
    with pytest.raises(ImgclassError, match="no such run directory"):
        load_model(tmp_path / "nope")


def test_incomplete_run_is_a_clear_error(digits_run, tmp_path):
    import shutil

    for name in ("config.json", "data.json", "preprocessor.npz"):
        shutil.copy(f"{digits_run}/{name}", tmp_path / name)
    with pytest.raises(ImgclassError, match="model.npz is missing"):
        load_model(tmp_path)
    (tmp_path / "data.json").unlink()
    with pytest.raises(ImgclassError, match="no class names"):
        load_model(tmp_path)
