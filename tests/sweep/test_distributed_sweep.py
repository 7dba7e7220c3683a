"""examples/distributed_sweep.py: Optuna trials on PostgreSQL, each a 2-process torchrun job (README)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.sweep.conftest import subprocess_env

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "distributed_sweep.py"


def test_a_sweep_of_torchrun_trials_shares_one_postgres_study(tmp_path, postgres_url):
    env = {**subprocess_env(), "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, str(EXAMPLE), "--storage", postgres_url, "--study", "dist1", "--trials", "2",
                        "--nproc-per-node", "2", "--out", str(tmp_path / "trials"), "--",
                        "--dataset", "digits", "--model", "mlp:16", "--epochs", "2"],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert "best of 2 trials" in r.stdout and "imgclass train --dataset digits" in r.stdout
    results = [json.loads(p.read_text()) for p in (tmp_path / "trials").glob("dist1/*/*/results.json")]
    assert len(results) == 2, r.stderr[-3000:]
    for res in results:
        assert res["processes"] == 2 and res["test_accuracy"] is None and res["val_accuracy"] > 0
