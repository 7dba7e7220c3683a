"""Hostile and careless input, across every subcommand: a clear ``imgclass: error:``, exit 1, nothing lost.

The table (:data:`CASES`) runs the command line on bad inputs a user or an attacker can make (paths,
names, permissions, full disks, damaged or crafted files, absurd values) and checks for each that the
command ends with ``imgclass: error: <what and what to do>`` and exit status 1 (argparse's own
usage errors: 2), never a traceback, and that every file that existed before is unchanged. The
tests after it reproduce one reported problem each.
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import json
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imgclass.cli import main
from imgclass.data.idx import write_idx
from imgclass.errors import ImgclassError
from imgclass.runs import Run
from imgclass.train import TrainConfig
from imgclass.train.callbacks import Callback
from imgclass.train.run import train

QUICK = ["--dataset", "digits", "--model", "linear", "--epochs", "1", "--no-progress"]


# --------------------------------------------------------------------------- the files the cases use


def _image_folder(root: Path, classes=("cat", "dog"), n=6, size=8) -> Path:
    rng = np.random.default_rng(0)
    for k, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(n):
            Image.fromarray((rng.integers(0, 50, (size, size, 3)) + 100 * k).astype(np.uint8)).save(
                root / name / f"{i}.png")
    return root


def _idx_dir(root: Path, labels: np.ndarray | None = None) -> Path:
    root.mkdir(parents=True)
    rng = np.random.default_rng(0)
    y = np.arange(20, dtype=np.uint8) % 10 if labels is None else labels
    for part in ("train", "t10k"):
        write_idx(root / f"{part}-images-idx3-ubyte.gz", rng.integers(0, 256, (len(y), 8, 8), dtype=np.uint8))
        write_idx(root / f"{part}-labels-idx1-ubyte.gz", y)
    return root


class _Stop(Callback):
    """Interrupt (as Ctrl-C does) after ``at`` steps: the run stays unfinished, with a checkpoint."""

    def __init__(self, at: int):
        self.at = at

    def on_step_end(self, trainer, loss, acc):
        if trainer.step == self.at:
            raise KeyboardInterrupt


def _unfinished_run(path: Path) -> Path:
    cfg = TrainConfig(dataset="digits", model="linear", epochs=2, eval_points=4, batch_size=128)
    with pytest.raises(ImgclassError, match="interrupted"):
        train(cfg, run_dir=path, progress=False, callbacks=[_Stop(12)])
    assert (path / "checkpoint.pt").is_file() and not (path / "results.json").exists()
    return path


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> Path:
    """Built once: a finished run, an unfinished one, datasets and files; each case works on a copy."""
    root = tmp_path_factory.mktemp("hostile")
    assert main(["train", *QUICK, "--out", str(root / "runs"), "--name", "done"]) == 0
    (root / "runs").iterdir().__next__().rename(root / "done")
    _unfinished_run(root / "unfinished")
    _image_folder(root / "photos")
    (root / "afile").write_text("a file where a folder is expected\n")
    (root / "notimage.png").write_text("not an image\n")
    (root / "garbage.json").write_text("{not json")
    np.save(root / "object.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    _idx_dir(root / "idx-huge-labels", np.array([0, 1, 2**31 - 1] * 4, dtype=">i4").astype(np.int32))
    # an IDX header that declares 2**32 - 1 images of 2**32 - 1 bytes in a 40-byte file
    _idx_dir(root / "idx-huge-header")
    header = bytes([0, 0, 8, 3]) + np.array([2**32 - 1, 2**32 - 1, 1], ">u4").tobytes()
    (root / "idx-huge-header" / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(header + bytes(24)))
    # a gzip bomb: a 1 MB stream that inflates to 1 GB of zeros behind an MNIST-sized header
    bomb = bytes([0, 0, 8, 3]) + np.array([20, 8, 8], ">u4").tobytes()
    _idx_dir(root / "idx-bomb")
    with gzip.open(root / "idx-bomb" / "t10k-images-idx3-ubyte.gz", "wb", compresslevel=1) as f:
        f.write(bomb + bytes(20 * 64))
        for _ in range(64):
            f.write(bytes(2**24))
    # CIFAR-10 batches whose first one is a pickle that would run code
    cifar = root / "cifar" / "cifar-10-batches-py"
    cifar.mkdir(parents=True)

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {root / 'pwned'}",))

    for name in ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch",
                 "batches.meta"):
        (cifar / name).write_bytes(pickle.dumps(Evil()))
    # runs damaged in the ways a resume must notice
    for name, damage in (("flipped", "checkpoint.pt"), ("nopre", "preprocessor.npz"), ("baddata", "data.json")):
        shutil.copytree(root / "unfinished", root / name)
        path = root / name / damage
        if damage == "checkpoint.pt":
            raw = bytearray(path.read_bytes())
            for i in range(200, min(len(raw), 2200)):
                raw[i] ^= 0x55
            path.write_bytes(bytes(raw))
        elif damage == "preprocessor.npz":
            path.unlink()
        else:
            path.write_text(json.dumps({"dataset": "digits", "classes": ["a"], "image_shape": [1, 8, 8], "sizes": {}}))
    return root


def _snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and ".lock" not in p.name}


def _cli(argv: list[str], capsys) -> tuple[int, str]:
    try:
        rc = main(argv)
    except SystemExit as e:  # argparse's usage errors
        rc = e.code
    return rc, capsys.readouterr().err


#: (id, argv with {root} for the case's folder, what the message must say). All end in exit 1.
CASES = [
    # paths and names
    ("train-name-escapes-out", ["train", *QUICK, "--out", "{root}/out", "--name", "x/../../../escaped"], "one folder name"),
    ("train-name-dotdot", ["train", *QUICK, "--out", "{root}/out", "--name", ".."], "one folder name"),
    ("train-name-too-long", ["train", *QUICK, "--out", "{root}/out", "--name", "n" * 300], "at most 200 bytes"),
    ("sweep-name-escapes-out", ["sweep", *QUICK, "--trials", "1", "--out", "{root}/out", "--name", "../../s"],
     "one folder name"),
    ("study-name-escapes-out", ["study", "train-fraction", *QUICK, "--fractions", "0.5", "1", "--out", "{root}/out",
                                "--name", "a/../../b"], "one folder name"),
    ("train-out-is-a-file", ["train", *QUICK, "--out", "{root}/afile"], "not a folder"),
    ("linear-out-is-a-file", ["linear", "train", "--dataset", "digits", "--out", "{root}/afile", "--no-progress"],
     "not a folder"),
    ("resume-a-file", ["train", "--resume", "{root}/afile"], "no such run directory"),
    ("resume-a-finished-run", ["train", "--resume", "{root}/done"], "finished already"),
    ("evaluate-no-run", ["evaluate", "{root}/photos"], "run"),
    ("report-over-config", ["report", "{root}/done", "--out", "{root}/done/config.json"], "not an HTML page"),
    ("compare-over-results", ["compare", "{root}/done", "{root}/done", "--html", "{root}/done/results.json"],
     "not an HTML page"),
    ("annotate-onto-a-file", ["predict", "{root}/photos/cat/0.png", "--run", "{root}/done", "--annotate",
                              "{root}/afile"], "exists already"),
    ("data-show-onto-a-file", ["data", "show", "digits", "--out-dir", "{root}/afile"], "exists already"),
    ("graph-dot-into-a-file", ["graph", "--dot", "{root}/afile/g.dot"], "exists already"),
    ("blur-missing-image", ["blur", "{root}/missing.png", "--out", "{root}/b.png"], "not found"),
    ("predict-run-is-a-file", ["predict", "{root}/photos/cat/0.png", "--run", "{root}/afile"], "run"),
    # data: empty splits, damaged and crafted files, absurd headers
    ("folder-empty-test-split", ["train", "--dataset", "folder:{root}/photos", "--test-fraction", "0", "--model",
                                 "linear", "--epochs", "1", "--out", "{root}/out", "--no-progress"], "no test images"),
    ("linear-empty-test-split", ["linear", "train", "--dataset", "folder:{root}/photos", "--test-fraction", "0",
                                 "--out", "{root}/out", "--no-progress"], "no test images"),
    ("idx-labels-2**31", ["data", "info", "idx:{root}/idx-huge-labels"], "10000 classes at most"),
    ("idx-header-2**64-bytes", ["data", "info", "idx:{root}/idx-huge-header"], "header says shape"),
    ("idx-gzip-bomb", ["data", "info", "idx:{root}/idx-bomb"], "header says shape"),
    ("cifar-pickle-runs-no-code", ["data", "info", "cifar10", "--data-dir", "{root}/cifar", "--no-download"],
     "cifar"),
    ("space-file-not-json", ["sweep", *QUICK, "--trials", "1", "--out", "{root}/out", "--space-file",
                             "{root}/garbage.json"], "JSON"),
    ("filters-object-npy", ["filters", "learn", "--weights", "{root}/object.npy", "--out", "{root}/f"], "npy"),
    # resuming: flags that would change the run, damaged and missing files, a busy run
    ("resume-with-lr", ["train", "--resume", "{root}/unfinished", "--lr", "0.01"], "--lr cannot change"),
    ("resume-with-flags", ["train", "--resume", "{root}/unfinished", "--no-flip", "--epochs", "9"],
     "--epochs, --no-flip cannot change"),
    ("resume-flipped-checkpoint", ["train", "--resume", "{root}/flipped", "--no-progress"], "damaged"),
    ("resume-missing-preprocessor", ["train", "--resume", "{root}/nopre", "--no-progress"],
     "preprocessor.npz: preprocessor file not found"),
    ("resume-other-data-json", ["train", "--resume", "{root}/baddata", "--no-progress"], "data.json does not describe"),
    # absurd values
    ("lr-nan", ["train", *QUICK, "--lr", "nan", "--out", "{root}/out"], "lr must be a finite number"),
    ("epochs-0", ["train", *QUICK[:4], "--epochs", "0", "--out", "{root}/out"], "epochs must be"),
    ("seeds-0", ["train", *QUICK, "--seeds", "0", "--out", "{root}/out"], "--seeds must be"),
    ("val-above-1", ["train", *QUICK, "--val", "1.5", "--out", "{root}/out"], "val (--val) must be a fraction"),
    ("linear-iters-0", ["linear", "train", "--dataset", "digits", "--iters", "0", "--out", "{root}/out"], "iters"),
    ("model-absurd-width", ["train", "--dataset", "digits", "--model", "mlp:1000000000", "--epochs", "1",
                            "--engine", "numpy", "--out", "{root}/out", "--no-progress"], "out of memory"),
]


@pytest.mark.parametrize("argv, says", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_clear_error_and_loses_nothing(made, tmp_path, capsys, argv, says):
    root = tmp_path / "case"
    shutil.copytree(made, root, symlinks=True)
    before = _snapshot(root)
    rc, err = _cli([a.replace("{root}", str(root)) for a in argv], capsys)
    assert rc == 1, err
    assert err.startswith("imgclass: error: ") and "Traceback" not in err, err
    assert says.lower() in err.lower(), err
    after = _snapshot(root)
    assert {k: v for k, v in after.items() if k in before} == before  # nothing that existed changed or went
    assert not (root / "pwned").exists() and not (tmp_path / "escaped").exists()
    assert not list(tmp_path.glob("*escaped*")) and not list(root.glob("*/../s*"))


# --------------------------------------------------------------------------- one test per reported problem


def test_a_name_with_separators_never_writes_outside_out(tmp_path, capsys):
    out = tmp_path / "a" / "b" / "out"
    rc, err = _cli(["train", *QUICK, "--out", str(out), "--name", "x/../../../escaped_run"], capsys)
    assert rc == 1 and "one folder name" in err
    assert not any(p.name.endswith("escaped_run") for p in tmp_path.rglob("*"))
    with pytest.raises(ImgclassError, match="one folder name"):
        TrainConfig(dataset="digits", name="a/b")  # refused in Python too, before any training


def test_class_names_with_dollars_are_drawn_as_text_and_the_run_finishes(tmp_path, capsys):
    classes = ("cost $x^$ usd", "$\\frac{1}{$", "plain")
    for part in ("train", "test"):
        _image_folder(tmp_path / "data" / part, classes)
    data = f"folder:{tmp_path / 'data'}"
    assert main(["train", "--dataset", data, "--model", "linear", "--epochs", "2", "--out", str(tmp_path / "o"),
                 "--no-progress"]) == 0
    run = next((tmp_path / "o").iterdir())
    assert json.loads((run / "data.json").read_text())["classes"] == sorted(classes)
    assert {"confusion.png", "per_class.png", "mistakes.png"} <= {p.name for p in (run / "plots").iterdir()}
    assert main(["evaluate", str(run)]) == 0
    assert main(["data", "show", data, "--out-dir", str(tmp_path / "show")]) == 0
    assert main(["report", str(run)]) == 0
    assert len(json.loads((run / "test_log.json").read_text())) == 1


def test_a_resume_after_the_test_reuses_that_one_evaluation(tmp_path):
    """A run stopped after its test scores were stored (say, while drawing plots) is not tested twice."""
    cfg = TrainConfig(dataset="digits", model="linear", epochs=1)
    first = train(cfg, run_dir=tmp_path / "r", progress=False)
    (tmp_path / "r" / "results.json").unlink()  # as if killed between the test and the results
    again = train(resume=tmp_path / "r", progress=False)
    assert again["test_accuracy"] == first["test_accuracy"]
    assert len(json.loads((tmp_path / "r" / "test_log.json").read_text())) == 1


def test_a_damaged_checkpoint_is_refused_and_the_run_is_left_as_it_was(tmp_path, capsys):
    run = _unfinished_run(tmp_path / "r")
    raw = bytearray((run / "checkpoint.pt").read_bytes())
    for i in range(300, 2300):
        raw[i] ^= 0xFF
    (run / "checkpoint.pt").write_bytes(bytes(raw))
    before = _snapshot(run)
    rc, err = _cli(["train", "--resume", str(run), "--no-progress"], capsys)
    assert rc == 1 and "checkpoint is damaged" in err
    assert _snapshot(run) == before and not (run / "results.json").exists()


@pytest.mark.parametrize("damage", ["missing", "garbage", "other"])
def test_a_resume_checks_the_files_the_finished_run_needs(tmp_path, damage):
    run = _unfinished_run(tmp_path / "r")
    if damage == "missing":
        (run / "preprocessor.npz").unlink()
    elif damage == "garbage":
        (run / "preprocessor.npz").write_bytes(b"PK\x03\x04 not really a zip")
    else:  # a valid preprocessor, but not this run's: the data changed since
        from imgclass.data import Preprocessor

        Preprocessor(normalize="pixel", flatten=False).fit(np.zeros((2, 1, 8, 8), np.uint8)).save(
            run / "preprocessor.npz")
    with pytest.raises(ImgclassError, match="preprocessor.npz.*cannot be resumed safely|preprocessor.npz.*differs"):
        train(resume=run, progress=False)
    assert not (run / "results.json").exists()


def test_a_nan_loss_says_what_is_kept_and_how_to_go_on(tmp_path, capsys):
    rc, err = _cli(["train", "--dataset", "digits", "--model", "mlp", "--optimizer", "sgd", "--lr", "1e25",
                    "--epochs", "2", "--eval-points", "0", "--out", str(tmp_path), "--no-progress"], capsys)
    assert rc == 1 and "became nan" in err
    assert "has no checkpoint" in err and "last good checkpoint is kept" not in err  # it diverged before any
    assert "start a new run with e.g. --lr 1e+24" in err
    run = next(tmp_path.iterdir())
    assert not (run / "checkpoint.pt").exists()


def test_resume_refuses_training_flags_by_name_and_takes_progress_and_json(tmp_path, capsys):
    run = _unfinished_run(tmp_path / "r")
    rc, err = _cli(["train", "--resume", str(run), "--lr", "0.01", "--batch-size", "7"], capsys)
    assert rc == 1 and "--lr, --batch-size cannot change a run half-way" in err
    assert main(["train", "--resume", str(run), "--no-progress", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["test_accuracy"] > 0.5


def test_a_run_in_use_is_locked_against_a_second_process(tmp_path, capsys):
    run = _unfinished_run(tmp_path / "r")
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from imgclass.runs import Run\n"
        "with Run(sys.argv[1]).lock():\n    print('locked', flush=True); time.sleep(60)\n"), str(run)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        rc, err = _cli(["train", "--resume", str(run), "--no-progress"], capsys)
        assert rc == 1 and f"is in use: another imgclass process (pid {holder.pid})" in err
        assert not (run / "results.json").exists() and not (run / "test_log.json").exists()
        rc, err = _cli(["evaluate", str(run)], capsys)
        assert rc == 1 and "is in use" in err
    finally:
        holder.kill()
        holder.wait()
    assert main(["train", "--resume", str(run), "--no-progress"]) == 0  # a dead holder leaves no stale lock
    assert len(json.loads((run / "test_log.json").read_text())) == 1


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_files_written_honour_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        train(TrainConfig(dataset="digits", model="linear", epochs=1), run_dir=tmp_path / "r", progress=False)
    finally:
        os.umask(old)
    files = [p for p in (tmp_path / "r").rglob("*") if p.is_file() and p.name != ".lock"]
    assert len(files) > 8
    assert {oct(p.stat().st_mode & 0o777) for p in files} == {oct(mode)}


def test_a_full_disk_mid_run_is_a_clear_error_and_the_run_resumes(tmp_path):
    """``ulimit -f`` makes every write past the limit fail as a full disk does (EFBIG instead of ENOSPC)."""
    script = ("import resource, sys; resource.setrlimit(resource.RLIMIT_FSIZE, (60_000, 60_000)); "
              "from imgclass.cli import main; sys.exit(main(sys.argv[1:]))")
    proc = subprocess.run([sys.executable, "-c", script, "train", "--dataset", "digits", "--epochs", "2",
                           "--out", str(tmp_path), "--no-progress"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.startswith("imgclass: error: ") and "Traceback" not in proc.stderr
    assert "File too large" in proc.stderr and "imgclass train --resume" in proc.stderr
    run = next(tmp_path.iterdir())
    assert Run.open(run).config()["dataset"] == "digits"  # what was written before is whole
    assert train(resume=run, progress=False)["test_accuracy"] > 0.8


def test_os_errors_name_the_file_and_the_fix(monkeypatch, tmp_path, capsys):
    """Read-only folders cannot be made for root, who runs CI: the error is raised where the write happens."""
    import imgclass.fileio as fileio

    def refuse(*a, **k):
        raise PermissionError(errno.EACCES, "Permission denied", str(tmp_path / "out"))

    monkeypatch.setattr(fileio.Path, "mkdir", refuse)
    rc, err = _cli(["train", *QUICK, "--out", str(tmp_path / "out")], capsys)
    assert rc == 1 and err.startswith(f"imgclass: error: {tmp_path / 'out'}: Permission denied; choose a place")


def test_a_good_cifar_archive_beside_a_read_only_folder_is_not_called_corrupt(tmp_path, monkeypatch):
    from imgclass.data import cifar

    archive = cifar.write_cifar10(tmp_path, *cifar_like(np.random.default_rng(0)), archive=True)

    def refuse(path, mode="wb"):
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(cifar, "atomic_write", refuse)
    with pytest.raises(ImgclassError) as e:
        cifar.extract_archive(archive, tmp_path)
    assert "the archive" in str(e.value) and "is fine" in str(e.value) and "corrupt" not in str(e.value)


def cifar_like(rng):
    x = rng.integers(0, 256, (20, 3, 32, 32), dtype=np.uint8)
    y = np.arange(20) % 10
    return x, y, x[:10], y[:10]


def test_a_report_asked_into_a_folder_is_written_inside_it(made, tmp_path, capsys):
    run = tmp_path / "done"
    shutil.copytree(made / "done", run)
    config = (run / "config.json").read_bytes()
    assert main(["report", str(run), "--out", str(run)]) == 0  # was: IsADirectoryError from os.replace
    assert (run / "report.html").read_bytes().startswith(b"<!DOCTYPE html>")
    assert (run / "config.json").read_bytes() == config
