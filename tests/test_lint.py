"""The code has no unused imports, undefined names or other pyflakes errors (ruff's F rules)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_finds_no_pyflakes_error():
    cmd = [sys.executable, "-m", "ruff", "check", "--select", "F", "--output-format", "concise", "--no-cache",
           "src", "tests", "benchmarks", "examples"]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert "No module named ruff" not in r.stderr, "ruff is missing: pip install -r requirements-dev.txt"
    assert r.returncode == 0, r.stdout + r.stderr
