"""``imgclass gradcheck`` end to end: passes on the real engine, fails on a broken backward."""

import json

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
