"""``imgclass report RUN_DIR``: one self-contained HTML page per run directory.

Every figure is embedded as a base64 ``data:`` URI and the only style is an
inline ``<style>`` block, so the page makes no network request (its
Content-Security-Policy forbids any) and can be mailed or archived as one
file. All text from the run directory goes through :func:`html.escape`.
The HTML pieces (tables, figures, the page itself) are in
:mod:`imgclass.evaluate.html`; this module builds one page per kind of run.

What the page shows depends on what the directory holds:

* ``config.json`` of ``imgclass train``: configuration, curves, test metrics, confusion matrix,
  confident mistakes, the record of test-split use, any other PNG in ``plots/``.
* ``seeds.json`` (``train --seeds N``): the spread across seeds (table, box/strip plot, also saved as
  ``plots/seeds.png``, per-class spread) and each seed's curves and confusion matrix.
* ``config.json`` with a ``command`` (``imgclass linear``): configuration, results, loss and class
  templates; a sweep adds its scatter plots and the results table.
* ``sweep.json`` of kind ``optuna-sweep`` (``imgclass sweep``): trials sorted by value, the best
  trial and its figures, every PNG in ``plots/``.
* ``study.json`` (``imgclass study``): the study's table and plot (:func:`.studies.study_report`).
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

from imgclass.errors import ImgclassError
from imgclass.evaluate.html import cards, esc, figure, fmt, grid, kv_table, page, section, side_by_side, table
from imgclass.fileio import atomic_write


# ----------------------------------------------------------------------------- reading


def read_json(path: Path, required: bool = False):
    """The parsed file, or None if it is absent (an error if ``required``); bad JSON is an ImgclassError."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        if required:
            raise ImgclassError(f"{path} is missing") from None
        return None
    except json.JSONDecodeError as e:
        raise ImgclassError(f"{path}: not valid JSON ({e}); rerun the command that wrote it") from None


def resolve(parent: Path, path: str | None) -> Path | None:
    """A path recorded in a JSON file, found again under ``parent`` if the directory tree was moved.

    ``/old/place/sweep/trials/trial-3`` is looked for as ``parent/trial-3``, then ``parent/trials/trial-3``, ...
    """
    if not path:
        return None
    p = Path(path)
    if p.exists():
        return p
    for k in range(1, len(p.parts)):
        moved = parent.joinpath(*p.parts[-k:])
        if moved.exists():
            return moved
    return p


def model_text(model) -> str:
    """A config's model (text form or ModelSpec dict) as its short text form."""
    if isinstance(model, dict):
        from imgclass.modelspec import ModelSpec

        try:
            return ModelSpec.from_dict(model).to_text()
        except Exception:  # noqa: BLE001 - a report shows what it can
            return json.dumps(model)
    return str(model)


def run_kind(run: Path) -> str:
    """'optuna-sweep', 'seeds', 'train-fraction-study', 'baselines-study', 'linear', 'linear-sweep' or 'train'."""
    run = Path(run)
    if not run.is_dir():
        raise ImgclassError(f"{run}: no such directory")
    sweep = read_json(run / "sweep.json")
    if isinstance(sweep, dict) and sweep.get("kind") == "optuna-sweep":
        return "optuna-sweep"
    study = read_json(run / "study.json")
    if isinstance(study, dict) and study.get("kind"):
        return str(study["kind"])
    if (run / "seeds.json").is_file():
        return "seeds"
    cfg = read_json(run / "config.json")
    if cfg is None:
        raise ImgclassError(f"{run}: not a run directory (no config.json, seeds.json, sweep.json or study.json); "
                            "give a directory written by imgclass train, linear, sweep or study")
    return {"linear train": "linear", "linear sweep": "linear-sweep"}.get(cfg.get("command"), "train")


def other_figures(run: Path, shown: set[str]) -> str:
    """Every PNG in ``run/plots`` not embedded yet."""
    rest = [p for p in sorted((run / "plots").glob("*.png")) if p.name not in shown]
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


# ------------------------------------------------------------------------- one page per kind


def _classes(tm: dict) -> list[str]:
    return [r["class"] for r in tm.get("per_class", [])]


