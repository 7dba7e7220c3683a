"""One report page per kind of run directory, each read through :class:`imgclass.runs.Run`.

Each builder takes the run and returns ``(title, subtitle, body sections)``; :data:`PAGES`
maps a run's kind to its builder (used by :func:`imgclass.evaluate.report.build_report`).
"""

from __future__ import annotations

import math
from pathlib import Path

from imgclass.errors import ImgclassError
from imgclass.evaluate.html import cards, figure, fmt, grid, kv_table, section, side_by_side, table
from imgclass.evaluate.sections import (classes_of, config_table, mean_std, metrics_rows, other_figures, spread_figure,
                                        test_sections)
from imgclass.fileio import save_figure
from imgclass.modelspec import spec_text
from imgclass.runs import Run, resolve
from imgclass.runs.files import METRICS, SWEEP, TEST_METRICS


def train_page(run: Run) -> tuple[str, str, list[str]]:
    """An ``imgclass train`` run: configuration, curves, metrics, confusion matrix, mistakes."""
    cfg, data, res = run.config(), run.data(), run.results()
    title = f"{cfg.get('engine', '?')} {spec_text(cfg.get('model'))} on {cfg.get('dataset', '?')}"
    subtitle = f"imgclass train run {run.name}" + ("" if res else " (not finished: no results.json)")
    r = res or {}
    log = run.test_log()
    head = cards({"test accuracy": r.get("test_accuracy"), "best val accuracy": r.get("val_accuracy"),
                  "final train accuracy": r.get("train_accuracy"), "parameters": r.get("parameters"),
                  "epochs": r.get("epochs_done"), "train seconds": r.get("train_seconds"), "device": r.get("device"),
                  "test-split uses": len(log) if log else None})
    sizes = data.get("sizes", {})
    data_rows = {"classes": len(data.get("classes", [])) or None, "image shape (C, H, W)": data.get("image_shape"),
                 **{f"{k} images": v for k, v in sizes.items()}}
    header, rows = metrics_rows(run.file(METRICS))
    points = (f"<details><summary>evaluation points (metrics.csv)</summary>{table(header, rows)}</details>"
              if rows else "")
    body = [head, section("Configuration", config_table(cfg), "<h3>Data</h3>", kv_table(data_rows, 2)),
            section("Training curves", figure(run.plots / "curves.png", "loss and accuracy per epoch"), points),
            *test_sections(run, res)]
    body.append(other_figures(run, {"curves.png", "per_class.png", "confusion.png", "mistakes.png"}))
    return title, subtitle, body


def seeds_page(parent: Run) -> tuple[str, str, list[str]]:
    """A multi-seed parent (``imgclass train --seeds N``): the spread across seeds and each seed's figures."""
    s = parent.results() or {}
    cfg = parent.config().get("config", {})
    runs = [Run(resolve(parent.path, r), "train") for r in s.get("runs", [])]
    results = [r.results() or {} for r in runs]
    metrics = [r.read(TEST_METRICS) for r in runs]
    seeds = s.get("seeds", list(range(len(runs))))
    title = f"{cfg.get('engine', '?')} {spec_text(cfg.get('model'))} on {cfg.get('dataset', '?')}: {len(runs)} seeds"
    rows = [[seed, r.get("test_accuracy"), r.get("val_accuracy"), r.get("train_accuracy"),
             r.get("epochs_done"), r.get("train_seconds"), run.path.name] for seed, r, run in zip(seeds, results, runs)]
    spread = {label: [r[key] for r in results if r.get(key) is not None]
              for label, key in (("test", "test_accuracy"), ("best val", "val_accuracy"),
                                 ("final train", "train_accuracy"))}
    spread = {k: v for k, v in spread.items() if v}
    stats = [mean_std([r[c] for r in rows if isinstance(r[c], (int, float))]) for c in range(1, 6)]
    rows += [["mean", *(m for m, _ in stats), ""], ["std (n-1)", *(sd for _, sd in stats), ""]]
    head = cards({"test accuracy (mean)": s.get("test_accuracy"), "std across seeds": s.get("test_accuracy_std"),
                  "seeds": len(runs), "min": min(spread.get("test", [math.nan])),
                  "max": max(spread.get("test", [math.nan])), "train seconds (mean)": s.get("train_seconds")})
    body = [head]
    spread_html = ""
    if spread:
        path = save_figure(spread_figure(spread, f"accuracy over {len(runs)} seeds"), parent.plots / "seeds.png")
        spread_html = figure(path, "each dot is one seed; box: quartiles, line: median, triangle: mean")
    body.append(section("Spread across seeds", spread_html,
                        table(["seed", "test acc", "best val acc", "final train acc", "epochs", "train s", "run"],
                              rows)))
    per_seed = [m for m in metrics if m]
    if per_seed:
        cls_rows = []
        for k, name in enumerate(classes_of(per_seed[0])):
            v = [m["per_class"][k]["accuracy"] for m in per_seed]
            cls_rows.append([name, *mean_std(v), min(v), max(v)])
        body.append(section("Per-class test accuracy across seeds",
                            table(["class", "mean", "std", "min", "max"], cls_rows)))
    body.append(section("Configuration (shared; the seed varies)", config_table(cfg)))
    figs = []
    for seed, run in zip(seeds, runs):
        figs += [figure(run.plots / "curves.png", f"seed {seed}: curves"),
                 figure(run.plots / "confusion.png", f"seed {seed}: confusion matrix")]
    body.append(section("Each seed's figures", grid(*figs, two=True)))
    return title, f"imgclass train --seeds run {parent.name}", body


