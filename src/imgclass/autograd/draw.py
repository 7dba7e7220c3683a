"""Draw an engine graph: Graphviz dot text, and PNG through the ``dot`` program. Written from scratch.

Each :class:`~imgclass.autograd.engine.Value` becomes one record node showing
its label, the operation that made it (``leaf`` for a labelled leaf such as
an input, ``const`` for an unlabelled one), its value and its gradient. Edges
run from inputs to the node they feed; for operations whose argument order
matters (``/``, ``**``, ``choose``) each edge is numbered by argument position.
A value used twice (``z * z``) has two edges into the same node.

PNG rendering runs the Graphviz ``dot`` executable (found with
:func:`shutil.which`); there is no Python Graphviz dependency. Without it,
:func:`write_png` raises :class:`~imgclass.errors.ImgclassError` saying how
to install it.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from imgclass.autograd.engine import Value, topological_order
from imgclass.errors import ImgclassError

_ORDERED_OPS = ("/", "**", "choose")
_RECORD_SPECIAL = '\\{}|<>"'


def _escape(text: str) -> str:
    """Backslash-escape the characters that are syntax inside a dot record label."""
    return "".join("\\" + ch if ch in _RECORD_SPECIAL else ch for ch in text)


def _op_text(node: Value) -> str:
    if node.op:
        return node.op
    return "leaf" if node.label else "const"


def to_dot(root: Value, rankdir: str = "LR", fmt: str = ".6g", name: str = "graph") -> str:
    """Graphviz dot text for ``root`` and everything it depends on.

    Parameters
    ----------
    root : Value
        The output node (usually after ``root.backward()``, so gradients are filled in).
    rankdir : {"LR", "TB"}
        Left-to-right or top-to-bottom layout.
    fmt : str
        Format spec for values and gradients.
    name : str
        The digraph's name (quoted, so keywords such as ``graph`` are fine).
    """
    if rankdir not in ("LR", "TB"):
        raise ImgclassError(f"rankdir must be 'LR' or 'TB', got {rankdir!r}")
    nodes = topological_order(root)
    ids = {id(n): f"n{i}" for i, n in enumerate(nodes)}
    lines = [f'digraph "{_escape(name)}" {{', f"  rankdir={rankdir};", "  node [shape=record, fontname=Helvetica];"]
    for n in nodes:
        fields = [_escape(n.label)] if n.label else []
        fields += [_escape(_op_text(n)), f"value {format(n.data, fmt)}", f"grad {format(n.grad, fmt)}"]
        style = ', style=bold' if n is root else ""
        lines.append(f'  {ids[id(n)]} [label="{{ {" | ".join(fields)} }}"{style}];')
    for n in nodes:
        ordered = any(n.op.startswith(op) for op in _ORDERED_OPS) and len(n.inputs) > 1
        for k, child in enumerate(n.inputs):
            attr = f' [label="{k + 1}"]' if ordered else ""
            lines.append(f"  {ids[id(child)]} -> {ids[id(n)]}{attr};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def write_dot(root: Value, path: str | Path, **kwargs) -> Path:
    """Write :func:`to_dot` text to ``path`` (parent folders are created); return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(to_dot(root, **kwargs))
    return path


def find_dot() -> str:
    """The path of Graphviz's ``dot`` program, or an :class:`ImgclassError` saying how to install it."""
    exe = shutil.which("dot")
    if exe is None:
        raise ImgclassError("rendering PNG needs Graphviz's 'dot' program, which is not on PATH: install Graphviz "
                            "(Debian/Ubuntu: apt-get install graphviz; macOS: brew install graphviz; conda: conda "
                            "install graphviz), or write dot text with --dot and render it elsewhere")
    return exe


def render_png(dot_text: str, path: str | Path, timeout: float = 60.0) -> Path:
    """Render dot text to a PNG file with ``dot -Tpng``; return the path."""
    exe = find_dot()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        proc = subprocess.run([exe, "-Tpng", "-o", str(path)], input=dot_text, text=True,
                              capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ImgclassError(f"Graphviz 'dot' did not finish within {timeout:g} s") from None
    if proc.returncode != 0:
        raise ImgclassError(f"Graphviz 'dot' failed (exit {proc.returncode}): {proc.stderr.strip()}")
    return path


def write_png(root: Value, path: str | Path, **kwargs) -> Path:
    """Draw ``root``'s graph to a PNG file (needs Graphviz's ``dot``); return the path."""
    return render_png(to_dot(root, **kwargs), path)
