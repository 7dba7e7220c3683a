"""The command line end to end, as a user runs it (subprocess for the entry points)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from imgclass.cli import main
from imgclass.data.idx import write_idx
from tests.conftest import require_fashion_mnist


def run(*args, check=True):
    """Run ``python -m imgclass ARGS`` in a subprocess; return the CompletedProcess."""
    proc = subprocess.run([sys.executable, "-m", "imgclass", *args], capture_output=True, text=True,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"}, timeout=120)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def last_json(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


def test_demo_trains_tests_once_and_writes_a_run_directory_with_plots(tmp_path):
    proc = run("demo", "--json", "--out", str(tmp_path))
    r = last_json(proc.stdout)
    assert r["test_accuracy"] >= 0.90 and r["dataset"] == "digits"
    assert "test accuracy" in proc.stdout
    run_dir = tmp_path / os.path.basename(r["run_dir"])
    for name in ("config.json", "metrics.csv", "checkpoint.pt", "model.pt", "results.json", "test_log.json"):
        assert (run_dir / name).is_file(), name
    assert len(json.loads((run_dir / "test_log.json").read_text())) == 1
    pngs = {p.name for p in (run_dir / "plots").glob("*.png")}
    assert {"curves.png", "confusion.png", "per_class.png", "mistakes.png", "digits_samples.png"} <= pngs
    for png in (run_dir / "plots").glob("*.png"):
        Image.open(png).verify()


def test_console_script_installed():
    import shutil

    exe = shutil.which("imgclass") or os.path.join(os.path.dirname(sys.executable), "imgclass")
    proc = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.startswith("imgclass ")


def test_data_info_digits_json(capsys):
    assert main(["data", "info", "digits", "--val", "0.1", "--json"]) == 0
    out = capsys.readouterr().out
    d = last_json(out)
    assert d["image_shape"] == [1, 8, 8] and d["value_range"] == [0, 255]
    assert sum(d["counts"].values()) == 1797 and set(d["counts"]) == {"train", "val", "test"}
    assert sum(c["test"] for c in d["per_class"].values()) == d["counts"]["test"]
    assert "class" in out and "values 0..255" in out


def test_data_info_real_fashion():
    require_fashion_mnist()
    d = last_json(run("data", "info", "fashion-mnist", "--json").stdout)
    assert d["counts"] == {"train": 60000, "test": 10000}
    assert all(c == {"train": 6000, "test": 1000} for c in d["per_class"].values())


def test_data_show_writes_pngs(tmp_path, capsys):
    assert main(["data", "show", "digits", "--out-dir", str(tmp_path), "--per-class", "5", "--json"]) == 0
    r = last_json(capsys.readouterr().out)
    for key in ("samples", "classes"):
        with Image.open(r[key]) as img:
            assert img.format == "PNG" and img.width > 200 and img.height > 200
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")]  # no temp files left


def test_data_show_rgb_folder(tmp_path, capsys):
    for k, colour in enumerate([(255, 0, 0), (0, 0, 255)]):
        d = tmp_path / "imgs" / f"class{k}"
        d.mkdir(parents=True)
        for i in range(5):
            Image.new("RGB", (16, 12), colour).save(d / f"{i}.png")
    assert main(["data", "show", f"folder:{tmp_path / 'imgs'}", "--out-dir", str(tmp_path / "out"), "--json"]) == 0
    assert os.path.exists(last_json(capsys.readouterr().out)["samples"])


def test_data_list(capsys):
    assert main(["data", "list", "--json"]) == 0
    assert "cifar10" in last_json(capsys.readouterr().out)["datasets"]


@pytest.mark.parametrize("args, message", [
    (["data", "info", "nope"], "unknown dataset 'nope'"),
    (["data", "info", "mnist", "--data-dir", "/nonexistent/dir"], "does not exist"),
    (["data", "info", "digits", "--image-size", "9"], "does not take image_size (--image-size)"),
    (["demo", "--lr", "-1"], "lr must be a finite number > 0"),
])
def test_errors_are_one_line_without_traceback(args, message):
    proc = run(*args, check=False)
    assert proc.returncode == 1
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("imgclass: error:")


def test_corrupt_idx_through_cli(tmp_path):
    x = np.zeros((3, 28, 28), np.uint8)
    for stem in ("train-images-idx3-ubyte", "t10k-images-idx3-ubyte"):
        write_idx(tmp_path / f"{stem}.gz", x)
    for stem in ("train-labels-idx1-ubyte", "t10k-labels-idx1-ubyte"):
        write_idx(tmp_path / f"{stem}.gz", np.zeros(3, np.uint8))
    bad = tmp_path / "t10k-images-idx3-ubyte.gz"
    bad.write_bytes(bad.read_bytes()[:15])
    proc = run("data", "info", f"idx:{tmp_path}", check=False)
    assert proc.returncode == 1 and "corrupt or truncated gzip" in proc.stderr and "Traceback" not in proc.stderr


def test_bad_flag_is_usage_error():
    proc = run("data", "info", "digits", "--channels", "2", check=False)
    assert proc.returncode == 2 and "invalid choice" in proc.stderr


def test_every_flag_has_help():
    from imgclass.cli import get_parser

    def walk(parser):
        for action in parser._actions:
            if getattr(action, "choices", None) and isinstance(action.choices, dict):
                for sub in action.choices.values():
                    yield from walk(sub)
            elif action.option_strings or action.dest not in ("help",):
                yield parser.prog, action

    missing = [(prog, a.dest) for prog, a in walk(get_parser()) if not a.help and a.dest != "help"]
    assert not missing, missing
