"""Imports point one way: no cycle between imgclass modules, function-local imports included.

The graph is read from the source with ``ast`` (every ``import`` / ``from ... import``
statement, wherever it stands), so an import hidden inside a function counts like one at
the top of the module.
"""

from __future__ import annotations

import ast
from pathlib import Path

import imgclass

SRC = Path(imgclass.__file__).parent


def module_names() -> dict[str, Path]:
    mods = {}
    for path in SRC.rglob("*.py"):
        parts = ("imgclass", *path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = path
    return mods


def import_graph() -> dict[str, set[str]]:
    """module -> the imgclass modules it imports (``from pkg import name`` resolves to ``pkg.name`` if a module)."""
    mods = module_names()

    def resolve(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {m: set() for m in mods}
    for name, path in mods.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [f"{node.module}.{a.name}" for a in node.names]
            else:
                continue
            for t in targets:
                if t.startswith("imgclass"):
                    r = resolve(t)
                    if r and r != name:
                        graph[name].add(r)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_no_import_cycle_between_imgclass_modules():
    assert cycles(import_graph()) == []


def test_the_checker_finds_a_cycle_hidden_in_a_function():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    graph = import_graph()
    assert "imgclass.train.torch_engine" in graph["imgclass.train.engines"]  # imported inside build_engine


def test_train_never_imports_evaluate_and_studies_live_outside_it():
    graph = import_graph()
    train = [m for m in graph if m.startswith("imgclass.train")]
    assert not [(m, t) for m in train for t in graph[m] if t.startswith("imgclass.evaluate")]
    assert not [m for m in graph if m.startswith("imgclass.evaluate") and "stud" in m]
    assert "imgclass.studies.train_fraction" in graph and "imgclass.studies.baselines" in graph


def test_run_files_are_opened_by_name_only_in_imgclass_runs():
    """Nothing outside imgclass.runs spells a run directory's JSON file names."""
    names = ('"config.json"', '"results.json"', '"data.json"', '"test_log.json"', '"test_metrics.json"',
             '"seeds.json"', '"study.json"', '"sweep.json"')
    offenders = [(m, n) for m, path in module_names().items() if not m.startswith("imgclass.runs")
                 for n in names if n in path.read_text()]
    assert offenders == []
