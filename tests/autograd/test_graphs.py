"""The classic graphs: staged == engine, both == PyTorch == numeric gradient; f against mpmath at high precision."""

import math
import random

import pytest
import torch
import torch.nn.functional as F

from imgclass.autograd import GRAPHS, check_gradient, compare, get_graph
from imgclass.autograd.graphs import f_backward, f_forward, softmax2_forward
from imgclass.errors import ImgclassError
from tests.autograd.torch_check import check_op

mpmath = pytest.importorskip("mpmath")

FOUR_POINTS = [(2, 4, 1), (9, 14, 3), (128, 42, 666), (52, 14, 28)]
# where a (= the argument of log sigmoid) is huge: log(sigmoid(a)) and 1/cosh^2 break, the stable forms do not
EXTREME_POINTS = [(1, 0, 0.01), (0, 1, 1e-3), (0.3, -0.7, 1e5), (0.25, 0.5, -0.05)]


def torch_graph(name, label=None):
    if name == "f":
        return lambda x, y, z: F.logsigmoid((torch.cos(math.pi * x) + torch.sin(math.pi / 2 * y)) / torch.tanh(z * z))
    if name == "squared-error":
        return lambda yhat, y: (yhat - y) ** 2
    return lambda s1, s2: torch.softmax(torch.stack([s1, s2]), 0)[int(label) - 1]


def random_points(name, n=8, seed=0):
    rnd = random.Random(seed)
    if name == "f":
        return [(rnd.uniform(-5, 5), rnd.uniform(-5, 5), rnd.choice((-1, 1)) * rnd.uniform(0.3, 3)) for _ in range(n)]
    if name == "squared-error":
        return [(rnd.gauss(0, 3), rnd.gauss(0, 3)) for _ in range(n)]
    return [(rnd.gauss(0, 4), rnd.gauss(0, 4), rnd.choice((1, 2))) for _ in range(n)]


def all_points():
    for name, g in GRAPHS.items():
        for p in list(g.points) + random_points(name):
            yield name, p


@pytest.mark.parametrize("name, point", list(all_points()))
def test_staged_and_engine_agree_and_match_torch_and_numeric(name, point):
    g = get_graph(name)
    r = compare(name, point)
    assert r["agree"] and r["max_abs_diff"] <= 1e-15 * max(1.0, abs(r["value"])), r

    n = len(g.inputs)
    xs, extra = point[:n], point[n:]
    # the engine version: PyTorch float64 and the numeric checker, through the shared helper
    # (PyTorch's tanh backward is 1 - t^2, good only to ~1e-9 relative where tanh is near 1)
    check_op(lambda *v: g.engine(*v, *extra), torch_graph(name, *extra), xs, rtol=1e-8, atol=1e-13)
    # the staged version: the numeric checker on its forward function
    staged = check_gradient(lambda *p: g.forward(*p, *extra)[0], xs, list(r["staged_grad"].values()),
                            names=g.inputs)
    assert staged.ok(1e-6, 1e-9), staged.report()


def mp_f(x, y, z):
    q = (mpmath.cos(mpmath.pi * x) + mpmath.sin(mpmath.pi * y / 2)) / mpmath.tanh(z ** 2)
    return -mpmath.log1p(mpmath.exp(-q))


def mp_reference(point):
    """f and its gradient at 40 significant digits (mpmath's own numeric differentiation)."""
    with mpmath.workdps(40):
        p = [mpmath.mpf(v) for v in point]
        grad = [mpmath.diff(lambda t, i=i: mp_f(*(p[:i] + [t] + p[i + 1:])), p[i]) for i in range(3)]
        return float(mp_f(*p)), [float(d) for d in grad]


