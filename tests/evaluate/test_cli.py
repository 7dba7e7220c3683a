"""``imgclass evaluate``, ``report``, ``compare`` and ``study`` as a user runs them."""

import argparse
import json
from pathlib import Path

import pytest

from imgclass.cli import get_parser, main
from tests.evaluate import copy_run, linear_run, self_contained_images, tiny_config, train_run


def last_json(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


def test_evaluate_json_last_line_parses_and_matches_the_run(tmp_path_factory, tmp_path, capsys):
    run = copy_run(train_run(tmp_path_factory), tmp_path / "run")
    assert main(["evaluate", str(run), "--json"]) == 0
    out = capsys.readouterr().out
    m = last_json(out)
    assert m["accuracy"] == json.loads((run / "results.json").read_text())["test_accuracy"]
    assert m["test_uses"] == 1 and "best class" in out and "worst class" in out
    assert "test split used once" in out
    assert main(["evaluate", str(run), "--again", "--json"]) == 0
    out = capsys.readouterr().out
    assert last_json(out)["test_uses"] == 2 and "used 2 times" in out


def test_evaluate_of_a_run_trained_without_the_test_says_it_used_the_split_now(tmp_path, capsys):
    assert main(["train", "--dataset", "digits", "--engine", "numpy", "--model", "mlp:16", "--epochs", "1",
                 "--threads", "1", "--no-test", "--no-progress", "--out", str(tmp_path), "--json"]) == 0
    run = last_json(capsys.readouterr().out)["run_dir"]
    for _ in range(2):  # the first call scores the test split; the second reports from the stored scores
        assert main(["evaluate", run, "--json"]) == 0
        out = capsys.readouterr().out
        assert last_json(out)["test_uses"] == 1
        assert "used once, by imgclass evaluate" in out and "at the end of training" not in out


def test_report_command_writes_the_page(tmp_path_factory, tmp_path, capsys):
    out_file = tmp_path / "r.html"
    assert main(["report", str(train_run(tmp_path_factory)), "--out", str(out_file), "--json"]) == 0
    r = last_json(capsys.readouterr().out)
    assert r == {"report": str(out_file), "kind": "train", "bytes": out_file.stat().st_size}
    self_contained_images(out_file.read_text())


def test_compare_command_prints_a_table_and_writes_html(tmp_path_factory, tmp_path, capsys):
    runs = [str(train_run(tmp_path_factory)), str(linear_run(tmp_path_factory))]
    page = tmp_path / "c.html"
    assert main(["compare", *runs, "--html", str(page), "--json"]) == 0
    out = capsys.readouterr().out
    c = last_json(out)
    assert [r["kind"] for r in c["runs"]] == ["train", "linear"] and c["html"] == str(page)
    assert "test acc" in out and Path(runs[0]).name in out and page.is_file()
    assert main(["compare", runs[0], "--html", ""]) == 0
    assert "wrote" not in capsys.readouterr().out


def test_study_train_fraction_command(tmp_path, capsys):
    cfg = tiny_config()
    assert main(["study", "train-fraction", "--engine", "numpy", "--model", str(cfg.model), "--epochs", "1",
                 "--fractions", "0.5,1", "--threads", "1", "--out", str(tmp_path), "--no-progress", "--json"]) == 0
    out = capsys.readouterr().out
    s = last_json(out)
    assert s["fractions"] == [0.5, 1.0] and len(s["rows"]) == 2 and "100%" in out
    assert s["hyperparameters"]["epochs"] == 1 and s["engine"] == "numpy"


@pytest.mark.parametrize("flags", [["--seeds", "2"], ["--train-fraction", "0.5"], ["--resume", "x"]])
def test_study_train_fraction_refuses_flags_it_would_ignore(flags, tmp_path, capsys):
    assert main(["study", "train-fraction", *flags, "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("imgclass: error:") and flags[0] in err and "Traceback" not in err


def test_study_baselines_command(tmp_path, capsys):
    assert main(["study", "baselines", "--subset", "300", "--max-iter", "100", "--iters", "200", "--repeats", "1",
                 "--gamma", "0.5", "--out", str(tmp_path), "--json"]) == 0
    out = capsys.readouterr().out
    s = last_json(out)
    assert s["hyperparameters"]["gamma"] == 0.5
    assert len(s["rows"]) == 4 and "LogisticRegression (lbfgs)" in out and "fit s" in out


def test_user_errors_print_one_line_without_a_traceback(tmp_path, capsys):
    assert main(["report", str(tmp_path / "missing")]) == 1
    assert main(["compare", str(tmp_path)]) == 1
    assert main(["study", "train-fraction", "--fractions", "0,2", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.count("imgclass: error:") == 3 and "Traceback" not in err


def _subparser(parser: argparse.ArgumentParser, *names: str) -> argparse.ArgumentParser:
    for name in names:
        action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = action.choices[name]
    return parser


@pytest.mark.parametrize("path", [("evaluate",), ("report",), ("compare",), ("study", "train-fraction"),
                                  ("study", "baselines")])
def test_every_flag_has_help(path):
    p = _subparser(get_parser(), *path)
    missing = [a.dest for a in p._actions if not a.help]  # SUPPRESS (refused flags) counts as help
    assert missing == []
    assert p.description
