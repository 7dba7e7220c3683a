"""'imgclass predict' from the command line: tables, --json, exit status, --run, --annotate."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from imgclass.cli import get_parser, main
from imgclass.linear.config import LinearConfig
from imgclass.linear.run import train_linear


def last_json(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


def test_predict_photos_json_and_table(photos, tmp_path, capsys):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    code = main(["predict", str(photos / "coffee.jpg"), str(bad), "--top-k", "3", "--device", "cpu",
                 "--annotate", str(tmp_path / "ann"), "--json"])
    out, err = capsys.readouterr()
    assert code == 0  # one of two files classified
    r = last_json(out)
    assert r["predicted"] == 1 and r["failed"] == 1 and r["top_k"] == 3
    assert r["results"][0]["predictions"][0]["class"] == "espresso"
    assert len(r["results"][0]["predictions"]) == 3
    assert (tmp_path / "ann" / "coffee.png").is_file()
    assert "espresso" in out and "rank  probability  class" in out
    assert "imgclass: error:" in err and "broken.png" in err
    assert "Traceback" not in err


def test_every_file_failing_exits_1(tmp_path, capsys):
    (tmp_path / "a.jpg").write_text("no")
    code = main(["predict", str(tmp_path / "a.jpg"), str(tmp_path / "missing.png"), "--json"])
    out, err = capsys.readouterr()
    assert code == 1
    assert last_json(out)["predicted"] == 0
    assert "a.jpg" in err and "missing.png" in err


def test_predict_with_a_linear_run_and_a_folder(tmp_path, capsys):
    run = train_linear(LinearConfig(loss="softmax", lr=0.1, reg=1e-4, iters=100), out_root=tmp_path / "runs",
                       progress=False)["run_dir"]
    folder = tmp_path / "imgs"
    folder.mkdir()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(folder / "blank.png")
    Image.fromarray(np.full((30, 20, 4), 128, np.uint8), "RGBA").save(folder / "rgba.png")
    (folder / "junk.png").write_text("junk")
    code = main(["predict", str(folder), "--run", run, "--batch-size", "2", "--json"])
    out, err = capsys.readouterr()
    assert code == 0
    r = last_json(out)
    assert r["input_shape"] == [1, 8, 8] and r["classes"] == 10
    assert (r["predicted"], r["failed"]) == (2, 1)
    assert all(p["class"] in [str(d) for d in range(10)] for x in r["results"] if "predictions" in x
               for p in x["predictions"])
    assert "junk.png" in err


def test_unknown_run_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "config.json").write_text("{}")
    assert main(["predict", "x.png", "--run", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "unknown run layout" in err and "Traceback" not in err


def test_help_documents_every_flag_and_the_exit_status():
    sub = next(a for a in get_parser()._actions if a.dest == "command")
    p = sub.choices["predict"]
    text = p.format_help()
    assert "exit status" in text and "every input" in text
    for action in p._actions:
        assert action.help, action.dest
    for flag in ("--top-k", "--run", "--annotate", "--batch-size", "--device", "--json"):
        assert flag in text


def test_bad_flags_exit_2(capsys):
    with pytest.raises(SystemExit) as e:
        main(["predict", "x.png", "--top-k", "0"])
    assert e.value.code == 2


def test_adding_the_command_does_not_import_torch():
    code = ("import argparse, sys; from imgclass.pretrained.cli import add_commands; "
            "sub = argparse.ArgumentParser().add_subparsers(); "
            "add_commands(sub, lambda parent, name, func, help_text: parent.add_parser(name, help=help_text)); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "False", out.stderr
