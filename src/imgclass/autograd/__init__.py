"""Computational graphs from scratch: a scalar autograd engine and the classic graphs.

* :mod:`~imgclass.autograd.engine`: :class:`Value`, a micrograd-sized scalar
  reverse-mode engine (``+ - * / **``, exp, log, sin, cos, tanh, sigmoid,
  log_sigmoid, relu, and a ``choose`` node).
* :mod:`~imgclass.autograd.graphs`: squared error, two-class softmax with a
  choose node, and ``f(x, y, z) = log sigmoid((cos(pi x) + sin(pi y / 2)) / tanh(z^2))``,
  each as staged forward/backward code and through the engine (:data:`GRAPHS`).
* :mod:`~imgclass.autograd.gradcheck`: the centered-difference checker.
* :mod:`~imgclass.autograd.draw`: Graphviz dot text and PNG.

Only the standard library is imported.
"""

from imgclass.autograd.draw import to_dot, write_dot, write_png
from imgclass.autograd.engine import Value, choose, topological_order
from imgclass.autograd.gradcheck import GradCheck, check_engine, check_gradient, numeric_gradient, rel_error
from imgclass.autograd.graphs import GRAPHS, Graph, compare, get_graph

__all__ = [
    "GRAPHS", "GradCheck", "Graph", "Value", "check_engine", "check_gradient", "choose", "compare",
    "get_graph", "numeric_gradient", "rel_error", "to_dot", "topological_order", "write_dot", "write_png",
]
