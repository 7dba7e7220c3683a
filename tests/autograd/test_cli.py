"""``imgclass graph`` through imgclass.cli.main, as a user runs it."""

import json
import math
import shutil
import subprocess
import sys

import pytest

from imgclass.autograd import GRAPHS
from imgclass.autograd import cli as autograd_cli
from imgclass.autograd import draw
from imgclass.cli import COMMAND_MODULES, main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def last_json(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


def test_registered_and_names_in_sync():
    assert autograd_cli in COMMAND_MODULES
    assert autograd_cli._GRAPH_NAMES == tuple(GRAPHS)


def test_graph_prints_f_at_the_four_points(capsys):
    code, out, err = run(capsys, "graph", "--json")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].startswith("f(x, y, z) = log sigmoid")
    assert lines[1].split()[:3] == ["x", "y", "z"]
    assert lines[2].split()[:4] == ["2", "4", "1", "-0.238231014691151"]
    assert lines[3].split()[5:7] == ["-1.1483441743696", "2.67216186602015e-07"]
    assert "agree" in lines[6]
    r = last_json(out)
    assert r["graph"] == "f" and r["agree"] and r["inputs"] == ["x", "y", "z"]
    assert [p["at"] for p in r["points"]] == [[2, 4, 1], [9, 14, 3], [128, 42, 666], [52, 14, 28]]
    for p in r["points"]:
        values = [p["value"], *p["grad"].values()]
        assert all(math.isfinite(v) for v in values)
        assert p["value"] == p["staged_value"] and p["grad"] == pytest.approx(p["staged_grad"], abs=1e-15)
    assert r["points"][0]["grad"]["y"] == pytest.approx(0.4372097919427650, rel=1e-14)


def test_graph_at_other_points_and_graphs(capsys):
    code, out, _ = run(capsys, "graph", "--at", "1", "0", "0.01", "--at", "0.5", "-1", "2", "--json")
    r = last_json(out)
    assert code == 0 and len(r["points"]) == 2 and r["points"][0]["value"] == pytest.approx(-1e4, rel=1e-6)
    code, out, _ = run(capsys, "graph", "--graph", "squared-error", "--at", "3", "1", "--json")
    r = last_json(out)
    assert code == 0 and r["points"][0]["value"] == 4.0 and r["points"][0]["grad"] == {"yhat": 4.0, "y": -4.0}
    code, out, _ = run(capsys, "graph", "--graph", "softmax2", "--json")
    r = last_json(out)
    assert code == 0 and r["label"] == "y" and len(r["points"]) == 3
    assert r["points"][0]["value"] == pytest.approx(1 / (1 + math.exp(-1)), rel=1e-15)


@pytest.mark.parametrize("argv, message", [
    (["--at", "1", "2", "0"], "division by zero"),
    (["--at", "1", "2"], "takes 3 numbers"),
    (["--graph", "softmax2", "--at", "1", "2", "3"], "label y must be 1 or 2"),
])
def test_user_errors_exit_1_without_traceback(capsys, argv, message):
    code, out, err = run(capsys, "graph", *argv)
    assert code == 1 and err.startswith("imgclass: error: ") and message in err and "Traceback" not in err


def test_dot_file_and_stdout(capsys, tmp_path):
    path = tmp_path / "out" / "f.dot"
    code, out, _ = run(capsys, "graph", "--dot", str(path), "--json")
    r = last_json(out)
    assert code == 0 and r["dot"] == str(path) and f"wrote {path}" in out
    text = path.read_text()
    assert text.startswith('digraph "f" {') and "log_sigmoid" in text and "tanh" in text
    assert 'label="{ x | leaf | value 2 |' in text  # the first point, (2, 4, 1)
    code, out, _ = run(capsys, "graph", "--graph", "squared-error", "--dot", "-", "--json")
    assert code == 0 and out.startswith('digraph "squared-error" {') and last_json(out)["dot"] == "-"


def test_png_without_graphviz(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(draw.shutil, "which", lambda name: None)
    code, _, err = run(capsys, "graph", "--png", str(tmp_path / "f.png"))
    assert code == 1 and "install Graphviz" in err


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz 'dot' not installed (apt-get install graphviz)")
def test_png(capsys, tmp_path):
    path = tmp_path / "f.png"
    code, out, _ = run(capsys, "graph", "--png", str(path), "--json")
    assert code == 0 and last_json(out)["png"] == str(path)
    assert path.read_bytes()[:4] == b"\x89PNG"


def test_cli_module_is_import_light():
    code = ("import sys, imgclass.autograd.cli, imgclass.autograd; "
            "print(sorted(m for m in ('numpy', 'torch', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
