"""Every engine operation against PyTorch and the numeric checker, through the shared helper."""

import math

import pytest
import torch
import torch.nn.functional as F

from imgclass.autograd import Value, choose, topological_order
from imgclass.errors import ImgclassError
from tests.autograd.torch_check import check_op

# (name, engine fn, torch fn, points): every op at ordinary points and where stability matters
OPS = [
    ("add", lambda a, b: a + b, lambda a, b: a + b, [(1.5, -2.0)]),
    ("radd", lambda a: 3 + a, lambda a: 3 + a, [(0.25,)]),
    ("sub", lambda a, b: a - b, lambda a, b: a - b, [(1.5, -2.0)]),
    ("rsub", lambda a: 3 - a, lambda a: 3 - a, [(0.25,)]),
    ("neg", lambda a: -a, lambda a: -a, [(0.7,)]),
    ("mul", lambda a, b: a * b, lambda a, b: a * b, [(1.5, -2.0)]),
    ("rmul", lambda a: 2.5 * a, lambda a: 2.5 * a, [(-0.4,)]),
    ("div", lambda a, b: a / b, lambda a, b: a / b, [(1.5, -2.0), (-3.0, 0.25)]),
    ("rdiv", lambda a: 2 / a, lambda a: 2 / a, [(0.8,), (-5.0,)]),
    ("pow3", lambda a: a ** 3, lambda a: a ** 3, [(-1.5,), (0.6,)]),
    ("pow-half", lambda a: a ** 0.5, lambda a: a ** 0.5, [(2.0,)]),
    ("pow-neg2", lambda a: a ** -2, lambda a: a ** -2, [(0.7,), (-1.3,)]),
    ("pow0", lambda a: a ** 0, lambda a: a ** 0, [(3.0,)]),
    ("pow-value", lambda a, b: a ** b, lambda a, b: a ** b, [(1.7, 2.3), (0.4, -1.5)]),
    ("rpow", lambda a: 2 ** a, lambda a: 2 ** a, [(0.7,)]),
    ("exp", lambda a: a.exp(), torch.exp, [(-1.2,), (3.0,), (-700.0,)]),
    ("log", lambda a: a.log(), torch.log, [(0.3,), (50.0,)]),
    ("sin", lambda a: a.sin(), torch.sin, [(0.7,), (10.0,)]),
    ("cos", lambda a: a.cos(), torch.cos, [(0.7,), (-10.0,)]),
    ("tanh", lambda a: a.tanh(), torch.tanh, [(0.5,), (-3.0,), (30.0,), (-800.0,)]),
    ("sigmoid", lambda a: a.sigmoid(), torch.sigmoid, [(0.3,), (-40.0,), (800.0,), (-800.0,)]),
    ("log_sigmoid", lambda a: a.log_sigmoid(), F.logsigmoid, [(0.3,), (-40.0,), (800.0,), (-800.0,)]),
    ("relu", lambda a: a.relu(), torch.relu, [(1.3,), (-0.7,)]),
    # values used more than once: gradients must add up
    ("x+x", lambda a: a + a, lambda a: a + a, [(0.9,)]),
    ("x*x*x", lambda a: a * a * a, lambda a: a * a * a, [(-1.1,)]),
    ("shared", lambda a, b: (a * b) * (a * b) + (a * b), lambda a, b: (a * b) * (a * b) + (a * b), [(0.8, -1.7)]),
    ("mixed", lambda a, b: ((a * b + a).tanh() * b - a / b).exp().log() + (a ** 2).sigmoid() * b.cos(),
     lambda a, b: torch.log(torch.exp(torch.tanh(a * b + a) * b - a / b)) + torch.sigmoid(a ** 2) * torch.cos(b),
     [(0.3, 1.9), (-2.0, 0.5)]),
]


@pytest.mark.parametrize("name, fn, torch_fn, points", OPS, ids=[op[0] for op in OPS])
def test_op_matches_torch_and_numeric(name, fn, torch_fn, points):
    for point in points:
        check_op(fn, torch_fn, point)


def test_relu_kink_has_zero_gradient_like_torch():
    check_op(lambda a: a.relu(), torch.relu, (0.0,), numeric=False)