def linear_page(run: Run) -> tuple[str, str, list[str]]:
    """A linear run (``imgclass linear train``) or sweep (``imgclass linear sweep``)."""
    cfg, res = run.config(), run.results() or {}
    is_sweep = run.kind == "linear-sweep"
    loss, dataset = cfg.get("loss", "?"), cfg.get("dataset", "?")
    config = {k: v for k, v in cfg.items() if k not in ("configs",)}
    config["classes"] = len(run.data().get("classes", [])) or None
    body = []
    if is_sweep:
        title = f"linear {loss} sweep on {dataset}"
        configs = cfg.get("configs") or [(r["lr"], r["reg"]) for r in (run.read(SWEEP) or {}).get("records", [])]
        if configs:
            lrs, regs = [c[0] for c in configs], [c[1] for c in configs]
            config["configs"] = (f"{len(configs)}: lr {min(lrs):.3g}..{max(lrs):.3g}, "
                                 f"reg {min(regs):.3g}..{max(regs):.3g}")
        body.append(cards({"test accuracy (best)": res.get("test_accuracy"), "best val accuracy":
                           res.get("val_accuracy"), "best lr": res.get("lr"), "best reg": res.get("reg"),
                           "configs": res.get("configs"), "diverged": res.get("diverged"),
                           "sweep seconds": res.get("train_seconds")}))
    else:
        title = f"linear {loss} on {dataset}"
        body.append(cards({"test accuracy": res.get("test_accuracy"), "val accuracy": res.get("val_accuracy"),
                           "train accuracy": res.get("train_accuracy"), "fit seconds": res.get("train_seconds")}))
    body.append(section("Configuration", kv_table(config)))
    plots = run.plots
    if is_sweep:
        sw = run.read(SWEEP) or {}
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
    body.append(section("Results", kv_table({k: v for k, v in res.items()
                                             if k not in ("run_dir", "plots", "hyperparameters", "tuned")})))
    body.append(section("Training", figure(plots / "loss.png", "training loss per SGD iteration"),
                        figure(plots / "templates.png", "learned weights per class")))
    if run.read(TEST_METRICS) is not None:
        body += test_sections(run, res)
    body.append(other_figures(run, {"loss.png", "templates.png", "sweep_val_acc.png", "sweep_train_acc.png",
                                    "per_class.png", "confusion.png", "mistakes.png"}))
    return title, f"imgclass {run.kind.replace('-', ' ')} run {run.name}", body


def sweep_page(run: Run) -> tuple[str, str, list[str]]:
    """An ``imgclass sweep`` directory: its trials (``sweep.json``), the best and every PNG in ``plots/``.

    Needs the record's keys (``trials`` with number, state, params, value, run_dir; ``best``); shows
    ``note``, ``worker``, ``sampler``, ``pruner`` and the base ``config`` when the record has them.
    """
    sw = run.read(SWEEP, required=True)
    trials = sw.get("trials")
    if not isinstance(trials, list):
        raise ImgclassError(f"{run.file(SWEEP)}: no 'trials' list; rerun the sweep")
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
    pngs = sorted(run.plots.glob("*.png"))
    if pngs:
        body.append(section("Sweep figures", grid(*(figure(p, p.stem.replace("_", " ")) for p in pngs))))
    best_run = resolve(run.path, best.get("run_dir"))
    if best_run is not None and (best_run / "plots").is_dir():
        body.append(section(f"Best trial ({best_run.name})",
                            grid(*(figure(best_run / "plots" / f, f"best trial: {f[:-4]}")
                                   for f in ("curves.png", "confusion.png") if (best_run / "plots" / f).is_file()),
                                 two=True)))
    if isinstance(sw.get("config"), dict):
        body.append(section("Base configuration (each trial changes the parameters above)",
                            config_table(sw["config"])))
    return f"optuna sweep {sw.get('study', '')}".strip(), f"imgclass sweep directory {run.name}", body


