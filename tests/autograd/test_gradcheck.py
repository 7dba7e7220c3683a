"""The numeric checker finds right gradients right and wrong gradients wrong, and reports relative errors."""

import math

import pytest

from imgclass.autograd import GradCheck, Value, check_engine, check_gradient, numeric_gradient, rel_error


def test_numeric_gradient_of_a_known_function():
    g = numeric_gradient(lambda x, y: x * x * y + math.sin(y), (1.5, -0.5))
    assert g[0] == pytest.approx(2 * 1.5 * -0.5, rel=1e-9)
    assert g[1] == pytest.approx(1.5 ** 2 + math.cos(-0.5), rel=1e-9)


def test_numeric_gradient_error_shrinks_like_h_squared():
    exact = math.cos(1.0)
    errors = [abs(numeric_gradient(math.sin, (1.0,), h)[0] - exact) for h in (1e-2, 1e-3)]
    assert errors[1] < errors[0] / 50  # O(h^2): 100x smaller, allowing for rounding


def test_rel_error():
    assert rel_error(1.0, 1.0) == 0.0
    assert rel_error(1.0, 3.0) == pytest.approx(0.5)
    assert rel_error(0.0, 1e-12) == pytest.approx(1e-4)  # floor 1e-8 in the denominator


def test_check_gradient_passes_right_and_fails_wrong():
    f = lambda x, y: x * math.exp(y)  # noqa: E731
    right = check_gradient(f, (0.7, 0.2), (math.exp(0.2), 0.7 * math.exp(0.2)), names=("x", "y"))
    assert right.ok() and right.max_rel_error < 1e-9
    wrong = check_gradient(f, (0.7, 0.2), (math.exp(0.2), 0.7), names=("x", "y"))
    assert not wrong.ok()
    assert wrong.rel_errors[0] < 1e-9 and wrong.rel_errors[1] > 0.05
    assert wrong.max_rel_error == wrong.rel_errors[1]


def test_report_lists_each_input_with_its_errors():
    r = GradCheck(("x", "y"), (1.0, 2.0), (1.0, 2.0), (1.0, 2.5))
    lines = r.report().splitlines()
    assert lines[0].split() == ["input", "analytic", "numeric", "abs", "error", "rel", "error"]
    assert lines[2].split() == ["y", "2", "2.5", "5.00e-01", f"{0.5 / 4.5:.2e}"]


def test_ok_uses_an_absolute_floor_for_zero_gradients():
    r = GradCheck(("x",), (2.0,), (1e-16,), (3e-11,))
    assert r.max_rel_error > 1e-3  # relative error of two ~0 numbers is meaningless...
    assert r.ok(rtol=1e-6, atol=1e-9)  # ...so ok() also accepts a tiny absolute error
    assert not r.ok(rtol=1e-6, atol=0.0)


def test_check_engine_catches_a_broken_backward():
    def square_with_wrong_backward(a: Value) -> Value:
        out = Value(a.data ** 2, _children=(a,), _op="sq")

        def _backward():
            a.grad += a.data * out.grad  # should be 2 * a.data

        out._backward = _backward
        return out

    bad = check_engine(square_with_wrong_backward, (1.3,))
    assert not bad.ok() and bad.rel_errors[0] == pytest.approx(1 / 3, rel=1e-6)
    good = check_engine(lambda a: a * a, (1.3,))
    assert good.ok(1e-9, 1e-12)


def test_check_gradient_length_mismatch():
    with pytest.raises(ValueError, match="1 analytic derivatives for 2 inputs"):
        check_gradient(lambda x, y: x + y, (1.0, 2.0), (1.0,))
