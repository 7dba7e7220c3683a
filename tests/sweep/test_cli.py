"""``imgclass sweep`` on the command line: flags shared with ``imgclass train``, the table, --json, errors."""

import argparse
import json

from imgclass.cli import get_parser, main


def last_json(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


def test_sweep_prints_a_table_sorted_by_val_accuracy_and_json(tmp_path, capsys):
    rc = main(["sweep", "--model", "mlp:16", "--epochs", "1", "--batch-size", "64", "--threads", "1", "--trials", "3",
               "--sampler", "random", "--pruner", "none", "--space", "lr=loguniform:1e-3:3e-2",
               "--space", "model.hidden=int:8:32", "--out", str(tmp_path), "--no-progress", "--json"])
    out = capsys.readouterr().out
    assert rc == 0
    r = last_json(out)
    assert r["kind"] == "sweep" and r["counts"] == {"COMPLETE": 3}
    assert set(r["space"]) == {"lr", "model.hidden"} and r["config"]["model"]["hidden"] == [16]
    lines = out.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("rank"))
    assert lines[head].split() == ["rank", "trial", "state", "val", "acc", "lr", "model.hidden", "note"]
    accs = [float(line.split()[3]) for line in lines[head + 1:head + 4]]
    assert accs == sorted(accs, reverse=True) and accs[0] == r["best"]["value"]
    assert "test accuracy of the best" in out and "test split used once" in out
    for t in r["trials"]:  # each trial trained the model it was given
        cfg = json.loads(open(f"{t['run_dir']}/config.json").read())
        assert cfg["model"]["hidden"] == [t["params"]["model.hidden"]] and cfg["lr"] == t["params"]["lr"]


def test_user_errors_print_one_line_and_exit_1(tmp_path, capsys):
    assert main(["sweep", "--model", "mlp:16", "--space", "lerning_rate=uniform:0:1", "--out", str(tmp_path)]) == 1
    assert "imgclass: error: search space: unknown name 'lerning_rate'" in capsys.readouterr().err
    assert main(["sweep", "--resume", "--space", "lr=uniform:0.1:1", "--out", str(tmp_path)]) == 1
    assert "--space cannot change a study" in capsys.readouterr().err
    assert main(["sweep", "--model", "mlp:16", "--seeds", "3", "--out", str(tmp_path)]) == 1
    assert "--seeds is for imgclass train" in capsys.readouterr().err


def test_every_sweep_flag_has_help_and_train_flags_are_shared():
    parser = get_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    sweep, train = sub.choices["sweep"], sub.choices["train"]
    missing = [a.option_strings or a.dest for a in sweep._actions if not a.help]
    assert not missing
    flags = {s for a in sweep._actions for s in a.option_strings}
    assert {"--trials", "--space", "--space-file", "--sampler", "--pruner", "--storage", "--study", "--resume",
            "--report-only", "--heartbeat", "--grid-points", "--json"} <= flags
    train_flags = {s for a in train._actions for s in a.option_strings}
    assert train_flags - flags == set()  # every imgclass train flag works for a sweep too
    resume = next(a for a in sweep._actions if "--resume" in a.option_strings)
    assert resume.nargs == 0  # a switch here (imgclass train --resume takes a run directory)
