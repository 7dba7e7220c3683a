"""``imgclass report``: one self-contained HTML page for every kind of run directory."""

import json
import re

import pytest

from imgclass.errors import ImgclassError
from imgclass.evaluate.html import kv_table, table
from imgclass.evaluate.report import build_report, write_report
from imgclass.runs import Run
from tests.evaluate import (copy_run, linear_run, linear_sweep_run, optuna_sweep_dir, seeds_run,
                            self_contained_images, train_run)


def test_train_run_report_has_configuration_curves_metrics_confusion_and_mistakes(tmp_path_factory):
    run = train_run(tmp_path_factory)
    path = write_report(run)
    assert path == run / "report.html" and Run.open(run).kind == "train"
    text = path.read_text()
    images = self_contained_images(text)
    assert len(images) == 4  # curves, per-class, confusion, mistakes: each embedded once
    metrics = json.loads((run / "test_metrics.json").read_text())
    for heading in ("Configuration", "Training curves", "Test metrics", "Confusion matrix", "Most confident mistakes",
                    "Test-split use"):
        assert f"<h2>{heading}</h2>" in text
    assert f"{metrics['accuracy']:.4g}" in text and "mlp:16" in text
    assert "The test split was used once" in text
    assert (run / "plots" / "curves.png").read_bytes() in images


def test_text_from_the_run_directory_is_escaped(tmp_path_factory, tmp_path):
    run = copy_run(train_run(tmp_path_factory), tmp_path / "run")
    cfg = json.loads((run / "config.json").read_text())
    cfg["name"] = '<script>alert("x")</script>'
    (run / "config.json").write_text(json.dumps(cfg))
    tm = json.loads((run / "test_metrics.json").read_text())
    for r in tm["per_class"]:
        r["class"] = f"<i>{r['class']}</i>&"
    tm["best_class"] = tm["worst_class"] = "<i>"
    (run / "test_metrics.json").write_text(json.dumps(tm))
    text = build_report(run)
    assert "<script>" not in text and "<i>" not in text
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in text and "&lt;i&gt;0&lt;/i&gt;&amp;" in text
    self_contained_images(text)


def test_seeds_report_shows_the_spread_and_each_seeds_figures(tmp_path_factory):
    parent = seeds_run(tmp_path_factory)
    s = json.loads((parent / "results.json").read_text())
    text = build_report(parent)
    assert Run.open(parent).kind == "seeds"
    images = self_contained_images(text)
    assert len(images) == 1 + 2 * len(s["seeds"])  # spread plot + curves and confusion per seed
    assert (parent / "plots" / "seeds.png").is_file()
    assert "Spread across seeds" in text and "Per-class test accuracy across seeds" in text
    assert f"{s['test_accuracy']:.4g}" in text and f"{s['test_accuracy_std']:.4g}" in text
    for acc in s["test_accuracies"]:
        assert f"{acc:.4g}" in text


def test_linear_run_report(tmp_path_factory):
    run = linear_run(tmp_path_factory)
    text = build_report(run)
    assert Run.open(run).kind == "linear"
    assert len(self_contained_images(text)) == 5  # loss, templates, and the test split's per-class, confusion, mistakes
    assert "linear softmax on digits" in text and "learned weights per class" in text
    assert "The test split was used once" in text


def test_linear_sweep_report_has_scatter_plots_and_the_results_table(tmp_path_factory):
    run = linear_sweep_run(tmp_path_factory)
    sweep = json.loads((run / "sweep.json").read_text())
    text = build_report(run)
    assert Run.open(run).kind == "linear-sweep"
    images = self_contained_images(text)
    assert (run / "plots" / "sweep_val_acc.png").read_bytes() in images
    assert (run / "plots" / "sweep_train_acc.png").read_bytes() in images
    table_html = text.split("Results (sorted by validation accuracy)")[1].split("</table>")[0]
    rows = re.findall(r"<tr( class=best)?><td class=n>(\d+)</td>", table_html)
    assert len(rows) == sweep["num_configs"]
    assert rows[0][0] == " class=best"  # the best config is first and shaded


def test_optuna_sweep_report_sorts_trials_by_value_and_embeds_every_plot(tmp_path_factory):
    d = optuna_sweep_dir(tmp_path_factory)
    text = build_report(d)
    assert Run.open(d).kind == "sweep"  # a sweep.json of an older sweep directory (no config.json) is recognised
    images = self_contained_images(text)
    for png in (d / "plots").glob("*.png"):
        assert png.read_bytes() in images
    trials = text.split("Trials (sorted by value")[1].split("</table>")[0]
    numbers = [int(n) for n in re.findall(r"<tr(?: class=best)?><td class=n>\d+</td><td class=n>(\d+)</td>", trials)]
    assert numbers == [2, 4, 0, 1, 3]  # by value, descending; the pruned trial (no value) last
    assert "<tr class=best><td class=n>1</td><td class=n>2</td>" in trials
    assert "digits-mlp &lt;&amp;&gt; test" in text  # the study name, escaped
    assert "Best trial" in text  # the best trial's run directory exists: its figures are shown


def test_minimizing_sweeps_sort_ascending(tmp_path_factory, tmp_path):
    d = copy_run(optuna_sweep_dir(tmp_path_factory), tmp_path / "sweep")
    sweep = json.loads((d / "sweep.json").read_text())
    sweep["direction"] = "minimize"
    (d / "sweep.json").write_text(json.dumps(sweep))
    trials = build_report(d).split("Trials (sorted by value")[1].split("</table>")[0]
    numbers = [int(n) for n in re.findall(r"<tr(?: class=best)?><td class=n>\d+</td><td class=n>(\d+)</td>", trials)]
    assert numbers == [1, 0, 4, 2, 3]


def test_not_a_run_directory_and_bad_json_are_clear_errors(tmp_path):
    with pytest.raises(ImgclassError, match="not a run directory"):
        build_report(tmp_path)
    with pytest.raises(ImgclassError, match="no such run directory"):
        build_report(tmp_path / "missing")
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ImgclassError, match="not valid JSON"):
        build_report(tmp_path)
    (tmp_path / "config.json").unlink()
    (tmp_path / "sweep.json").write_text(json.dumps({"kind": "optuna-sweep", "trials": "?"}))
    with pytest.raises(ImgclassError, match="no 'trials' list"):
        build_report(tmp_path)


def test_table_pieces_escape_and_lay_out():
    t = table(["a<", "b"], [["<x>", 1.23456789], [None, True]], highlight=1)
    assert "<th>a&lt;</th>" in t and "<td>&lt;x&gt;</td>" in t and "<td class=n>1.235</td>" in t
    assert "<tr class=best><td>–</td><td>yes</td></tr>" in t
    long = kv_table({f"k{i}": i for i in range(15)})
    assert long.count("<th>setting</th>") == 3 and long.count("<tr>") == 1 + 5
