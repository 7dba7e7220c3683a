"""Sweep fixtures: a real PostgreSQL server (Debian's ``postgresql`` package) on 127.0.0.1, and small configs."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from imgclass.train import TrainConfig


def tiny_config(**changes) -> TrainConfig:
    """A small MLP on digits that trains in well under a second per epoch on one core."""
    base = dict(dataset="digits", model="mlp:16", epochs=1, batch_size=64, threads=1, eval_points=2, device="cpu")
    return TrainConfig(**{**base, **changes})


def sweep_command(*args: str) -> list[str]:
    """``python -m imgclass sweep`` on a tiny model, one CPU thread, no progress bar, JSON last line."""
    return [sys.executable, "-m", "imgclass", "sweep", "--model", "mlp:16", "--dataset", "digits", "--epochs", "2",
            "--batch-size", "64", "--threads", "1", "--device", "cpu", "--no-progress", "--json", *args]


def subprocess_env() -> dict:
    return {**os.environ, "PYTHONWARNINGS": "ignore", "MPLBACKEND": "Agg"}


def _postgres_bindir() -> Path | None:
    """The newest /usr/lib/postgresql/<version>/bin with initdb and pg_ctl, else the ones on PATH."""
    def version(d: str) -> tuple:
        v = Path(d).parent.name
        return tuple(int(p) for p in v.split(".") if p.isdigit())

    for d in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True):
        if all(os.access(Path(d) / b, os.X_OK) for b in ("initdb", "pg_ctl")):
            return Path(d)
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb and pg_ctl:
        return Path(os.path.realpath(initdb)).parent
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def postgres_url():
    """Start a throwaway PostgreSQL server on 127.0.0.1 (as user postgres when run as root); yield a database URL."""
    bindir = _postgres_bindir()
    if bindir is None:
        reason = "PostgreSQL server binaries (initdb, pg_ctl) not found: apt-get install -y postgresql"
        if os.environ.get("IMGCLASS_REQUIRE_POSTGRES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    import psycopg  # the driver SQLAlchemy uses for postgresql:// URLs

    root = Path(tempfile.mkdtemp(prefix="imgclass-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # the server refuses to run as root
        import pwd

        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            pytest.fail("running as root but there is no 'postgres' user to run the server as "
                        "(apt-get install postgresql creates it)")
        os.chown(root, pw.pw_uid, pw.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    data, log, port = root / "data", root / "server.log", _free_port()

    def run(*cmd):
        proc = subprocess.run([*as_user, *map(str, cmd)], capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            extra = log.read_text() if log.exists() else ""
            raise RuntimeError(f"{' '.join(map(str, cmd))} failed:\n{proc.stdout}\n{proc.stderr}\n{extra}")

    started = False
    try:
        run(bindir / "initdb", "-D", data, "-U", "imgclass", "-A", "trust", "-E", "UTF8", "--no-sync")
        run(bindir / "pg_ctl", "-D", data, "-l", log, "-w", "-t", "60", "-o",
            f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={root} -c fsync=off", "start")
        started = True
        with psycopg.connect(host="127.0.0.1", port=port, user="imgclass", dbname="postgres", autocommit=True) as conn:
            conn.execute("CREATE DATABASE sweeps")
        yield f"postgresql://imgclass@127.0.0.1:{port}/sweeps"
    finally:
        if started:
            subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
                           capture_output=True, timeout=60)
        shutil.rmtree(root, ignore_errors=True)
