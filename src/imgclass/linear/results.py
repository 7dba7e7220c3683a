"""What a linear sweep found: :class:`SweepResult`, one record per (lr, reg) config, saved atomically."""

from __future__ import annotations

import io
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from imgclass.errors import ImgclassError
from imgclass.fileio import atomic_write


def _json_safe(v):
    if isinstance(v, dict):
        return {k: _json_safe(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_json_safe(x) for x in v]
    if isinstance(v, (np.floating, float)):
        return float(v) if math.isfinite(v) else None  # NaN is not JSON
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.bool_):
        return bool(v)
    return v


@dataclass
class SweepResult:
    """What a sweep found.

    Attributes
    ----------
    loss : str
        ``"softmax"`` or ``"svm"``.
    records : list of dict
        One per config, in config order: ``lr``, ``reg``, ``train_acc``,
        ``val_acc``, ``final_loss`` (the minibatch loss of the last
        iteration), ``diverged`` (bool) and ``diverged_at`` (the 1-based
        iteration whose loss was not finite, or None). A diverged config has
        NaN accuracies and final loss.
    best_index : int
        Index into ``records`` of the best validation accuracy (the first
        one on a tie); diverged configs are never chosen.
    best_W : ndarray (C, D)
        Trained weights of the best config (a NumPy array even when the
        sweep ran on torch tensors).
    best_b : ndarray (C,) or None
        Its explicit bias; None with the bias trick (what :func:`sweep` uses).
    seconds : float
        Wall time of the whole sweep (training and accuracies).
    history : ndarray (num_iters, K)
        Minibatch loss of every config at every iteration; NaN after a
        config diverged.
    settings : dict
        The training settings (num_iters, batch_size, seed, ...), for the record.
    """

    loss: str
    records: list[dict]
    best_index: int
    best_W: np.ndarray
    best_b: np.ndarray | None
    seconds: float
    history: np.ndarray
    settings: dict = field(default_factory=dict)

    @property
    def best(self) -> dict:
        """The record of the best config."""
        return self.records[self.best_index]

    def to_dict(self) -> dict:
        """JSON-ready summary: records, best, timing and settings (NaN written as null; no weights)."""
        return _json_safe({
            "loss": self.loss,
            "num_configs": len(self.records),
            "num_diverged": sum(bool(r["diverged"]) for r in self.records),
            "best_index": self.best_index,
            "best": self.best,
            "seconds": self.seconds,
            "settings": self.settings,
            "records": self.records,
        })

    def save(self, json_path: str | os.PathLike, weights_path: str | os.PathLike) -> dict[str, Path]:
        """Write :meth:`to_dict` as JSON to ``json_path`` and the best weights to ``weights_path``, atomically.

        The ``.npz`` holds ``W`` (C, D), ``b`` (only with an explicit bias),
        ``lr``, ``reg``, ``loss`` (the loss name) and ``history``
        (num_iters,), the best config's loss curve. (In a run directory these are
        ``sweep.json`` and ``best_weights.npz``, see :mod:`imgclass.runs.files`.)

        Returns
        -------
        dict
            ``{"json": path, "weights": path}``.
        """
        paths = {"json": Path(json_path), "weights": Path(weights_path)}
        for p in paths.values():
            if p.parent.exists() and not p.parent.is_dir():
                raise ImgclassError(f"{p.parent} exists and is not a directory; choose another output directory")
        text = json.dumps(self.to_dict(), indent=2, allow_nan=False)
        with atomic_write(paths["json"], "w") as f:
            f.write(text + "\n")
        arrays = {"W": np.asarray(self.best_W), "lr": np.float64(self.best["lr"]), "reg": np.float64(self.best["reg"]),
                  "loss": np.str_(self.loss), "history": np.asarray(self.history)[:, self.best_index]}
        if self.best_b is not None:
            arrays["b"] = np.asarray(self.best_b)
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        with atomic_write(paths["weights"]) as f:
            f.write(buf.getvalue())
        return paths
