"""Search spaces of a linear sweep: grids and seeded log-uniform random pairs."""

import numpy as np
import pytest

from imgclass.errors import ImgclassError
from imgclass.linear.search import grid, random_configs


def test_grid_is_every_pair_lr_major():
    g = grid([1e-3, 1e-2, 1e-1], np.array([0.0, 1e-4]))
    assert g == [(1e-3, 0.0), (1e-3, 1e-4), (1e-2, 0.0), (1e-2, 1e-4), (1e-1, 0.0), (1e-1, 1e-4)]
    assert all(type(v) is float for pair in g for v in pair)


@pytest.mark.parametrize("lrs, regs", [([], [1.0]), ([1e-3], []), ([0.0], [1.0]), ([1e-3], [-1.0]),
                                       ([float("nan")], [1.0])])
def test_grid_rejects_bad_values(lrs, regs):
    with pytest.raises(ImgclassError):
        grid(lrs, regs)


def test_random_configs_log_uniform_and_seeded():
    c = random_configs(4000, lr_range=(1e-7, 1e-1), reg_range=(1e-6, 1e4), seed=3)
    lr, reg = np.array(c).T
    assert len(c) == 4000
    assert lr.min() >= 1e-7 and lr.max() <= 1e-1 and reg.min() >= 1e-6 and reg.max() <= 1e4
    # log-uniform: every decade gets its share (a linear-uniform draw would put ~90% in the top decade)
    for values, lo, hi in ((lr, -7, -1), (reg, -6, 4)):
        counts = np.histogram(np.log10(values), bins=hi - lo, range=(lo, hi))[0]
        share = 1 / (hi - lo)
        assert np.all(np.abs(counts / len(values) - share) < 0.35 * share), counts
    assert random_configs(20, seed=3) == random_configs(20, seed=3)
    assert random_configs(20, seed=3) != random_configs(20, seed=4)


@pytest.mark.parametrize("args", [dict(n=0), dict(n=2.5), dict(n=3, lr_range=(0, 1)),
                                  dict(n=3, reg_range=(1.0, 0.1)), dict(n=3, lr_range=(1e-3,))])
def test_random_configs_rejects_bad_input(args):
    with pytest.raises(ImgclassError):
        random_configs(**args)


# ------------------------------------------------------------------------------ sweep
