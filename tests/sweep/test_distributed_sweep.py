"""examples/distributed_sweep.py: Optuna trials on PostgreSQL, each a 2-process torchrun job (README)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.sweep.conftest import subprocess_env

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "distributed_sweep.py"


def sweep_example(tmp_path, postgres_url, study: str, *train_args: str) -> subprocess.CompletedProcess:
    """The example, 2 trials of 2 processes each (one thread), on a tiny MLP on digits."""
    env = {**subprocess_env(), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, str(EXAMPLE), "--storage", postgres_url, "--study", study, "--trials", "2",
                           "--nproc-per-node", "2", "--out", str(tmp_path / "trials"), "--",
                           "--dataset", "digits", "--model", "mlp:16", *train_args],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)


def test_a_sweep_of_torchrun_trials_shares_one_postgres_study(tmp_path, postgres_url):
    r = sweep_example(tmp_path, postgres_url, "dist1", "--epochs", "2")
    assert r.returncode == 0, r.stderr
    assert "best of 2 trials" in r.stdout and "imgclass train --dataset digits" in r.stdout
    results = [json.loads(p.read_text()) for p in (tmp_path / "trials").glob("dist1/*/*/results.json")]
    assert len(results) == 2, r.stderr[-3000:]
    for res in results:
        assert res["processes"] == 2 and res["test_accuracy"] is None and res["val_accuracy"] > 0


def load_example():
    import importlib.util

    spec = importlib.util.spec_from_file_location("distributed_sweep", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


#: The end of a torchrun job whose process 1 aborted (seen here, trimmed).
TORCHRUN_ABORT = """terminate called without an active exception
torch.distributed.elastic.multiprocessing.errors.ChildFailedError:
=======================================================
imgclass FAILED
-------------------------------------------------------
Failures:
[1]:
  rank      : 0 (local_rank: 0)
  exitcode  : -15 (pid: 21840)  (SIGTERM)
  traceback : Signal 15 (SIGTERM) received by PID 21840
-------------------------------------------------------
Root Cause (first observed failure):
[0]:
  time      : 2026-12-07_09:21:21
  host      : localhost
  rank      : 1 (local_rank: 1)
  exitcode  : -6 (pid: 21841)  (SIGABRT)
  error_file: <N/A>
  traceback : Signal 6 (SIGABRT) received by PID 21841
=======================================================
"""


def test_a_failed_trial_says_why_not_the_last_line_of_torchruns_box():
    why = load_example().why_failed
    assert why(TORCHRUN_ABORT) == ("rank : 1 (local_rank: 1); exitcode : -6 (pid: 21841) (SIGABRT); "
                                   "traceback : Signal 6 (SIGABRT) received by PID 21841")
    ours = "W1207 warning\nimgclass: error: --lr must be > 0, got -1\n" + TORCHRUN_ABORT
    assert why(ours) == "imgclass: error: --lr must be > 0, got -1"
    assert why("Traceback (most recent call last):\nValueError: bad\n=====\n") == "ValueError: bad"
    assert why("") == "no output"


def test_failed_trials_keep_their_output_and_three_in_a_row_stop_the_worker(tmp_path, postgres_url):
    r = sweep_example(tmp_path, postgres_url, "dist-bad", "--epochs", "0")
    assert r.returncode == 1 and "three trials in a row failed" in r.stderr
    logs = sorted((tmp_path / "trials" / "dist-bad").glob("trial*/torchrun.log"))
    assert len(logs) == 3
    assert "imgclass: error:" in r.stderr and "epochs" in r.stderr and str(logs[0]) in r.stderr
    assert "epochs" in logs[0].read_text()
