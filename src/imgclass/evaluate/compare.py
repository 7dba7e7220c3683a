"""``imgclass compare RUN_DIR...``: runs side by side, in the terminal and as one HTML page.

Each directory becomes one row: model, engine, dataset, parameter count,
the hyperparameters, test and validation accuracy, training time. Only the
hyperparameters that differ between the runs are shown (all of them when
there is a single run; always those an optuna sweep tuned), so the table
says what changed.
"""

from __future__ import annotations

import json
from pathlib import Path

from imgclass.errors import ImgclassError
from imgclass.evaluate.html import html_target, page, section, table
from imgclass.fileio import atomic_write
from imgclass.runs import Run

COLUMNS = ("run", "kind", "model", "engine", "dataset", "weights", "parameters", "test_accuracy", "val_accuracy",
           "train_seconds")


def summarize_run(run_dir: str | Path) -> dict:
    """One row of the comparison for any run directory but a study, from its results (the one schema)."""
    run = Run.open(run_dir)
    if run.kind == "study":
        raise ImgclassError(f"{run.path} is a study; compare its runs, or render it with 'imgclass report {run.path}'")
    res = run.results() or {}
    row = {"run": run.name, "path": str(run.path), "kind": run.kind, "model": res.get("model") or "?",
           "engine": res.get("engine"), "dataset": res.get("dataset"), "weights": res.get("parameters"),
           "hyper": dict(res.get("hyperparameters") or {}), "test_accuracy": res.get("test_accuracy"),
           "test_accuracy_std": res.get("test_accuracy_std"), "val_accuracy": res.get("val_accuracy"),
           "train_seconds": res.get("train_seconds"), "tuned": list(res.get("tuned") or [])}
    if not res:  # an unfinished run: its configuration is all there is
        cfg = run.config()
        row.update(model=str(cfg.get("model", "?")), dataset=cfg.get("dataset"), engine=cfg.get("engine"))
    return row


def _same(values: list) -> bool:
    return all(json.dumps(v, sort_keys=True) == json.dumps(values[0], sort_keys=True) for v in values)


def compare_runs(run_dirs: list[str | Path]) -> dict:
    """Rows for ``run_dirs`` (in the order given), each with ``parameters``: its hyperparameters that differ.

    Returns ``{"runs": [row, ...], "varying": [key, ...], "best": index of the best test accuracy or None}``.
    """
    if not run_dirs:
        raise ImgclassError("give at least one run directory to compare")
    rows = [summarize_run(d) for d in run_dirs]
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r["hyper"] if k not in keys]
    # a key varies when the runs that have it disagree (a key only some kinds of run have is not a difference)
    def varies(k: str) -> bool:
        return not _same([r["hyper"][k] for r in rows if k in r["hyper"]]) or any(k in r.get("tuned", ()) for r in rows)

    varying = keys if len(rows) == 1 else [k for k in keys if varies(k)]
    for r in rows:
        r["parameters"] = {k: r["hyper"][k] for k in varying if k in r["hyper"]}
    best = max((i for i, r in enumerate(rows) if r.get("test_accuracy") is not None),
               key=lambda i: rows[i]["test_accuracy"], default=None)
    return {"runs": rows, "varying": varying, "best": best}


def _params_text(p: dict) -> str:
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in p.items()) or "-"


def _acc_text(r: dict) -> str:
    if r.get("test_accuracy") is None:
        return "-"
    std = r.get("test_accuracy_std")
    return f"{r['test_accuracy']:.4f}" + (f" ± {std:.4f}" if std is not None else "")


def format_comparison(c: dict) -> str:
    """A terminal table, one line per run; the best test accuracy is starred."""
    head = ["", "run", "model", "engine", "dataset", "weights", "test acc", "val acc", "train s", "parameters"]
    body = [["*" if i == c["best"] else "", r["run"], r["model"], r["engine"] or "-", r["dataset"] or "-",
             f"{r['weights']:,}" if r.get("weights") else "-", _acc_text(r),
             "-" if r.get("val_accuracy") is None else f"{r['val_accuracy']:.4f}",
             "-" if r.get("train_seconds") is None else f"{r['train_seconds']:.2f}", _params_text(r["parameters"])]
            for i, r in enumerate(c["runs"])]
    widths = [max(len(str(row[j])) for row in [head, *body]) for j in range(len(head))]
    right = {5, 6, 7, 8}
    lines = ["  ".join(str(v).rjust(w) if j in right else str(v).ljust(w) for j, (v, w) in enumerate(zip(row, widths)))
             .rstrip() for row in [head, *body]]
    note = ("parameters: those that differ between the runs" if len(c["runs"]) > 1 else "parameters: all")
    return "\n".join(lines + ["", note])


def comparison_html(c: dict) -> str:
    """The comparison as a self-contained HTML page (see :mod:`imgclass.evaluate.html`)."""
    header = ["run", "kind", "model", "engine", "dataset", "weights", "test acc", "val acc", "train s", *c["varying"]]
    rows = [[r["run"], r["kind"], r["model"], r["engine"], r["dataset"], r.get("weights"),
             _acc_text(r) if r.get("test_accuracy_std") is not None else r.get("test_accuracy"),
             r.get("val_accuracy"), r.get("train_seconds"), *(r["hyper"].get(k) for k in c["varying"])]
            for r in c["runs"]]
    paths = table(["run", "directory"], [[r["run"], r["path"]] for r in c["runs"]])
    note = (f"<p>Shaded: the best test accuracy. Parameter columns: the {len(c['varying'])} hyperparameters that "
            "differ between the runs.</p>" if len(c["runs"]) > 1 else "")
    body = [section("Runs side by side", note, table(header, rows, highlight=c["best"], wide=True)),
            section("Directories", paths)]
    return page(f"imgclass: {len(c['runs'])} runs compared", "imgclass compare", body)


def write_comparison_html(c: dict, out: str | Path) -> Path:
    out = html_target(out, "comparison.html")
    with atomic_write(out, "w") as f:
        f.write(comparison_html(c))
    return out
