"""An Optuna study in shared storage: opening, creating, joining, resuming it; samplers and pruners.

A study lives in an Optuna storage (a SQLite file by default, PostgreSQL to
share it between machines). :func:`open_study` creates a study, joins one of the
same settings, or continues one with its stored settings; :class:`Study` is what
a worker holds. The trials themselves are run by :mod:`imgclass.sweep.worker`.

Sweep directory (``<out>/<YYYYmmdd-HHMMSS>-sweep-<name>/``, kind ``sweep``)::

    config.json            the base configuration, search space, sampler, pruner, trials
    sweep.json             study, storage (no password), every trial, the best and its test accuracy
    results.json           the one results schema (imgclass.runs.schema)
    plots/*.png            optimization history, parameter importances, learning rate x regularization
    trials/trial-<N>/      trial N's run directory (an ordinary ``imgclass train`` run, never tested)
    best-trial-<N>/        the best configuration retrained with a test evaluation, when its run is not here
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
import warnings
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from imgclass.errors import ImgclassError
from imgclass.fileio import new_run_dir
from imgclass.runs import Run
from imgclass.runs.files import CONFIG
from imgclass.sweep import space as sp

SAMPLERS = ("tpe", "random", "grid")
PRUNERS = ("median", "halving", "none")
ATTR = "imgclass"  # the study's user attribute holding its settings


def worker_id() -> str:
    """``host:pid:random``: tells apart the workers of a study, several per process included."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass
class Study:
    """An opened study: the Optuna study, its settings, this worker's sweep directory."""

    study: object
    name: str
    url: str
    settings: dict
    sweep_dir: Path
    worker: str = field(default_factory=lambda: worker_id())


# --- storage, samplers, pruners ---------------------------------------------------------------
def public_url(url: str) -> str:
    """The URL with any password replaced by ``***``."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def storage_url(storage: str | None, out_root: str | Path) -> str:
    """A SQLAlchemy URL: ``storage`` as given, a file path as SQLite, or ``<out_root>/sweeps.db``."""
    if storage and "://" in storage:
        return storage
    path = Path(storage) if storage else Path(out_root) / "sweeps.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path.resolve()}"


def open_storage(url: str, heartbeat: int, attempts: int = 5):
    """The Optuna RDB storage at ``url``, with heartbeats and one retry of each trial whose worker died.

    Workers started together on an empty database race to create its tables; the losers retry.
    """
    import optuna
    from sqlalchemy.exc import DBAPIError, SQLAlchemyError

    if heartbeat < 1:
        raise ImgclassError(f"--heartbeat must be >= 1 second, got {heartbeat}")
    kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {"pool_pre_ping": True}
    for attempt in range(attempts):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            try:
                return optuna.storages.RDBStorage(
                    url, engine_kwargs=kwargs, heartbeat_interval=heartbeat, grace_period=3 * heartbeat,
                    heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=1))
            except DBAPIError as e:  # e.g. "duplicate key ... already exists" from a concurrent schema creation
                if attempt == attempts - 1 or "connect" in str(e).lower():
                    raise ImgclassError(f"cannot open the study storage {public_url(url)}: {e}") from None
                time.sleep(0.5 * (attempt + 1))
            except (SQLAlchemyError, ImportError, ValueError) as e:
                raise ImgclassError(f"cannot open the study storage {public_url(url)}: {e}") from None
    raise AssertionError("unreachable")


def make_sampler(name: str, space: list[sp.Param], seed: int, grid_points: int):
    import optuna

    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, constant_liar=True)  # liar: spread concurrent workers
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "grid":
        return optuna.samplers.GridSampler({p.name: p.grid(grid_points) for p in space}, seed=seed)
    raise ImgclassError(f"--sampler must be one of {', '.join(SAMPLERS)}, got {name!r}")


def make_pruner(name: str):
    import optuna

    pruners = {"median": optuna.pruners.MedianPruner, "halving": optuna.pruners.SuccessiveHalvingPruner,
               "none": optuna.pruners.NopPruner}
    if name not in pruners:
        raise ImgclassError(f"--pruner must be one of {', '.join(PRUNERS)}, got {name!r}")
    return pruners[name]()


def grid_size(space: list[sp.Param], grid_points: int) -> int:
    return int(np.prod([len(p.grid(grid_points)) for p in space]))


# --- creating, joining, resuming ---------------------------------------------------------------
def _settings(cfg, space, trials, sampler, pruner, grid_points) -> dict:
    s = {"config": cfg.to_dict(), "space": sp.space_to_dict(space), "sampler": sampler, "pruner": pruner,
         "trials": trials, "grid_points": grid_points}
    return json.loads(json.dumps(s, default=list))  # as it comes back from the storage


def _latest_study(storage) -> str:
    ours = [s for s in storage.get_all_studies() if ATTR in s.user_attrs]
    if not ours:
        raise ImgclassError("no imgclass study in this storage to resume; start one without --resume "
                            "(or give --storage/--out where it lives)")
    return max(ours, key=lambda s: (s.user_attrs[ATTR]["created"], s.study_name)).study_name


def _wait_for_settings(study, name: str, seconds: float = 30.0) -> dict:
    """A study's settings; a worker that joins a study being created waits a moment for them."""
    deadline = time.monotonic() + seconds
    while ATTR not in study.user_attrs:
        if time.monotonic() > deadline:
            raise ImgclassError(f"study {name!r} exists but was not made by imgclass sweep; choose another --study")
        time.sleep(0.2)
    return study.user_attrs[ATTR]


