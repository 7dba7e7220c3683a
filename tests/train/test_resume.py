"""A run killed with SIGKILL mid-epoch and resumed ends exactly like an uninterrupted run."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from imgclass.errors import ImgclassError
from imgclass.train import TrainConfig
from imgclass.train.callbacks import read_metrics
from imgclass.train.checkpoint import load_checkpoint
from imgclass.train.run import train

CASES = {
    # dropout draws from the layer's own generator, batch augmentation from the engine's; both restored
    "numpy": dict(engine="numpy", model="mlp:64,32;dropout=0.2", optimizer="nesterov", schedule="cosine",
                  flip=True, crop_padding=1),
    # dropout (torch's global RNG), batch augmentation (its own generator), one-cycle schedule, Adam state,
    # and the EMA weights with their step count
    # amp=False: the killed subprocess and this process must both run fp32 (conftest turns the automatic
    # bfloat16 off only in this process)
    "torch": dict(engine="torch", amp=False, model="cnn:8;fc=16;dropout=0.3", optimizer="adam", schedule="onecycle",
                  flip=True, crop_padding=1, lr=3e-3, ema=0.99),
    # the fast recipe's pieces: Muon's momentum, the triangle schedule of both optimizers, the lookahead copy,
    # the lower-resolution first steps
    "torch-fast": dict(engine="torch", amp=False, model="resnet:1,1;widths=8,8", optimizer="muon", schedule="triangle", lr=0.05,
                       muon_lr=0.05, norm_lr_scale=4.0, lookahead=True, progressive="6:0.5", tta_flip=True,
                       tta_shift=True, flip=True, crop_padding=1, label_smoothing=0.2),
}
KILLER = textwrap.dedent("""
    import json, os, signal, sys
    from imgclass.train import TrainConfig
    from imgclass.train.callbacks import Callback
    from imgclass.train.run import train

    class Kill(Callback):
        def on_step_end(self, trainer, loss, acc):
            if trainer.step == int(sys.argv[3]):
                os.kill(os.getpid(), signal.SIGKILL)

    train(TrainConfig.from_dict(json.loads(sys.argv[1])), run_dir=sys.argv[2], progress=False, callbacks=[Kill()])
""")


@pytest.mark.parametrize("case", CASES)
def test_killed_and_resumed_run_matches_an_uninterrupted_one(tmp_path, case):
    cfg = TrainConfig(dataset="digits", epochs=4, batch_size=64, seed=3, **CASES[case])
    steps_per_epoch = -(-1213 // 64)
    kill_at = 2 * steps_per_epoch + steps_per_epoch // 2  # in the middle of the third epoch
    killed = subprocess.run([sys.executable, "-c", KILLER, json.dumps(cfg.to_dict()), str(tmp_path / "killed"),
                             str(kill_at)], capture_output=True, text=True, timeout=300)
    assert killed.returncode == -9, killed.stderr  # really killed by SIGKILL, no clean-up ran
    assert not (tmp_path / "killed" / "results.json").exists()
    assert load_checkpoint(tmp_path / "killed" / "checkpoint.pt")["trainer"]["step"] == 2 * steps_per_epoch

    resumed = train(resume=tmp_path / "killed", progress=False)
    straight = train(cfg, run_dir=tmp_path / "straight", progress=False)

    rows_r, rows_s = (read_metrics(tmp_path / d / "metrics.csv") for d in ("killed", "straight"))
    assert len(rows_r) == len(rows_s) == 4
    for a, b in zip(rows_r, rows_s):
        a.pop("seconds"), b.pop("seconds")
        assert a == b
    for key in ("test_accuracy", "test_loss", "val_accuracy", "best_step", "train_loss"):
        assert resumed[key] == straight[key], key
    name = "model.npz" if case == "numpy" else "model.pt"
    if case == "numpy":
        with np.load(tmp_path / "killed" / name) as a, np.load(tmp_path / "straight" / name) as b:
            assert all(np.array_equal(a[k], b[k]) for k in b.files if k != "__meta__")
    else:
        a, b = (load_checkpoint(tmp_path / d / name) for d in ("killed", "straight"))
        assert all(bool((a[k] == b[k]).all()) for k in b)


def test_resuming_a_finished_run_is_refused(tmp_path):
    train(TrainConfig(dataset="digits", engine="numpy", model="mlp:16", epochs=1), run_dir=tmp_path / "r",
          progress=False)
    with pytest.raises(ImgclassError, match="finished"):
        train(resume=tmp_path / "r", progress=False)


def test_resume_from_a_damaged_checkpoint_says_so(tmp_path):
    cfg = TrainConfig(dataset="digits", engine="numpy", model="mlp:16", epochs=1)
    train(cfg, run_dir=tmp_path / "r", progress=False)
    (tmp_path / "r" / "results.json").unlink()
    (tmp_path / "r" / "checkpoint.pt").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ImgclassError, match="not a readable imgclass checkpoint"):
        train(resume=tmp_path / "r", progress=False)


def test_resume_needs_a_run_directory(tmp_path):
    with pytest.raises(ImgclassError, match="not a run directory"):
        train(resume=tmp_path, progress=False)


class _Interrupt:
    """What a Jupyter kernel's interrupt does: SIGINT to the process, a KeyboardInterrupt wherever it is."""

    def __init__(self, at: int):
        self.at = at

    def on_train_begin(self, trainer): ...

    def on_eval(self, trainer, row): ...

    def on_train_end(self, trainer): ...

    def state_dict(self):
        return {}

    def load_state_dict(self, state): ...

    def on_step_end(self, trainer, loss, acc):
        if trainer.step == self.at:
            import signal

            signal.raise_signal(signal.SIGINT)


def test_an_interrupted_call_keeps_the_run_and_resumes_from_python(tmp_path):
    """A notebook user interrupts train(): the run stays, and train(resume=...) ends it as if never stopped."""
    cfg = TrainConfig(dataset="digits", model="mlp:16", epochs=3, batch_size=64, seed=1)
    with pytest.raises(ImgclassError, match=r"interrupted at step 30; continue with: imgclass train --resume .*"
                                            r"\(from Python: train\(resume="):
        train(cfg, run_dir=tmp_path / "cut", progress=False, callbacks=[_Interrupt(30)])
    assert not (tmp_path / "cut" / "results.json").exists()
    resumed = train(resume=tmp_path / "cut", progress=False)
    straight = train(cfg, run_dir=tmp_path / "straight", progress=False)
    for key in ("test_accuracy", "test_loss", "val_accuracy", "train_loss", "steps"):
        assert resumed[key] == straight[key], key
