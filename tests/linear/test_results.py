"""What a linear sweep found: SweepResult saved to readable files, and its plots."""

import json

import numpy as np
import pytest

from imgclass.errors import ImgclassError
from imgclass.linear.plots import plot_sweep
from imgclass.linear.results import SweepResult
from imgclass.linear.search import grid

from tests.linear.sweeps import DIVERGES, ITERS, run


@pytest.fixture(scope="module")
def result(sweep_digits) -> SweepResult:
    return run(sweep_digits, [*grid([1e-3, 1e-1], [0.0, 1e-2, 1.0]), DIVERGES])


def test_save_writes_readable_files(result, tmp_path):
    paths = result.save(tmp_path / "out" / "records.json", tmp_path / "out" / "weights.npz")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["records.json", "weights.npz"]
    doc = json.loads(paths["json"].read_text(), parse_constant=lambda c: pytest.fail(f"not strict JSON: {c}"))
    assert doc["loss"] == "softmax" and doc["num_configs"] == 7 and doc["num_diverged"] == 1
    assert doc["best_index"] == result.best_index and doc["best"]["val_acc"] == result.best["val_acc"]
    assert doc["records"][-1]["val_acc"] is None and doc["records"][-1]["diverged"] is True
    assert doc["settings"]["num_iters"] == ITERS and doc["seconds"] > 0
    with np.load(paths["weights"], allow_pickle=False) as z:
        np.testing.assert_array_equal(z["W"], result.best_W)
        assert float(z["lr"]) == result.best["lr"] and str(z["loss"]) == "softmax" and "b" not in z
        np.testing.assert_array_equal(z["history"], result.history[:, result.best_index])
    json.dumps(result.to_dict(), allow_nan=False)


def test_save_refuses_a_file_as_directory(result, tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(ImgclassError, match="not a directory"):
        result.save(tmp_path / "f" / "records.json", tmp_path / "f" / "weights.npz")


def test_plot_sweep_writes_two_pngs(result, tmp_path):
    paths = plot_sweep(result, tmp_path / "plots")
    assert set(paths) == {"train", "val"}
    for p in paths.values():
        assert p.parent == tmp_path / "plots" and p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert paths["train"] != paths["val"]
