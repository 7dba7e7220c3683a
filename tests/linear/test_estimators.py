"""LinearSVM and SoftmaxClassifier: the scikit-learn contract, real learning, persistence."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.utils.estimator_checks import check_estimator

from imgclass.data import Preprocessor, load, make_split
from imgclass.errors import ImgclassError
from imgclass.linear.estimators import LinearSVM, SoftmaxClassifier

# Skipped by scikit-learn itself here, with its reason: check_array_api_input needs
# SCIPY_ARRAY_API=1 and array-api-compat, and these estimators compute with NumPy only.
EXPECTED_SKIPS = {"check_array_api_input"}


@pytest.mark.parametrize("est", [LinearSVM(random_state=0), SoftmaxClassifier(random_state=0)],
                         ids=["LinearSVM", "SoftmaxClassifier"])
def test_scikit_learn_estimator_checks(est):
    results = check_estimator(est, on_fail=None)
    failed = [(r["check_name"], str(r["exception"])[:300]) for r in results if r["status"] == "failed"]
    skipped = {r["check_name"] for r in results if r["status"] == "skipped"}
    assert not failed, failed
    assert skipped <= EXPECTED_SKIPS, skipped
    assert len(results) > 40


@pytest.fixture(scope="module")
def digits():
    s = make_split(load("digits"), val=0.15, seed=0)
    pre = Preprocessor(normalize="pixel", flatten=True, dtype="float64").fit(s.x_train)
    return s, pre.transform(s.x_train), pre.transform(s.x_val), pre.transform(s.x_test)


@pytest.mark.parametrize("cls, kw", [(LinearSVM, {"learning_rate": 1e-3, "reg": 1e-3}),
                                     (SoftmaxClassifier, {"learning_rate": 1e-1, "reg": 1e-4})])
@pytest.mark.parametrize("bias", ["vector", "trick"])
def test_learns_digits(digits, cls, kw, bias):
    s, xtr, xval, xte = digits
    est = cls(num_iters=1500, bias=bias, random_state=0, **kw).fit(xtr, s.y_train)
    assert est.score(xval, s.y_val) >= 0.9
    assert est.loss_history_.shape == (1500,) and est.loss_history_[-50:].mean() < est.loss_history_[:10].mean()
    assert est.coef_.shape == (10, 64) and est.intercept_.shape == (10,)


def test_same_random_state_same_model_and_sampling_option(digits):
    s, xtr, *_ = digits
    a = SoftmaxClassifier(num_iters=200, random_state=3).fit(xtr, s.y_train)
    b = clone(a).fit(xtr, s.y_train)
    np.testing.assert_array_equal(a.coef_, b.coef_)
    c = SoftmaxClassifier(num_iters=200, random_state=3, sampling="epochs").fit(xtr, s.y_train)
    assert not np.array_equal(a.coef_, c.coef_)


def test_predict_proba_and_string_labels(digits):
    s, xtr, xval, _ = digits
    names = np.array([f"digit{k}" for k in range(10)])
    est = SoftmaxClassifier(learning_rate=0.1, random_state=0).fit(xtr, names[s.y_train])
    p = est.predict_proba(xval)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    np.testing.assert_array_equal(est.classes_[p.argmax(1)], est.predict(xval))
    assert est.predict(xval)[0].startswith("digit")


def test_save_load_roundtrip(tmp_path, digits):
    s, xtr, xval, _ = digits
    est = LinearSVM(num_iters=300, average="classes", random_state=0).fit(xtr, s.y_train)
    loaded = LinearSVM.load(est.save(tmp_path / "svm.npz"))
    assert isinstance(loaded, LinearSVM) and loaded.get_params() == est.get_params()
    np.testing.assert_array_equal(loaded.predict(xval), est.predict(xval))
    with pytest.raises(ImgclassError, match="no such model file"):
        LinearSVM.load(tmp_path / "nope.npz")


@pytest.mark.parametrize("bad", [{"learning_rate": 0}, {"reg": -1}, {"bias": "both"}, {"num_iters": 0},
                                 {"dtype": "int8"}])
def test_bad_hyperparameters(digits, bad):
    s, xtr, *_ = digits
    with pytest.raises(ValueError):
        SoftmaxClassifier(**bad).fit(xtr, s.y_train)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the overflow is the point
def test_divergence_is_a_clear_error(digits):
    s, xtr, *_ = digits
    with pytest.raises(ValueError, match="lower the learning rate"):
        SoftmaxClassifier(learning_rate=1e12, init_std=1.0, random_state=0).fit(xtr * 1e3, s.y_train)
