import numpy as np
import pytest

from imgclass.data import Batches
from imgclass.errors import DataError


def test_every_sample_once_per_epoch_and_reshuffled():
    x, y = np.arange(103)[:, None], np.arange(103)
    b = Batches(x, y, 10, seed=0)
    assert len(b) == 11
    orders = []
    for _ in range(3):
        seen = np.concatenate([yb for _, yb in b])
        assert sorted(seen) == list(range(103))
        orders.append(seen)
    assert b.epoch == 3
    assert not np.array_equal(orders[0], orders[1]) and not np.array_equal(orders[1], orders[2])


def test_same_seed_same_batches_and_resume_at_epoch():
    x, y = np.arange(50)[:, None], np.arange(50)
    a = Batches(x, y, 8, seed=7)
    first, second = [list(yb) for _, yb in a], [list(yb) for _, yb in a]
    resumed = Batches(x, y, 8, seed=7, epoch=1)  # e.g. after a restart from a checkpoint
    assert [list(yb) for _, yb in resumed] == second
    assert [list(yb) for _, yb in Batches(x, y, 8, seed=7)] == first
    assert [list(yb) for _, yb in Batches(x, y, 8, seed=8)] != first


def test_pairs_stay_aligned():
    x = np.arange(40).reshape(20, 2)
    y = np.arange(20)
    for xb, yb in Batches(x, y, 6, seed=1):
        np.testing.assert_array_equal(xb[:, 0] // 2, yb)


def test_drop_last_and_no_shuffle():
    x, y = np.zeros((25, 1)), np.arange(25)
    b = Batches(x, y, 10, seed=0, drop_last=True)
    sizes = [len(yb) for _, yb in b]
    assert sizes == [10, 10] and len(b) == 2
    ordered = np.concatenate([yb for _, yb in Batches(x, y, 10, shuffle=False)])
    np.testing.assert_array_equal(ordered, y)


@pytest.mark.parametrize("bs", [0, -1, 2.5, True])
def test_bad_batch_size(bs):
    with pytest.raises(DataError, match="batch_size"):
        Batches(np.zeros((4, 1)), np.zeros(4), bs)


def test_mismatch_and_drop_everything():
    with pytest.raises(DataError, match="4 inputs but 3 labels"):
        Batches(np.zeros((4, 1)), np.zeros(3), 2)
    with pytest.raises(DataError, match="no batch would remain"):
        Batches(np.zeros((4, 1)), np.zeros(4), 5, drop_last=True)