def test_sections(run: Path, tm: dict | None, log: list, res: dict | None) -> list[str]:
    """Test metrics, confusion matrix, confident mistakes and the record of test-split use of one run."""
    if tm is None:
        why = ("this run was not evaluated on the test split (model selection keeps it untouched)"
               if res is not None and res.get("test_accuracy") is None else "no test_metrics.json in the run")
        return [section("Test metrics", f"<p>{esc(why)}</p>")]
    names = _classes(tm)
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
    plots = run / "plots"
    return [
        section("Test metrics", summary,
                side_by_side(figure(plots / "per_class.png", "per-class test accuracy"), per_class)),
        section("Confusion matrix", figure(plots / "confusion.png", "rows: true class, columns: predicted class"),
                f"<details><summary>as a table</summary>{cm_table}</details>"),
        section("Most confident mistakes", figure(plots / "mistakes.png", "true → predicted (probability)"),
                f"<details><summary>as a table</summary>{wrong}</details>"),
        section("Test-split use", f"<p>{esc(note)}</p>", uses),
    ]


def train_report(run: Path) -> tuple[str, str, list[str]]:
    """An ``imgclass train`` run: configuration, curves, metrics, confusion matrix, mistakes."""
    cfg = read_json(run / "config.json", required=True)
    data = read_json(run / "data.json") or {}
    res = read_json(run / "results.json")
    tm = read_json(run / "test_metrics.json")
    log = read_json(run / "test_log.json") or []
    title = f"{cfg.get('engine', '?')} {model_text(cfg.get('model'))} on {cfg.get('dataset', '?')}"
    subtitle = f"imgclass train run {run.resolve().name}" + ("" if res else " (not finished: no results.json)")
    r = res or {}
    head = cards({"test accuracy": r.get("test_accuracy"), "best val accuracy": r.get("best_val_accuracy"),
                  "final train accuracy": r.get("final_train_accuracy"), "parameters": r.get("parameters"),
                  "epochs": r.get("epochs_done"), "train seconds": r.get("train_seconds"), "device": r.get("device"),
                  "test-split uses": len(log) if log else None})
    config = {**cfg, "model": model_text(cfg.get("model"))}
    sizes = data.get("sizes", {})
    data_rows = {"classes": len(data.get("classes", [])) or None, "image shape (C, H, W)": data.get("image_shape"),
                 **{f"{k} images": v for k, v in sizes.items()}}
    header, rows = metrics_rows(run / "metrics.csv")
    points = (f"<details><summary>evaluation points (metrics.csv)</summary>{table(header, rows)}</details>"
              if rows else "")
    body = [head, section("Configuration", kv_table(config), "<h3>Data</h3>", kv_table(data_rows, 2)),
            section("Training curves", figure(run / "plots" / "curves.png", "loss and accuracy per epoch"), points),
            *test_sections(run, tm, log, res)]
    body.append(other_figures(run, {"curves.png", "per_class.png", "confusion.png", "mistakes.png"}))
    return title, subtitle, body


def spread_figure(values: dict[str, list[float]], title: str):
    """Box plot with every value drawn on top (one box per metric), for a handful of seeds."""
    from imgclass.data.plots import _plt

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


def _mean_std(v: list[float]) -> tuple[float | None, float | None]:
    if not v:
        return None, None
    m = sum(v) / len(v)
    sd = math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1)) if len(v) > 1 else 0.0
    return round(m, 4), round(sd, 4)


def seeds_report(parent: Path) -> tuple[str, str, list[str]]:
    """A multi-seed parent (``imgclass train --seeds N``): the spread across seeds and each seed's figures."""
    from imgclass.fileio import save_figure

    s = read_json(parent / "seeds.json", required=True)
    cfg = s.get("config", {})
    runs = [resolve(parent, r) for r in s.get("runs", [])]
    results = [read_json(r / "results.json") or {} for r in runs]
    metrics = [read_json(r / "test_metrics.json") for r in runs]
    seeds = s.get("seeds", list(range(len(runs))))
    title = f"{cfg.get('engine', '?')} {model_text(cfg.get('model'))} on {cfg.get('dataset', '?')}: {len(runs)} seeds"
    rows = [[seed, r.get("test_accuracy"), r.get("best_val_accuracy"), r.get("final_train_accuracy"),
             r.get("epochs_done"), r.get("train_seconds"), run.name] for seed, r, run in zip(seeds, results, runs)]
    spread = {"test": [r["test_accuracy"] for r in results if r.get("test_accuracy") is not None],
              "best val": [r["best_val_accuracy"] for r in results if r.get("best_val_accuracy") is not None],
              "final train": [r["final_train_accuracy"] for r in results if r.get("final_train_accuracy") is not None]}
    spread = {k: v for k, v in spread.items() if v}
    stats = [_mean_std([r[c] for r in rows if isinstance(r[c], (int, float))]) for c in range(1, 6)]
    rows += [["mean", *(m for m, _ in stats), ""], ["std (n-1)", *(sd for _, sd in stats), ""]]
    mean, std = s.get("test_accuracy_mean"), s.get("test_accuracy_std")
    head = cards({"test accuracy (mean)": mean, "std across seeds": std, "seeds": len(runs),
                  "min": min(spread.get("test", [math.nan])), "max": max(spread.get("test", [math.nan])),
                  "train seconds (mean)": s.get("train_seconds_mean")})
    body = [head]
    spread_html = ""
    if spread:
        path = save_figure(spread_figure(spread, f"accuracy over {len(runs)} seeds"), parent / "plots" / "seeds.png")
        spread_html = figure(path, "each dot is one seed; box: quartiles, line: median, triangle: mean")
    body.append(section("Spread across seeds", spread_html,
                        table(["seed", "test acc", "best val acc", "final train acc", "epochs", "train s", "run"],
                              rows)))
    per_seed = [m for m in metrics if m]
    if per_seed:
        names = _classes(per_seed[0])
        cls_rows = []
        for k, name in enumerate(names):
            v = [m["per_class"][k]["accuracy"] for m in per_seed]
            cls_rows.append([name, *_mean_std(v), min(v), max(v)])
        body.append(section("Per-class test accuracy across seeds",
                            table(["class", "mean", "std", "min", "max"], cls_rows)))
    body.append(section("Configuration (shared; the seed varies)",
                        kv_table({**cfg, "model": model_text(cfg.get("model"))})))
    figs = []
    for seed, run in zip(seeds, runs):
        figs += [figure(run / "plots" / "curves.png", f"seed {seed}: curves"),
                 figure(run / "plots" / "confusion.png", f"seed {seed}: confusion matrix")]
    body.append(section("Each seed's figures", grid(*figs, two=True)))
    return title, f"imgclass train --seeds run {parent.resolve().name}", body


