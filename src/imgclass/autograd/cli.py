"""``imgclass graph``: evaluate a classic computational graph, staged and by autograd, and draw it.

Added by :mod:`imgclass.cli`. Importing this module imports nothing beyond the
standard library (a test checks it); the library code, and ``emit`` with it, load
when the command runs.
"""

from __future__ import annotations

import argparse
import sys

_GRAPH_NAMES = ("f", "squared-error", "softmax2")  # == tuple(imgclass.autograd.graphs.GRAPHS), checked by a test


def add_commands(sub, command) -> None:
    """Add ``graph`` to the top-level subparsers ``sub`` (``command`` as in :mod:`imgclass.cli`)."""
    p = command(sub, "graph", cmd_graph,
                "value and gradient of a classic computational graph (default: f at its four standard points) "
                "by staged backward code and by the autograd engine; draw it with --dot/--png")
    p.add_argument("--graph", choices=_GRAPH_NAMES, default="f",
                   help="f: log sigmoid((cos(pi x) + sin(pi y / 2)) / tanh(z^2)) at X Y Z, standard points "
                        "(2, 4, 1), (9, 14, 3), (128, 42, 666), (52, 14, 28); squared-error: (yhat - y)^2 at YHAT Y; "
                        "softmax2: p_y of scores S1 S2 for the label Y in {1, 2}; exit 1 if the two versions disagree")
    p.add_argument("--at", type=float, nargs="+", action="append", metavar="V",
                   help="evaluate at this point instead of the graph's standard points (repeat for several; "
                        "f: X Y Z, squared-error: YHAT Y, softmax2: S1 S2 Y)")
    p.add_argument("--dot", metavar="FILE", default=None,
                   help="write the engine graph at the first point as Graphviz dot text ('-' = standard output)")
    p.add_argument("--png", metavar="FILE", default=None,
                   help="render the engine graph at the first point to PNG (needs Graphviz's 'dot' program)")


def _table(graph, rows: list[dict]) -> str:
    names = list(graph.inputs) + ([graph.label] if graph.label else [])
    header = [f"{n:>8}" for n in names] + [f"{graph.name:>22}"] + [f"{'d/d' + n:>22}" for n in graph.inputs]
    lines = [graph.formula, " ".join(header)]
    for r in rows:
        cells = [f"{v:>8g}" for v in r["at"]] + [f"{r['value']:>22.15g}"]
        cells += [f"{g:>22.15g}" for g in r["grad"].values()]
        lines.append(" ".join(cells))
    return "\n".join(lines)


def cmd_graph(args: argparse.Namespace) -> int:
    from imgclass.autograd.draw import render_png, to_dot
    from imgclass.autograd.graphs import compare, get_graph
    from imgclass.cliargs import emit

    graph = get_graph(args.graph)
    points = [tuple(p) for p in args.at] if args.at else list(graph.points)
    rows = [compare(graph.name, p) for p in points]
    agree = all(r["agree"] for r in rows)
    worst = max(r["max_abs_diff"] for r in rows)
    text = _table(graph, rows) + (f"\nstaged backward and autograd engine agree (largest difference {worst:.2g})"
                                  if agree else "\nstaged backward and autograd engine DISAGREE")
    result = {"graph": graph.name, "formula": graph.formula, "inputs": list(graph.inputs),
              "label": graph.label or None, "points": rows, "agree": agree, "dot": None, "png": None}
    if args.dot or args.png:
        _, _, root = graph.autograd(points[0])
        dot = to_dot(root, name=graph.name)
        if args.dot == "-":
            text = dot + text
            result["dot"] = "-"
        elif args.dot:
            from pathlib import Path

            path = Path(args.dot)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(dot)
            text += f"\nwrote {path}"
            result["dot"] = str(path)
        if args.png:
            text += f"\nwrote {render_png(dot, args.png)}"
            result["png"] = str(args.png)
    emit(args, text, result)
    if not agree:
        print("imgclass: error: the staged backward pass and the autograd engine disagree", file=sys.stderr)
        return 1
    return 0