def open_study(cfg, space, *, trials: int | None, sampler: str, pruner: str, storage: str | None,
               study: str | None, resume: bool, out_root: str | Path, name: str | None, heartbeat: int,
               grid_points: int) -> Study:
    """Create a study, join one of the same settings, or (``resume``) continue one with its stored settings."""
    import optuna

    url = storage_url(storage, out_root)
    st = open_storage(url, heartbeat)
    out_root = Path(out_root).resolve()
    # A worker that joins draws different samples than the one that made the study, even with the same seed.
    join_seed = int(np.random.SeedSequence([0 if cfg is None else cfg.seed, os.getpid(),
                                            uuid.uuid4().int % 2**32]).generate_state(1)[0])
    if resume:
        study = study or _latest_study(st)
        if study not in optuna.get_all_study_names(st):
            raise ImgclassError(f"no study {study!r} in {public_url(url)} to resume")
        settings = _wait_for_settings(optuna.load_study(study_name=study, storage=st), study)
        if trials is not None and trials != settings["trials"]:
            settings = {**settings, "trials": trials}
        space = sp.space_from_dict(settings["space"])
        s = optuna.load_study(study_name=study, storage=st, pruner=make_pruner(settings["pruner"]),
                              sampler=make_sampler(settings["sampler"], space, join_seed, settings["grid_points"]))
        s.set_user_attr(ATTR, settings)
        return Study(s, study, url, settings, _sweep_dir(out_root, settings))

    if cfg is None or not space or trials is None:
        raise ImgclassError("a new sweep needs a configuration, a search space and a number of trials")
    if not cfg.val:
        raise ImgclassError("a sweep chooses on the validation split; set --val above 0")
    if trials < 1:
        raise ImgclassError(f"--trials must be >= 1, got {trials}")
    sp.validate(space, cfg)
    settings = _settings(cfg, space, trials, sampler, pruner, grid_points)
    sweep_dir = None
    if study is None:  # a new study named after its new directory
        sweep_dir = new_run_dir(out_root, f"sweep-{name or _default_name(cfg)}")
        study = sweep_dir.name
    try:
        s = optuna.create_study(study_name=study, storage=st, direction="maximize", pruner=make_pruner(pruner),
                                sampler=make_sampler(sampler, space, cfg.seed, grid_points))
    except optuna.exceptions.DuplicatedStudyError:
        if sweep_dir is not None:
            raise ImgclassError(f"study {study!r} exists already; choose another --name") from None
        s = optuna.load_study(study_name=study, storage=st, pruner=make_pruner(pruner),
                              sampler=make_sampler(sampler, space, join_seed, grid_points))
        stored = _wait_for_settings(s, study)
        differ = [k for k in settings if stored.get(k) != settings[k]]
        if differ:
            raise ImgclassError(f"study {study!r} exists with other settings ({', '.join(differ)} differ); "
                                "continue it with --resume (its own settings), or choose another --study")
        return Study(s, study, url, stored, _sweep_dir(out_root, stored))
    if sweep_dir is None:
        sweep_dir = new_run_dir(out_root, f"sweep-{name or study}")
    settings = {**settings, "sweep_dir_name": sweep_dir.name, "created": datetime.now().isoformat()}
    s.set_user_attr(ATTR, settings)
    opened = Study(s, study, url, settings, sweep_dir)
    Run(sweep_dir, "sweep").write(CONFIG, {"kind": "sweep", **sweep_config(opened)})
    return opened


def sweep_config(opened: Study) -> dict:
    """What a sweep directory's ``config.json`` holds: the base configuration and how it is searched."""
    s = opened.settings
    return {"config": s["config"], "space": s["space"], "sampler": s["sampler"], "pruner": s["pruner"],
            "trials": s["trials"], "grid_points": s["grid_points"], "study": opened.name,
            "storage": public_url(opened.url)}


def _default_name(cfg) -> str:
    return f"{cfg.engine}-{cfg.kind}-{cfg.dataset.replace(':', '_').replace('/', '_')}"


def _sweep_dir(out_root: Path, settings: dict) -> Path:
    path = out_root / settings["sweep_dir_name"]
    path.mkdir(parents=True, exist_ok=True)
    return path
