"""The pieces every report page shares: test sections, metrics tables, the seeds' spread, other figures."""

from __future__ import annotations

import csv
import math
from pathlib import Path

from imgclass.data.plots import _plt
from imgclass.evaluate.html import esc, figure, fmt, grid, kv_table, section, side_by_side, table
from imgclass.modelspec import spec_text
from imgclass.runs import Run
from imgclass.runs.files import TEST_METRICS


def other_figures(run: Run, shown: set[str]) -> str:
    """Every PNG in ``run/plots`` not embedded yet."""
    rest = [p for p in sorted(run.plots.glob("*.png")) if p.name not in shown]
    return section("Other figures", grid(*(figure(p, p.stem) for p in rest))) if rest else ""


def metrics_rows(path: Path, limit: int = 40) -> tuple[list[str], list[list]]:
    """metrics.csv as (header, rows), thinned evenly to at most ``limit`` rows (the last row always kept)."""
    try:
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
    except FileNotFoundError:
        return [], []
    if not rows:
        return [], []
    header, body = rows[0], rows[1:]
    if len(body) > limit:
        step = math.ceil(len(body) / limit)
        body = body[::step] + ([body[-1]] if (len(body) - 1) % step else [])
    return header, [[_number(v) for v in r] for r in body]


def _number(text: str):
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


def classes_of(tm: dict) -> list[str]:
    return [r["class"] for r in tm.get("per_class", [])]


def config_table(cfg: dict) -> str:
    """A config as a key/value table, the model in its text form."""
    return kv_table({**cfg, **({"model": spec_text(cfg["model"])} if "model" in cfg else {})})


def test_sections(run: Run, res: dict | None) -> list[str]:
    """Test metrics, confusion matrix, confident mistakes and the record of test-split use of one run."""
    tm, log = run.read(TEST_METRICS), run.test_log()
    if tm is None:
        why = ("this run was not evaluated on the test split (model selection keeps it untouched)"
               if res is not None and res.get("test_accuracy") is None else "no test metrics in the run")
        return [section("Test metrics", f"<p>{esc(why)}</p>")]
    names = classes_of(tm)
    summary = (f"<p>Test accuracy <b>{esc(fmt(tm.get('accuracy')))}</b> on {esc(tm.get('count'))} images, macro F1 "
               f"{esc(fmt(tm.get('macro_f1')))}; best class <b>{esc(tm.get('best_class'))}</b> "
               f"({esc(fmt(tm.get('best_class_accuracy')))}), worst class <b>{esc(tm.get('worst_class'))}</b> "
               f"({esc(fmt(tm.get('worst_class_accuracy')))}).</p>")
    per_class = table(["class", "accuracy", "precision", "F1", "images"],
                      [[r["class"], r["accuracy"], r["precision"], r["f1"], r["count"]] for r in tm["per_class"]])
    cm = tm.get("confusion_matrix", [])
    cm_table = table(["true \\ predicted", *names], [[names[i], *row] for i, row in enumerate(cm)])
    mistakes = tm.get("mistakes", [])
    wrong = table(["rank", "test image", "true", "predicted", "probability"],
                  [[i + 1, m["index"], names[m["true"]], names[m["pred"]], m["prob"]] for i, m in enumerate(mistakes)])
    uses = table(["#", "by", "time", "images"], [[i + 1, e.get("by"), e.get("time"), e.get("images")]
                                                 for i, e in enumerate(log)])
    note = ("The test split was used once, at the end of training." if len(log) == 1 else
            f"The test split was used {len(log)} times for this run; only the first use is an unbiased estimate.")
    plots = run.plots
    return [
        section("Test metrics", summary,
                side_by_side(figure(plots / "per_class.png", "per-class test accuracy"), per_class)),
        section("Confusion matrix", figure(plots / "confusion.png", "rows: true class, columns: predicted class"),
                f"<details><summary>as a table</summary>{cm_table}</details>"),
        section("Most confident mistakes", figure(plots / "mistakes.png", "true → predicted (probability)"),
                f"<details><summary>as a table</summary>{wrong}</details>"),
        section("Test-split use", f"<p>{esc(note)}</p>", uses),
    ]


def spread_figure(values: dict[str, list[float]], title: str):
    """Box plot with every value drawn on top (one box per metric), for a handful of seeds."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(1.8 * len(values) + 2.5, 4))
    names = list(values)
    ax.boxplot([values[n] for n in names], widths=0.5, showmeans=True)
    for i, n in enumerate(names, start=1):
        v = values[n]
        offsets = [0.0] if len(v) == 1 else [-0.12 + 0.24 * j / (len(v) - 1) for j in range(len(v))]
        ax.scatter([i + o for o in offsets], v, zorder=3, s=25, color="tab:red")
    ax.set_xticks(range(1, len(names) + 1), names)
    ax.set_ylabel("accuracy")
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def mean_std(v: list[float]) -> tuple[float | None, float | None]:
    if not v:
        return None, None
    m = sum(v) / len(v)
    sd = math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1)) if len(v) > 1 else 0.0
    return round(m, 4), round(sd, 4)
