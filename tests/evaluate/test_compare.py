"""``compare_runs``: runs side by side, showing only the hyperparameters that differ."""

import json

import pytest

from imgclass.errors import ImgclassError
from imgclass.evaluate.compare import compare_runs, comparison_html, format_comparison
from tests.evaluate import (linear_run, linear_sweep_run, optuna_sweep_dir, seeds_run, self_contained_images,
                            tiny_config, train_run)


def test_two_train_runs_differ_only_in_what_was_changed(tmp_path_factory, tmp_path):
    from imgclass.train.run import train

    a = train_run(tmp_path_factory)
    b = train(tiny_config(lr=0.05), run_dir=tmp_path / "b", progress=False)["run_dir"]
    c = compare_runs([a, b])
    assert c["varying"] == ["lr"]
    assert [r["parameters"] for r in c["runs"]] == [{"lr": 0.01}, {"lr": 0.05}]
    accs = [json.loads((p / "results.json").read_text())["test_accuracy"] for p in (a, tmp_path / "b")]
    assert [r["test_accuracy"] for r in c["runs"]] == accs
    assert c["best"] == accs.index(max(accs))
    text = format_comparison(c)
    lines = text.splitlines()
    assert lines[1 + c["best"]].startswith("*") and "lr=0.05" in lines[2] and "mlp:16" in lines[1]


def test_every_kind_of_run_becomes_one_row(tmp_path_factory):
    dirs = [train_run(tmp_path_factory), seeds_run(tmp_path_factory), linear_run(tmp_path_factory),
            linear_sweep_run(tmp_path_factory), optuna_sweep_dir(tmp_path_factory)]
    c = compare_runs(dirs)
    rows = c["runs"]
    assert [r["kind"] for r in rows] == ["train", "seeds", "linear", "linear-sweep", "sweep"]
    seeds = json.loads((dirs[1] / "results.json").read_text())
    assert rows[1]["test_accuracy"] == seeds["test_accuracy"]
    assert rows[1]["test_accuracy_std"] == seeds["test_accuracy_std"]
    assert rows[4]["test_accuracy"] == 0.91 and rows[4]["val_accuracy"] == 0.93  # the best trial's
    assert rows[4]["parameters"]["width"] == 16
    assert all(r["engine"] and r["dataset"] == "digits" for r in rows)
    assert "lr" in c["varying"]
    text = format_comparison(c)
    assert "±" in text and all(r["run"] in text for r in rows)
    html_text = comparison_html(c)
    assert self_contained_images(html_text) == []
    assert all(r["run"] in html_text for r in rows) and "<tr class=best>" in html_text


def test_studies_and_empty_lists_are_refused(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"kind": "study", "study": "baselines"}))
    with pytest.raises(ImgclassError, match="imgclass report"):
        compare_runs([tmp_path])
    with pytest.raises(ImgclassError, match="at least one"):
        compare_runs([])
