"""Shared fixtures: an isolated data environment and small official-format files."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
# $IMGCLASS_DATA as the test session found it (each test then runs without it, see _isolated_data_env);
# .ci/run builds CIFAR-10 there from ../shared
_DATA_ROOT = os.environ.get("IMGCLASS_DATA")
CIFAR10_DIR = Path(_DATA_ROOT).expanduser() / "cifar10" if _DATA_ROOT else None


@pytest.fixture(autouse=True)
def _isolated_data_env(tmp_path_factory, monkeypatch):
    """No test reads or writes the user's real cache or $IMGCLASS_DATA."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.delenv("IMGCLASS_DATA", raising=False)


@pytest.fixture(autouse=True)
def _full_precision_by_default(monkeypatch):
    """Tests compare fp32 numbers exactly (engines, export, one vs two processes), so the automatic bfloat16
    autocast of a CPU with native bfloat16 (AVX512-BF16, AMX) stays off in them, as on a CPU without it; a
    test that wants bfloat16 asks for it (amp=True), tests/deep/test_device.py checks the detection itself,
    and tests that compare the numbers of imgclass subprocesses pass --no-amp."""
    import imgclass.deep.device as device

    real = device.cpu_has_native_bf16
    monkeypatch.setattr(device, "cpu_has_native_bf16",
                        lambda cpuinfo="/proc/cpuinfo": False if cpuinfo == "/proc/cpuinfo" else real(cpuinfo))


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def make_images(rng, n: int, shape=(1, 28, 28), k: int = 10):
    """Random uint8 images (N, C, H, W) and labels cycling through every class."""
    x = rng.integers(0, 256, size=(n, *shape), dtype=np.uint8)
    y = np.arange(n) % k
    return x, y


def require_fashion_mnist():
    """Skip without the Debian dataset, unless CI demands it (IMGCLASS_REQUIRE_REAL_DATA=1)."""
    if not (FASHION_DIR / "train-images-idx3-ubyte.gz").is_file():
        if os.environ.get("IMGCLASS_REQUIRE_REAL_DATA") == "1":
            pytest.fail(f"real Fashion-MNIST missing from {FASHION_DIR}: apt-get install -y dataset-fashion-mnist")
        pytest.skip("real Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")


def require_cifar10() -> dict:
    """The data options that load the real CIFAR-10 (``{"data_dir": ...}``); skip without it, unless CI demands it.

    CIFAR-10 is looked for in ``$IMGCLASS_DATA/cifar10`` (the official python batches, as
    ``../shared/tools/cifar10-from-jpeg`` writes them).
    """
    if CIFAR10_DIR is None or not (CIFAR10_DIR / "cifar-10-batches-py" / "test_batch").is_file():
        where = CIFAR10_DIR or "$IMGCLASS_DATA/cifar10 ($IMGCLASS_DATA is not set)"
        if os.environ.get("IMGCLASS_REQUIRE_REAL_DATA") == "1":
            pytest.fail(f"real CIFAR-10 missing from {where}: run ../shared/tools/cifar10-from-jpeg "
                        "$IMGCLASS_DATA/cifar10 (.ci/run does)")
        pytest.skip(f"real CIFAR-10 not found in {where}")
    return {"data_dir": str(CIFAR10_DIR)}