def test_pow_at_zero():
    check_op(lambda a: a ** 2, lambda a: a ** 2, (0.0,), numeric=False)
    check_op(lambda a: a ** 1, lambda a: a ** 1, (0.0,), numeric=False)
    x = Value(0.0)
    (x ** 0.5).backward()
    assert x.grad == math.inf  # d sqrt(x)/dx at 0, as PyTorch says
    t = torch.tensor(0.0, dtype=torch.float64, requires_grad=True)
    (t ** 0.5).backward()
    assert float(t.grad) == math.inf


def test_stable_ops_never_nan_or_inf():
    for x in (-1e308, -745.0, -40.0, 0.0, 40.0, 745.0, 1e308):
        for op in ("tanh", "sigmoid", "log_sigmoid"):
            v = Value(x)
            out = getattr(v, op)()
            out.backward()
            assert math.isfinite(out.data) and math.isfinite(v.grad), (op, x, out.data, v.grad)
    assert Value(-1e308).log_sigmoid().data == -1e308  # log(sigmoid(x)) would be log(0) = -inf


def test_tanh_derivative_is_accurate_where_one_minus_t_squared_cancels():
    x = Value(9.0)
    x.tanh().backward()
    exact = 1 / math.cosh(9.0) ** 2
    assert x.grad == pytest.approx(exact, rel=1e-14)  # 1 - tanh(9)**2 is only good to ~1e-9 here
    big = Value(443556.0)  # tanh(666**2) == 1.0 exactly
    big.tanh().backward()
    assert big.grad == 0.0


def test_gradient_accumulates_over_every_use():
    x, y = Value(2.0, "x"), Value(-3.0, "y")
    a = x * y
    f = a * a + a + x  # x used in a (twice through a*a and a) and directly
    f.backward()
    assert x.grad == (2 * a.data + 1) * y.data + 1
    assert y.grad == (2 * a.data + 1) * x.data
    assert a.grad == 2 * a.data + 1


def test_backward_accumulates_across_calls_like_torch():
    x = Value(3.0)
    f = x * x
    f.backward()
    f.backward()
    assert x.grad == 12.0


def test_topological_order_puts_inputs_first_and_handles_deep_graphs():
    x = Value(1.0)
    y = x
    for _ in range(5000):  # deeper than the recursion limit
        y = y * 1.0001 + 0.0
    y.backward()
    assert x.grad == pytest.approx(1.0001 ** 5000, rel=1e-12)
    order = topological_order(y)
    pos = {id(n): i for i, n in enumerate(order)}
    assert order[-1] is y and order[0] is x
    assert all(pos[id(c)] < pos[id(n)] for n in order for c in n.inputs)
    assert len(pos) == len(order)  # each node once


def test_choose_passes_gradient_to_the_chosen_option_only():
    a, b = Value(0.2), Value(0.8)
    out = choose((a, b), 1)
    (out * 3.0).backward()
    assert out.data == 0.8 and (a.grad, b.grad) == (0.0, 3.0)
    with pytest.raises(ImgclassError, match="index 2 is out of range for 2 options"):
        choose((a, b), 2)


@pytest.mark.parametrize("make, message", [
    (lambda: Value(0.0).log(), r"log\(0.0\) is undefined"),
    (lambda: Value(-1.0).log(), "log needs a positive argument"),
    (lambda: Value(1.0) / 0, "division by zero"),
    (lambda: 1.0 / Value(0.0), "division by zero"),
    (lambda: Value(0.0) ** -1, "division by zero"),
    (lambda: Value(-8.0) ** (1 / 3), "negative base needs an integer power"),
    (lambda: Value(-2.0) ** Value(2.0), "positive base"),
    (lambda: Value(1000.0).exp(), r"exp\(1000.0\) is not a finite real number"),
    (lambda: Value(10.0) ** 400, "overflows float64"),
    (lambda: Value(math.inf).sin(), "not a finite real number"),
    (lambda: Value("abc"), "one real number"),
])
def test_domain_errors_are_clear(make, message):
    with pytest.raises(ImgclassError, match=message):
        make()


def test_repr_and_integer_powers_of_negative_bases():
    v = Value(-2.0, "x")
    assert repr(v) == "Value('x', data=-2, grad=0)"
    check_op(lambda a: a ** 3, lambda a: a ** 3, (-2.0,))
