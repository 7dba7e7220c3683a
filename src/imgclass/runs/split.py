"""The split of a run, rebuilt from its config: the one place that turns a config back into data."""

from __future__ import annotations

from imgclass.data import Split, load, make_split


def rebuild_split(cfg) -> Split:
    """The train/val/test split a TrainConfig, LinearConfig or LinearSweepConfig describes (uint8 images).

    The same config gives the same split: the dataset's own train/test split (or its seeded one), then
    a seeded, stratified validation part (``val``) and training fraction (``train_fraction``).
    """
    return make_split(load(cfg.dataset, **cfg.data_options), val=cfg.val, seed=cfg.seed,
                      train_fraction=getattr(cfg, "train_fraction", 1.0))
