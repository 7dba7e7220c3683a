"""``imgclass gradcheck`` end to end: passes on the real engine, fails on a broken backward."""

import json

import numpy as np

from imgclass.cli import main
from imgclass.nn import functional

def test_gradcheck_passes_and_reports_every_component(capsys):
    assert main(["gradcheck", "--json"]) == 0
    out = capsys.readouterr().out
    r = json.loads(out.strip().splitlines()[-1])
    components = {c["component"] for c in r["checks"]}
    for name in ("affine", "relu", "conv2d stride 2 pad 1", "max_pool 2x2", "avg_pool 2x2", "batchnorm (train)",
                 "dropout (train)", "softmax loss", "hinge loss (sum)", "TwoLayerNet (reg 0.7)", "CNN (conv-bn-relu-pool, fc)"):
        assert name in components
    assert r["failed"] == [] and all(c["rel_error"] < c["bound"] for c in r["checks"])

def test_gradcheck_exits_nonzero_on_a_wrong_gradient(monkeypatch, capsys):
    real = functional.relu_backward
    monkeypatch.setattr(functional, "relu_backward", lambda dout, cache: real(dout, cache) * 1.001)
    assert main(["gradcheck"]) == 1
    captured = capsys.readouterr()
    assert "relu dx" in captured.err and "NO" in captured.out


def test_gradcheck_holds_across_seeds_and_in_float64(capsys):
    for args in (["--seed", "3"], ["--seed", "11"], ["--precision", "float64"]):
        assert main(["gradcheck", *args]) == 0, args
    assert "within their bounds" in capsys.readouterr().out


def test_numeric_oracle_is_exactly_zero_for_an_unused_input():
    """Mirrored pairs are differenced first, so a dead ReLU unit reads as exactly 0."""
    from imgclass.nn.gradcheck import numerical_gradient

    x = np.array([0.5, 2.0], dtype=np.longdouble)
    g = numerical_gradient(lambda v: np.float64(3.7) * v[1] ** 2 + 1.234567, x, 1e-4, order=4)
    assert g[0] == 0 and abs(float(g[1]) - 14.8) < 1e-12
