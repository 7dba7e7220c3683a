"""Graphviz dot text of an engine graph, and PNG through the dot program when it is installed."""

import re
import shutil
import subprocess

import pytest

from imgclass.autograd import Value, get_graph, to_dot, write_dot, write_png
from imgclass.autograd import draw
from imgclass.errors import ImgclassError

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz 'dot' not installed "
                               "(apt-get install graphviz)")


def f_graph():
    _, _, root = get_graph("f").autograd((2, 4, 1))
    return root


def test_every_node_shows_op_value_and_gradient():
    x, y = Value(2.0, "x"), Value(-3.0, "y")
    out = (x * y).tanh()
    out.label = "out"
    out.backward()
    dot = to_dot(out)
    records = re.findall(r'(n\d+) \[label="\{ (.*) \}"', dot)
    assert len(records) == 4  # x, y, x*y, tanh
    fields = {r[1] for r in records}
    assert f"x | leaf | value 2 | grad {x.grad:.6g}" in fields
    assert f"y | leaf | value -3 | grad {y.grad:.6g}" in fields
    assert f"* | value -6 | grad {out.inputs[0].grad:.6g}" in fields
    assert f"out | tanh | value {out.data:.6g} | grad 1" in fields
    assert dot.startswith('digraph "graph" {') and dot.rstrip().endswith("}")
    assert dot.count("->") == 3 and "style=bold" in dot


def test_reused_value_has_two_edges_and_ordered_ops_number_them():
    z = Value(3.0, "z")
    out = (z * z) / (z + 1.0)
    out.backward()
    dot = to_dot(out)
    ids = dict((label.split(" |")[0], nid) for nid, label in re.findall(r'(n\d+) \[label="\{ (.*?) \}"', dot))
    assert dot.count(f"{ids['z']} -> ") == 3  # z * z (twice) and z + 1
    assert re.search(r'-> n\d+ \[label="1"\];', dot) and re.search(r'-> n\d+ \[label="2"\];', dot)
    assert "const | value 1 | grad" in dot


def test_labels_are_escaped():
    v = Value(1.0, 'a|b{c}<d>"e"')
    dot = to_dot(v.exp())
    assert r'a\|b\{c\}\<d\>\"e\"' in dot


def test_bad_rankdir():
    with pytest.raises(ImgclassError, match="rankdir"):
        to_dot(Value(1.0), rankdir="XY")


def test_write_dot(tmp_path):
    path = write_dot(f_graph(), tmp_path / "sub" / "f.dot", rankdir="TB")
    text = path.read_text()
    assert "rankdir=TB" in text and "log_sigmoid" in text and "choose" not in text


def test_missing_graphviz_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(draw.shutil, "which", lambda name: None)
    with pytest.raises(ImgclassError, match="install Graphviz .*apt-get install graphviz"):
        write_png(f_graph(), tmp_path / "f.png")
    assert not (tmp_path / "f.png").exists()


@needs_dot
def test_png_and_dot_syntax(tmp_path):
    for name, point in (("f", (2, 4, 1)), ("softmax2", (2, 1, 2)), ("squared-error", (3, 1))):
        _, _, root = get_graph(name).autograd(point)
        png = write_png(root, tmp_path / f"{name}.png")
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        # dot parses the text back: one node per Value, one edge per input
        plain = subprocess.run(["dot", "-Tplain"], input=to_dot(root), text=True, capture_output=True, check=True)
        kinds = [line.split()[0] for line in plain.stdout.splitlines()]
        assert kinds.count("node") == to_dot(root).count("[label=\"{")


@needs_dot
def test_dot_failure_is_reported(tmp_path):
    with pytest.raises(ImgclassError, match="Graphviz 'dot' failed"):
        draw.render_png("digraph { broken", tmp_path / "x.png")
