"""'imgclass train' from the command line: flags, --json, --seeds, --resume, help for every flag."""

import json

import pytest

from imgclass.cli import get_parser, main


def last_json(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


def _all_parsers(parser, prefix=()):
    """Every (sub)command parser of the CLI with its command path."""
    yield prefix, parser
    for action in parser._actions:
        if action.__class__.__name__ == "_SubParsersAction":
            for name, sub in action.choices.items():
                yield from _all_parsers(sub, prefix + (name,))


def test_every_flag_of_every_command_has_help():
    missing = [(" ".join(path), a.dest) for path, p in _all_parsers(get_parser()) for a in p._actions
               if not a.help and a.__class__.__name__ != "_SubParsersAction"]
    assert not missing


def test_train_help_lists_the_recipes(capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "--resume RUN_DIR" in out and "--seeds N" in out and "cnn on fashion-mnist" in out


def test_train_json(tmp_path, capsys):
    assert main(["train", "--dataset", "digits", "--engine", "numpy", "--model", "mlp:32", "--epochs", "3",
                 "--lr", "0.01", "--out", str(tmp_path), "--no-progress", "--json"]) == 0
    r = last_json(capsys.readouterr().out)
    assert r["engine"] == "numpy" and r["model"].startswith("mlp:32;") and r["test_accuracy"] > 0.8
    assert json.loads((tmp_path / r["run_dir"].split("/")[-1] / "config.json").read_text())["epochs"] == 3


def test_seeds_report_mean_and_std_and_keep_every_run(tmp_path, capsys):
    assert main(["train", "--dataset", "digits", "--model", "mlp:32", "--epochs", "2", "--seeds", "3",
                 "--out", str(tmp_path), "--no-progress", "--json"]) == 0
    r = last_json(capsys.readouterr().out)
    assert r["seeds"] == [0, 1, 2] and len(set(r["test_accuracies"])) > 1  # different seeds, different runs
    assert r["kind"] == "seeds" and r["test_accuracy"] == pytest.approx(sum(r["test_accuracies"]) / 3, abs=1e-4)
    assert r["test_accuracy_std"] > 0
    for run in r["runs"]:
        assert (tmp_path / run.split(str(tmp_path) + "/")[1] / "results.json").is_file()


@pytest.mark.parametrize("argv, message", [
    (["train", "--lr", "0"], "lr must be"),
    (["train", "--model", "transformer"], "model kind"),
    (["train", "--engine", "numpy", "--ema", "0.9"], "numpy engine does not support ema"),
    (["train", "--resume", "/nonexistent"], "no such run directory"),
])
def test_bad_input_is_one_clear_line(argv, message, capsys, tmp_path):
    assert main([*argv, "--out", str(tmp_path), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
