"""``imgclass demo``: the whole pipeline on the bundled digits, in well under a minute on 2 cores.

Load scikit-learn's 8x8 digits (always offline), split them with a seed,
normalize with training statistics, train a small CNN on the PyTorch engine
(or the from-scratch NumPy engine with ``engine="numpy"``) through the
Trainer, evaluate on the test split once, and write the run directory:
config, metrics.csv, checkpoint, model, results, and plots (curves,
confusion matrices, per-class accuracy, confident mistakes, sample grid,
class histogram).
"""

from __future__ import annotations

from pathlib import Path

from imgclass.data import load
from imgclass.data.plots import save_dataset_plots
from imgclass.train import TrainConfig
from imgclass.train.run import train

DEMO_MODEL = "cnn:16,32;fc=64"


def demo_config(*, seed: int = 0, epochs: int = 15, lr: float = 3e-3, batch_size: int = 64,
                engine: str = "torch") -> TrainConfig:
    """The demo's recipe: Adam with a one-cycle schedule on a two-block CNN, in the default memory layout
    (8x8 images: the cnn recipe's channels_last does not pay off)."""
    return TrainConfig(dataset="digits", engine=engine, model=DEMO_MODEL, optimizer="adam", lr=lr,
                       schedule="onecycle", epochs=epochs, batch_size=batch_size, channels_last=None, seed=seed,
                       name="demo")


def run_demo(*, seed: int = 0, epochs: int = 15, lr: float = 3e-3, batch_size: int = 64, engine: str = "torch",
             out_root: str | Path = "runs", progress: bool = True) -> dict:
    """Train, test once, write the run directory with its plots; return the run's figures."""
    r = train(demo_config(seed=seed, epochs=epochs, lr=lr, batch_size=batch_size, engine=engine), out_root=out_root,
              progress=progress)
    plots = save_dataset_plots(load("digits", seed=seed), Path(r["run_dir"]) / "plots", seed=seed)
    r["plots"] += [str(p) for p in plots.values()]
    return r
