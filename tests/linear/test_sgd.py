"""The linear SGD loop: sampling, decay and iterate averaging."""

import numpy as np
import pytest

from imgclass.errors import ImgclassError
from imgclass.linear.sgd import sgd_fit


@pytest.fixture
def problem():
    rng = np.random.default_rng(0)
    return rng.standard_normal((60, 5)), rng.integers(0, 3, 60)


def w0():
    return 0.01 * np.random.default_rng(1).standard_normal((3, 5))


def test_averaging_is_the_mean_of_the_iterates(problem):
    x, y = problem
    iterates = []
    for k in range(1, 6):  # the first k minibatches do not depend on num_iters
        w = w0()
        sgd_fit(w, x, y, lr=0.5, reg=0.0, num_iters=k, batch_size=10, seed=3)
        iterates.append(w)
    avg = w0()
    sgd_fit(avg, x, y, lr=0.5, reg=0.0, num_iters=5, batch_size=10, seed=3, averaging=0.0)
    np.testing.assert_allclose(avg, np.mean(iterates, axis=0), rtol=1e-12)
    late = w0()
    sgd_fit(late, x, y, lr=0.5, reg=0.0, num_iters=5, batch_size=10, seed=3, averaging=0.6)  # iterates 4 and 5
    np.testing.assert_allclose(late, np.mean(iterates[3:], axis=0), rtol=1e-12)


def test_lr_decay_per_epoch(problem):
    x, y = problem
    a, b = w0(), w0()
    sgd_fit(a, x, y, lr=0.5, num_iters=12, batch_size=10, seed=0, sampling="epochs")
    sgd_fit(b, x, y, lr=0.5, num_iters=12, batch_size=10, seed=0, sampling="epochs", lr_decay=0.5)
    c = w0()  # the first epoch (6 iterations) is the same; the second differs
    sgd_fit(c, x, y, lr=0.5, num_iters=6, batch_size=10, seed=0, sampling="epochs", lr_decay=0.5)
    d = w0()
    sgd_fit(d, x, y, lr=0.5, num_iters=6, batch_size=10, seed=0, sampling="epochs")
    np.testing.assert_array_equal(c, d)
    assert not np.allclose(a, b)


def test_epoch_sampling_visits_every_sample(problem, monkeypatch):
    from imgclass.linear import sgd

    seen = list(sgd._batch_indices(60, 7, 9, 0, "epochs"))
    assert sorted(np.concatenate(seen[:9])[:60]) == list(range(60))


@pytest.mark.parametrize("bad", [{"averaging": 1.0}, {"lr_decay": 0.0}, {"lr": 0.0}, {"sampling": "bootstrap"},
                                 {"loss": "mse"}])
def test_bad_arguments(problem, bad):
    x, y = problem
    kw = {"lr": 0.1, "num_iters": 2, **bad}
    with pytest.raises(ImgclassError):
        sgd_fit(w0(), x, y, **kw)