def study_page(run: Run) -> tuple[str, str, list[str]]:
    """A study directory: the train-fraction study's table, plot and curves, or the baselines' table and plot."""
    s, cfg = run.results() or {}, run.config()
    plots = run.plots
    if cfg.get("study") == "baselines":
        rows = [[r["model"], r["library"], r["train_seconds"], r["val_accuracy"], r.get("test_accuracy"),
                 r["converged"], ", ".join(f"{k}={fmt(v)}" for k, v in r["params"].items())] for r in s.get("rows", [])]
        best = max(range(len(rows)), key=lambda i: rows[i][3]) if rows else None
        settings = {k: v for k, v in cfg.items() if k not in ("study", "dataset", "data_options")}
        body = [cards({"training images": s.get("train_size"), "features": s.get("features"),
                       "validation images": s.get("val_size"), "test images": s.get("test_size")}),
                section("Accuracy and fit time", table(["model", "library", "fit seconds", "val acc", "test acc",
                                                        "converged", "parameters"], rows, highlight=best),
                        figure(plots / "baselines.png", "accuracy per model (left) and fit time (right)")),
                section("Settings", kv_table(settings),
                        f"<h3>Machine</h3>{kv_table(s['machine'])}" if s.get("machine") else "")]
        return f"linear baselines on {s.get('dataset')}", f"imgclass study baselines {run.name}", body
    if cfg.get("study") == "ablation":
        return ablation_page(run, s, cfg)
    runs = s.get("rows", [])
    rows = [[r["fraction"], r["train_size"], r["test_accuracy"], r["val_accuracy"], r["train_accuracy"],
             r["train_seconds"], Path(r["run_dir"]).name] for r in runs]
    base = cfg.get("config", {})
    figs = [figure(resolve(run.path, r["run_dir"]) / "plots" / "curves.png", f"{r['fraction']:.0%} of the training data")
            for r in runs]
    body = [section("Test accuracy against the training fraction",
                    figure(plots / "train_fraction.png", "log x axis; training images in brackets"),
                    table(["fraction", "train images", "test acc", "best val acc", "final train acc", "train s",
                           "run"], rows)),
            section("Configuration (train_fraction varies)", config_table(base)),
            section("Curves of each run", grid(*figs, two=True))]
    title = (f"{base.get('engine')} {spec_text(base.get('model'))} on {base.get('dataset')}: "
             "accuracy against training data")
    return title, f"imgclass study train-fraction {run.name}", body


def ablation_page(run: Run, s: dict, cfg: dict) -> tuple[str, str, list[str]]:
    """An ablation study: the ladder's table and plot, the last step's seeds, each step's curves."""
    steps = s.get("rows", [])
    rows = [[i, r["step"], r["what"], r["test_accuracy"], r.get("test_accuracy_std"), r["val_accuracy"],
             r["train_accuracy"], r["train_seconds"], Path(r["run_dir"]).name] for i, r in enumerate(steps)]
    best = max(range(len(rows)), key=lambda i: rows[i][3]) if rows else None
    last = steps[-1] if steps else {}
    head = cards({"last step: test accuracy": last.get("test_accuracy"), "± std over seeds": last.get("test_accuracy_std"),
                  "seeds": len(last.get("seeds") or []) or None, "steps": len(steps),
                  "train seconds (all steps)": s.get("train_seconds")})
    figs = []
    for r in steps:
        where = resolve(run.path, r["run_dir"])
        curves = where / "plots" / "curves.png"
        if not curves.is_file():  # the last step over seeds: its first seed's curves
            curves = next(iter(sorted(where.glob("seed*/plots/curves.png"))), curves)
        figs.append(figure(curves, f"{r['step']}: curves"))
    base = cfg.get("config", {})
    body = [head,
            section(f"The {cfg.get('ladder')} ladder (each step keeps the changes before it)",
                    figure(run.plots / "ablation.png", "test accuracy per step; the last over its seeds"),
                    table(["#", "step", "change", "test acc", "± std", "best val acc", "final train acc", "train s",
                           "run"], rows, highlight=best, wide=True)),
            section("Configuration of the first step (each step changes the settings named above)",
                    config_table(base)),
            section("Curves of each step", grid(*figs, two=True))]
    title = f"ablation study on {base.get('dataset')}: {spec_text(base.get('model'))}"
    return title, f"imgclass study ablation {run.name}", body


PAGES = {"train": train_page, "seeds": seeds_page, "linear": linear_page, "linear-sweep": linear_page,
         "sweep": sweep_page, "study": study_page}
