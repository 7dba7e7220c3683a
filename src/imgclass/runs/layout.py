"""A run directory: what kind it is, and the one reader and writer of its files.

Every command that produces results writes one directory (``<out>/<YYYYmmdd-HHMMSS>-<name>/``);
:class:`Run` is the only code that opens its files by name. Each directory has a
``config.json`` and, once finished, a ``results.json``; both carry a ``kind``:

============ ==================================================================
kind         written by
============ ==================================================================
train        ``imgclass train`` (either engine), ``imgclass demo``, every sweep trial
seeds        ``imgclass train --seeds N``: a parent of N train runs
linear       ``imgclass linear train``
linear-sweep ``imgclass linear sweep``
sweep        ``imgclass sweep`` (Optuna; its trials are train runs inside it)
study        ``imgclass study train-fraction|baselines`` (``study`` in its config names which)
============ ==================================================================

Directories written before ``kind`` existed still open (:mod:`imgclass.runs.legacy`).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from imgclass.errors import ImgclassError
from imgclass.fileio import new_run_dir, write_json
from imgclass.linear.config import LinearConfig, LinearSweepConfig
from imgclass.runs import legacy
from imgclass.runs.files import CONFIG, KINDS, LOCK, PLOTS, TEST_LOG, read_json
from imgclass.train.config import TrainConfig


class Run:
    """One run directory.

    >>> run = Run.open("runs/20260101-120000-torch-cnn-digits-s0")
    >>> run.kind, run.results()["test_accuracy"], run.plots

    Parameters
    ----------
    path : directory
    kind : str, optional
        Known already (a producer creating it); otherwise read from the directory when first asked.
    """

    def __init__(self, path: str | os.PathLike, kind: str | None = None):
        self.path = Path(path)
        self._kind = kind

    # --- opening and creating ---------------------------------------------------------------
    @classmethod
    def open(cls, path: str | os.PathLike, *, kind: str | tuple[str, ...] | None = None) -> "Run":
        """An existing run directory; ``kind`` (one or several) says which kinds the caller accepts."""
        run = cls(path)
        if not run.path.is_dir():
            raise ImgclassError(f"{run.path}: no such run directory")
        accepted = (kind,) if isinstance(kind, str) else kind
        if accepted and run.kind not in accepted:
            raise ImgclassError(f"{run.path} is a {run.kind} run; this needs a {' or '.join(accepted)} run")
        return run

    @classmethod
    def create(cls, kind: str, config: dict, *, root: str | os.PathLike = "runs", name: str = "",
               path: str | os.PathLike | None = None) -> "Run":
        """A new directory ``root/<stamp>-<name>`` (or ``path``, new or empty) with its ``config.json``."""
        if kind not in KINDS:
            raise ImgclassError(f"unknown run kind {kind!r}; kinds: {', '.join(KINDS)}")
        if path is not None:
            directory = Path(path)
            directory.mkdir(parents=True, exist_ok=True)
        else:
            directory = new_run_dir(root, name)
        run = cls(directory, kind)
        run.write(CONFIG, {"kind": kind, **config})
        return run

    # --- one process at a time -----------------------------------------------------------
    @contextlib.contextmanager
    def lock(self, doing: str = "trains or tests it"):
        """Hold the run's lock (``.lock``, an exclusive ``flock``) for the block; an error if another process has it.

        A process that dies releases it with its file descriptors, so a killed run never stays locked.
        """
        import fcntl

        path = self.path / LOCK
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as e:
            raise ImgclassError(f"{self.path}: cannot lock the run directory ({e.strerror}); check that it is "
                                "writable") from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
                raise ImgclassError(f"{self.path} is in use: another imgclass process (pid {holder}) {doing}; "
                                    "wait for it to end, then run the command again") from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            yield self
        finally:
            os.close(fd)

    # --- files ----------------------------------------------------------------------------
    def file(self, name: str) -> Path:
        return self.path / name

    def has(self, name: str) -> bool:
        return (self.path / name).is_file()

    def read(self, name: str, required: bool = False):
        """A JSON file of the run (None if absent and not ``required``)."""
        return read_json(self.path / name, required)

    def write(self, name: str, obj) -> Path:
        """Write a JSON file of the run atomically."""
        return write_json(self.path / name, obj)

    @property
    def plots(self) -> Path:
        return self.path / PLOTS

    @property
    def name(self) -> str:
        return self.path.resolve().name

    # --- what it holds ----------------------------------------------------------------------
    @property
    def kind(self) -> str:
        if self._kind is None:
            self._kind = legacy.kind_of(self.path)
        return self._kind

    def config(self) -> dict:
        """``config.json`` without its ``kind``."""
        return legacy.config_of(self.path, self.kind)

    def results(self) -> dict | None:
        """``results.json`` in the one schema (:mod:`imgclass.runs.schema`); None until the run finished."""
        return legacy.results_of(self.path, self.kind)

    def data(self) -> dict:
        """``data.json``: dataset, classes, image_shape (C, H, W), sizes ({} when absent)."""
        return legacy.data_of(self.path, self.kind)

    def train_config(self) -> TrainConfig:
        """The TrainConfig of a train run, or the base config of a seeds parent, a sweep or a train-fraction study."""
        cfg = self.config()
        if self.kind == "train":
            return TrainConfig.from_dict(cfg)
        if isinstance(cfg.get("config"), dict):
            return TrainConfig.from_dict(cfg["config"])
        raise ImgclassError(f"{self.path} is a {self.kind} run, not a training run")

    def linear_config(self) -> LinearConfig | LinearSweepConfig:
        """The typed config of a linear run or linear sweep."""
        cls = {"linear": LinearConfig, "linear-sweep": LinearSweepConfig}.get(self.kind)
        if cls is None:
            raise ImgclassError(f"{self.path} is a {self.kind} run, not a linear run")
        return cls.from_dict(self.config())

    def model_config(self):
        """The config that rebuilds the split and model of a train, linear or linear-sweep run."""
        return self.train_config() if self.kind == "train" else self.linear_config()

    def test_log(self) -> list[dict]:
        """Every use of the test split recorded for this run (empty if never tested)."""
        return self.read(TEST_LOG) or []

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r}, kind={self._kind!r})"
