"""``imgclass report RUN_DIR``: one self-contained HTML page per run directory.

Every figure is embedded as a base64 ``data:`` URI and the only style is an
inline ``<style>`` block, so the page makes no network request (its
Content-Security-Policy forbids any) and can be mailed or archived as one
file. All text from the run directory goes through :func:`html.escape`.
The HTML pieces (tables, figures, the page itself) are in
:mod:`imgclass.evaluate.html`. The run is read through :class:`imgclass.runs.Run`
only; the page depends on its kind:

* ``train``: configuration, curves, test metrics, confusion matrix, confident mistakes, the record of
  test-split use, any other PNG in ``plots/``.
* ``seeds`` (``train --seeds N``): the spread across seeds (table, box/strip plot, also saved as
  ``plots/seeds.png``, per-class spread) and each seed's curves and confusion matrix.
* ``linear`` / ``linear-sweep``: configuration, results, loss and class templates, test metrics; a sweep adds
  its scatter plots and the results table.
* ``sweep`` (Optuna): trials sorted by value, the best trial and its figures, every PNG in ``plots/``.
* ``study``: the study's table and plot.

One page builder per kind is in :mod:`imgclass.evaluate.pages`, their shared pieces in
:mod:`imgclass.evaluate.sections`.
"""

from __future__ import annotations

from pathlib import Path

from imgclass.errors import ImgclassError
from imgclass.evaluate.html import html_target, page
from imgclass.evaluate.pages import PAGES
from imgclass.fileio import atomic_write
from imgclass.runs import Run
from imgclass.runs.files import REPORT


def build_report(run_dir: str | Path) -> str:
    """The HTML text of the report for any run directory imgclass writes."""
    run = Run.open(run_dir)
    builder = PAGES.get(run.kind)
    if builder is None:
        raise ImgclassError(f"{run.path}: no report for a {run.kind} directory")
    title, subtitle, body = builder(run)
    return page(title, subtitle, body)


def write_report(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write the report (default ``RUN_DIR/report.html``) atomically; return its path."""
    text = build_report(run_dir)
    out = html_target(out, REPORT) if out is not None else Path(run_dir) / REPORT
    with atomic_write(out, "w") as f:
        f.write(text)
    return out