@pytest.mark.parametrize("point", FOUR_POINTS + EXTREME_POINTS)
def test_f_matches_high_precision_reference_and_is_finite(point):
    value, grad, _ = get_graph("f").autograd(point)
    s_value, s_grad = get_graph("f").staged(point)
    ref_value, ref_grad = mp_reference(point)
    for v, gr in ((value, grad), (s_value, s_grad)):
        assert math.isfinite(v) and all(math.isfinite(d) for d in gr)
        assert v == pytest.approx(ref_value, rel=1e-13)
        scale = max(1.0, *(abs(r) for r in ref_grad))
        for d, ref in zip(gr, ref_grad):
            # d/dx at integer x is 0, left as ~1e-16 * scale by the rounding of pi * x
            assert abs(d - ref) <= 1e-12 * scale + 1e-11 * abs(ref), (point, gr, ref_grad)


def test_f_at_the_four_points():
    rows = [compare("f", p) for p in FOUR_POINTS]
    assert [round(r["value"], 12) for r in rows] == [-0.238231014691, -1.313261709786, -0.313261687518,
                                                    -0.313261687518]
    assert [round(r["grad"]["y"], 12) for r in rows] == [0.437209791943, -1.14834417437, -0.422452196811,
                                                         -0.422452196811]
    assert rows[0]["grad"]["z"] == pytest.approx(-0.3069722756588882, rel=1e-14)
    assert rows[1]["grad"]["z"] == pytest.approx(2.672161866020154e-07, rel=1e-13)
    assert rows[2]["grad"]["z"] == rows[3]["grad"]["z"] == 0.0  # tanh(z^2) == 1 exactly; derivative underflows


def test_f_where_the_naive_forms_fail():
    # q = -1e4: sigmoid(q) underflows to 0, so log(sigmoid(q)) would be log(0)
    out, cache = f_forward(1, 0, 0.01)
    q = cache[-1]
    assert math.exp(q) / (1 + math.exp(q)) == 0.0
    with pytest.raises(ValueError):
        math.log(math.exp(q) / (1 + math.exp(q)))
    assert out == pytest.approx(-1e4, rel=1e-6)
    dx, dy, dz = f_backward(1.0, cache)
    assert dz == pytest.approx(2e6, rel=1e-6)  # d/dz (-1 / z^2) * ... = 2/z^3 at z = 0.01


def test_softmax2_choose_and_shift():
    g = get_graph("softmax2")
    p1, (ds1, ds2) = g.staged((2, 1, 1))
    p2, _ = g.staged((2, 1, 2))
    assert p1 + p2 == pytest.approx(1.0, rel=1e-15)
    assert ds1 == pytest.approx(p1 * p2) and ds2 == pytest.approx(-p1 * p2)
    # scores whose exp overflows without the shift by max(s1, s2)
    p, grads = g.staged((800, -800, 1))
    assert p == 1.0 and grads == (0.0, 0.0)
    out, leaves = g.build((0.5, 3.0, 2))
    out.backward()
    p1_node, p2_node = out.inputs  # the choose node keeps both options; only p2 gets gradient
    assert (p1_node.grad, p2_node.grad) == (0.0, 1.0)


def test_squared_error_copy_rule():
    g = get_graph("squared-error")
    assert g.staged((3, 1)) == (4.0, (4.0, -4.0))
    out, (yhat, y) = g.build((3, 1))
    out.backward()
    d = out.inputs[0]
    assert out.inputs == (d, d) and d.grad == 4.0  # d used twice: 2 + 2
    assert (yhat.grad, y.grad) == (4.0, -4.0)


@pytest.mark.parametrize("name, point, message", [
    ("f", (1, 2, 0), "division by zero"),
    ("f", (1, 2), "takes 3 numbers"),
    ("f", (1, float("nan"), 1), "needs finite numbers"),
    ("softmax2", (1, 2, 3), "label y must be 1 or 2"),
    ("softmax2", (1, 2, 1.5), "label y must be 1 or 2"),
])
def test_graph_errors(name, point, message):
    g = get_graph(name)
    for method in (g.staged, g.autograd):
        with pytest.raises(ImgclassError, match=message):
            method(point)


def test_unknown_graph():
    with pytest.raises(ImgclassError, match="unknown graph 'g'; choose one of f, squared-error, softmax2"):
        get_graph("g")


def test_staged_softmax_forward_caches_the_label():
    _, cache = softmax2_forward(0.0, 0.0, 2)
    assert cache[0] == 2