def linear_report(run: Path) -> tuple[str, str, list[str]]:
    """A linear run (``imgclass linear train``) or sweep (``imgclass linear sweep``)."""
    cfg = read_json(run / "config.json", required=True)
    res = read_json(run / "results.json") or {}
    is_sweep = cfg.get("command") == "linear sweep"
    loss, dataset = cfg.get("loss", "?"), cfg.get("dataset", "?")
    config = {k: v for k, v in cfg.items() if k not in ("classes", "configs", "params")}
    config["classes"] = len(cfg.get("classes", [])) or None
    config.update({f"param {k}": v for k, v in (cfg.get("params") or {}).items()})
    body = []
    if is_sweep:
        title = f"linear {loss} sweep on {dataset}"
        configs = cfg.get("configs", [])
        if configs:
            lrs, regs = [c[0] for c in configs], [c[1] for c in configs]
            config["configs"] = (f"{len(configs)}: lr {min(lrs):.3g}..{max(lrs):.3g}, "
                                 f"reg {min(regs):.3g}..{max(regs):.3g}")
        body.append(cards({"test accuracy (best)": res.get("test_accuracy"), "best val accuracy":
                           res.get("best_val_accuracy"), "best lr": res.get("best_lr"), "best reg": res.get("best_reg"),
                           "configs": res.get("configs"), "diverged": res.get("diverged"),
                           "sweep seconds": res.get("sweep_seconds")}))
    else:
        title = f"linear {loss} on {dataset}"
        body.append(cards({"test accuracy": res.get("test_accuracy"), "val accuracy": res.get("val_accuracy"),
                           "train accuracy": res.get("train_accuracy"), "fit seconds": res.get("fit_seconds")}))
    body.append(section("Configuration", kv_table(config)))
    plots = run / "plots"
    if is_sweep:
        sw = read_json(run / "sweep.json") or {}
        records = sorted(enumerate(sw.get("records", [])),
                         key=lambda ir: (ir[1].get("val_acc") is None, -(ir[1].get("val_acc") or 0.0)))
        rows = [[rank + 1, r.get("lr"), r.get("reg"), r.get("train_acc"), r.get("val_acc"), r.get("final_loss"),
                 r.get("diverged_at") if r.get("diverged") else "no"] for rank, (_, r) in enumerate(records)]
        best = next((i for i, (k, _) in enumerate(records) if k == sw.get("best_index")), None)
        body.append(section("Sweep", grid(figure(plots / "sweep_val_acc.png", "validation accuracy by lr and reg"),
                                          figure(plots / "sweep_train_acc.png", "training accuracy by lr and reg")),
                            "<h3>Results (sorted by validation accuracy)</h3>",
                            table(["rank", "lr", "reg", "train acc", "val acc", "final loss", "diverged at"], rows,
                                  highlight=best)))
    body.append(section("Results", kv_table({k: v for k, v in res.items() if not str(k).endswith("plot")
                                             and k != "run_dir"})))
    body.append(section("Training", figure(plots / "loss.png", "training loss per SGD iteration"),
                        figure(plots / "templates.png", "learned weights per class")))
    body.append(other_figures(run, {"loss.png", "templates.png", "sweep_val_acc.png", "sweep_train_acc.png"}))
    return title, f"imgclass {cfg.get('command')} run {run.resolve().name}", body


