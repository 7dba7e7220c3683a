"""Shared pieces of the linear sweep tests: one small sweep on the digits features (the ``sweep_digits`` fixture)."""

from imgclass.linear.sweep import sweep

ITERS = 60
DIVERGES = (1e6, 1e3)  # lr, reg: the L2 step multiplies W by about 1 - 2e9 each iteration


def run(digits, configs, **kw):
    kw = {"num_iters": ITERS, "batch_size": 50, "progress": False, **kw}
    return sweep(*digits, configs, **kw)
