"""Checkpoints: one atomic file with arrays and tensors, read back without running code, RNG states restored."""

import pickle
import random

import numpy as np
import pytest
import torch

from imgclass.errors import ImgclassError
from imgclass.train.checkpoint import MAGIC, load_checkpoint, rng_state, save_checkpoint, set_rng_state


def test_nested_arrays_tensors_and_values_come_back_as_they_went_in(tmp_path):
    state = {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "t": torch.ones(2, 2), "step": 7, "name": "x",
             "nested": {"rows": [{"loss": 0.5}, {"loss": 0.25}], "b": np.int64(3)}, "none": None}
    path = save_checkpoint(tmp_path / "c.pt", state)
    back = load_checkpoint(path)
    assert isinstance(back["w"], np.ndarray) and back["w"].dtype == np.float32
    np.testing.assert_array_equal(back["w"], state["w"])
    assert torch.equal(back["t"], state["t"]) and back["step"] == 7 and back["nested"]["b"] == 3
    assert back["nested"]["rows"] == [{"loss": 0.5}, {"loss": 0.25}] and back["none"] is None
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]  # no temporary file left


def test_a_crafted_pickle_runs_no_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (open, (str(tmp_path / "pwned"), "w"))

    path = tmp_path / "evil.pt"
    torch.save({"x": Evil()}, path, pickle_module=pickle)
    with pytest.raises(ImgclassError, match="not a readable imgclass checkpoint"):
        load_checkpoint(path)
    assert not (tmp_path / "pwned").exists()


def test_missing_and_truncated_files_are_clear_errors(tmp_path):
    with pytest.raises(ImgclassError, match="no checkpoint here"):
        load_checkpoint(tmp_path / "none.pt")
    path = save_checkpoint(tmp_path / "c.pt", {"w": np.zeros(1000)})
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ImgclassError, match="checkpoint is damaged"):
        load_checkpoint(path)
    (tmp_path / "foreign.pt").write_bytes(b"not a checkpoint at all")
    with pytest.raises(ImgclassError, match="not a readable imgclass checkpoint"):
        load_checkpoint(tmp_path / "foreign.pt")


def test_flipped_bytes_anywhere_are_refused_not_loaded(tmp_path):
    state = {"w": np.linspace(0, 1, 5000, dtype=np.float32), "step": 3}
    path = save_checkpoint(tmp_path / "c.pt", state)
    good = path.read_bytes()
    rng = np.random.default_rng(0)
    # the header's digest, the archive's zip directory, and the middle of the weights' bytes
    for at in (len(MAGIC) + 5, len(good) - 30, len(good) // 2):
        bad = bytearray(good)
        bad[at] ^= 1 << int(rng.integers(8))
        path.write_bytes(bytes(bad))
        with pytest.raises(ImgclassError, match="damaged"):
            load_checkpoint(path)
    path.write_bytes(good)
    np.testing.assert_array_equal(load_checkpoint(path)["w"], state["w"])


def test_a_checkpoint_written_before_the_digest_still_loads(tmp_path):
    torch.save({"step": 5, "w": torch.arange(3)}, tmp_path / "old.pt")
    back = load_checkpoint(tmp_path / "old.pt")
    assert back["step"] == 5 and torch.equal(back["w"], torch.arange(3))


def test_rng_state_restores_python_numpy_and_torch_draws(tmp_path):
    state = rng_state()
    first = (random.random(), np.random.rand(), float(torch.rand(1)))
    set_rng_state(load_checkpoint(save_checkpoint(tmp_path / "rng.pt", {"rng": state}))["rng"])
    assert (random.random(), np.random.rand(), float(torch.rand(1))) == first