def optuna_report(run: Path) -> tuple[str, str, list[str]]:
    """An ``imgclass sweep`` directory: ``sweep.json`` (trials, best) and every PNG in ``plots/``.

    Needs the contract's keys (``trials`` with number, state, params, value, run_dir; ``best``); shows
    ``note``, ``worker``, ``sampler``, ``pruner`` and the base ``config`` when the file has them.
    """
    sw = read_json(run / "sweep.json", required=True)
    trials = sw.get("trials")
    if not isinstance(trials, list):
        raise ImgclassError(f"{run / 'sweep.json'}: no 'trials' list; rerun the sweep")
    direction = sw.get("direction", "maximize")
    sign = -1.0 if direction == "maximize" else 1.0
    ordered = sorted(trials, key=lambda t: (t.get("value") is None, sign * (t.get("value") or 0.0), t.get("number", 0)))
    names: list[str] = []
    for t in ordered:
        names += [k for k in (t.get("params") or {}) if k not in names]
    extra = [k for k in ("worker", "note") if any(t.get(k) for t in trials)]
    best = sw.get("best") or {}
    rows = [[i + 1, t.get("number"), t.get("state"), t.get("value"), *((t.get("params") or {}).get(n) for n in names),
             Path(t["run_dir"]).name if t.get("run_dir") else None, *(t.get(k) for k in extra)]
            for i, t in enumerate(ordered)]
    hi = next((i for i, t in enumerate(ordered) if best and t.get("number") == best.get("number")), None)
    states = [str(t.get("state")) for t in trials]
    head = cards({"best value (val accuracy)": best.get("value"),
                  "test accuracy of the best": best.get("test_accuracy"),
                  "trials": len(trials), "complete": states.count("COMPLETE"), "pruned": states.count("PRUNED"),
                  "failed": states.count("FAIL") or None})
    about = {k: sw[k] for k in ("study", "storage", "direction", "sampler", "pruner", "trials_requested") if k in sw}
    about.update({"best trial": best.get("number"), "best run": best.get("run_dir")})
    body = [head, section("Study", side_by_side(
                kv_table(about), f"<div><h3>Best parameters</h3>{kv_table(best.get('params') or {})}</div>")),
            section(f"Trials (sorted by value, {direction})",
                    table(["rank", "trial", "state", "value", *names, "run", *extra], rows, highlight=hi, wide=True))]
    pngs = sorted((run / "plots").glob("*.png"))
    if pngs:
        body.append(section("Sweep figures", grid(*(figure(p, p.stem.replace("_", " ")) for p in pngs))))
    best_run = resolve(run, best.get("run_dir"))
    if best_run is not None and (best_run / "plots").is_dir():
        body.append(section(f"Best trial ({best_run.name})",
                            grid(*(figure(best_run / "plots" / f, f"best trial: {f[:-4]}")
                                   for f in ("curves.png", "confusion.png") if (best_run / "plots" / f).is_file()),
                                 two=True)))
    if isinstance(sw.get("config"), dict):
        cfg = sw["config"]
        body.append(section("Base configuration (each trial changes the parameters above)",
                            kv_table({**cfg, "model": model_text(cfg.get("model"))})))
    return f"optuna sweep {sw.get('study', '')}".strip(), f"imgclass sweep directory {run.resolve().name}", body


# ----------------------------------------------------------------------------- building


def build_report(run_dir: str | Path) -> str:
    """The HTML text of the report for any run directory imgclass writes (see the module docstring)."""
    from imgclass.evaluate.studies import study_report

    run = Path(run_dir)
    kind = run_kind(run)
    builder = {"train": train_report, "seeds": seeds_report, "linear": linear_report, "linear-sweep": linear_report,
               "optuna-sweep": optuna_report, "train-fraction-study": study_report,
               "baselines-study": study_report}.get(kind)
    if builder is None:
        raise ImgclassError(f"{run}: unknown kind of directory {kind!r} in its study.json")
    title, subtitle, body = builder(run)
    return page(title, subtitle, body)


def write_report(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write the report (default ``RUN_DIR/report.html``) atomically; return its path."""
    text = build_report(run_dir)
    out = Path(out) if out is not None else Path(run_dir) / "report.html"
    with atomic_write(out, "w") as f:
        f.write(text)
    return out
