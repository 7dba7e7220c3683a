"""Several worker processes on one study: PostgreSQL shared by two workers, and a worker killed with SIGKILL."""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from tests.sweep.conftest import subprocess_env, sweep_command

pytestmark = pytest.mark.slow


def last_json(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


def test_two_workers_share_one_postgresql_study_and_every_trial_finishes_exactly_once(postgres_url, tmp_path):
    # Two "machines": each worker has its own output directory; the study in PostgreSQL is all they share.
    procs = [subprocess.Popen(sweep_command("--storage", postgres_url, "--study", "shared", "--trials", "6",
                                            "--sampler", "random", "--pruner", "none", "--heartbeat", "1",
                                            "--out", str(tmp_path / f"worker{i}")),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=subprocess_env())
             for i in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err
    results = [last_json(out) for out, _ in outs]
    assert all(r["storage"] == postgres_url for r in results)

    trials = optuna.load_study(study_name="shared", storage=postgres_url).get_trials()
    assert [t.number for t in trials] == list(range(len(trials)))
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == 6  # exactly the requested number, not one per worker more
    # anything else can only be a trial created in the same instant as the 6th and never run
    assert all(t.state == TrialState.FAIL and "surplus" in t.user_attrs for t in trials if t not in complete)
    assert sum(r["ran"] for r in results) == len(trials) and all(r["ran"] >= 1 for r in results)
    assert len({t.user_attrs["worker"] for t in complete}) == 2

    # every completed trial has one run directory, written by the worker that ran it; no other worker has one
    for t in complete:
        dirs = sorted(tmp_path.glob(f"worker*/*-sweep-shared/trials/trial-{t.number}"))
        assert dirs == [Path(t.user_attrs["run_dir"])]
        assert json.loads((dirs[0] / "results.json").read_text())["val_accuracy"] == t.value

    # one worker ends the sweep: it tests the best once and writes sweep.json
    (finisher,) = [r for r in results if r["finished_by_me"]]
    doc = json.loads((Path(finisher["sweep_dir"]) / "sweep.json").read_text())
    assert doc["counts"]["COMPLETE"] == 6 and doc["best"]["value"] == max(t.value for t in complete)
    assert doc["best"]["test_accuracy"] is not None
    assert [p.parent.name for p in tmp_path.rglob("test_log.json")] == [Path(doc["best"]["run_dir"]).name]


def _wait_for_a_running_trial_after_a_complete_one(storage: str, study: str, proc, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1]
        try:
            trials = optuna.load_study(study_name=study, storage=storage).get_trials()
        except KeyError:  # not created yet
            trials = []
        states = [t.state for t in trials]
        if TrialState.COMPLETE in states and states[-1] == TrialState.RUNNING and "run_dir" in trials[-1].user_attrs:
            return trials
        time.sleep(0.1)
    raise AssertionError("the worker never had a running trial after a complete one")


def test_a_worker_killed_mid_trial_loses_nothing_and_resume_finishes_the_study(tmp_path):
    storage = f"sqlite:///{tmp_path / 'sweeps.db'}"
    cmd = sweep_command("--study", "killme", "--trials", "4", "--sampler", "random", "--pruner", "none",
                        "--heartbeat", "1", "--epochs", "4", "--out", str(tmp_path))
    worker = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=subprocess_env())
    try:
        before = _wait_for_a_running_trial_after_a_complete_one(storage, "killme", worker)
        os.kill(worker.pid, signal.SIGKILL)
        worker.communicate(timeout=60)
    finally:
        if worker.poll() is None:
            worker.kill()
    killed = before[-1]
    done_before = {t.number: t.value for t in before if t.state == TrialState.COMPLETE}

    # no --study: --resume takes the latest study in the storage, with its own settings
    proc = subprocess.run(sweep_command("--resume", "--heartbeat", "1", "--out", str(tmp_path)),
                          capture_output=True, text=True, env=subprocess_env(), timeout=300)
    assert proc.returncode == 0, proc.stderr
    r = last_json(proc.stdout)
    assert r["study"] == "killme" and r["finished_by_me"]

    trials = optuna.load_study(study_name="killme", storage=storage).get_trials()
    states = {t.number: t.state for t in trials}
    assert states[killed.number] == TrialState.FAIL  # the trial the kill interrupted
    assert sum(s == TrialState.COMPLETE for s in states.values()) == 4
    assert TrialState.RUNNING not in states.values() and TrialState.WAITING not in states.values()
    assert {t.number: t.value for t in trials if t.number in done_before} == done_before  # untouched
    (retry,) = [t for t in trials if t.system_attrs.get("failed_trial") == killed.number]
    assert retry.state == TrialState.COMPLETE and retry.params == killed.params
    killed_dir = Path(killed.user_attrs["run_dir"])
    assert killed_dir.is_dir() and not (killed_dir / "results.json").exists()  # left as the kill found it

    doc = json.loads((Path(r["sweep_dir"]) / "sweep.json").read_text())
    rows = {t["number"]: t for t in doc["trials"]}
    assert rows[killed.number]["state"] == "FAIL" and rows[retry.number]["note"] == f"retry of trial {killed.number}"
    assert doc["best"]["test_accuracy"] is not None
