"""Hyperparameter sweeps on Optuna: one study in shared storage, any number of workers, every trial a run directory.

A study lives in an Optuna storage (a SQLite file by default, PostgreSQL to
share it between machines). Each ``imgclass sweep`` process is a worker: it
creates the study or joins it, then runs trials until the study holds
``trials`` finished ones (COMPLETE or PRUNED; a failed trial does not count).

Exactly ``trials`` trials finish, whatever the number of workers:

* a worker starts a trial only while finished + running trials < ``trials``,
  and otherwise waits (so it can take over if a running trial's worker dies);
* a trial that, once created, finds ``trials`` trials finished or running
  before it (two workers starting at the same instant) is not run: it ends
  FAIL with the user attribute ``surplus``;
* a running trial writes a heartbeat every ``heartbeat`` seconds; one silent
  for three heartbeats (its worker was killed) is marked FAIL by the next
  worker that looks, and its parameters are queued once more as a new trial.

The worker that ran the highest-numbered finished trial (or one started with
``resume``/``report_only``) ends the sweep: it evaluates the best trial on the
test split once, draws the plots and writes ``sweep.json``
(:mod:`imgclass.sweep.results`).

Sweep directory (``<out>/<YYYYmmdd-HHMMSS>-sweep-<name>/``)::

    sweep.json             study, storage (no password), every trial, the best and its test accuracy
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
from imgclass.sweep import space as sp
from imgclass.sweep.results import _counts, public_url, summarize
from imgclass.train.trainer import Callback

SAMPLERS = ("tpe", "random", "grid")
PRUNERS = ("median", "halving", "none")
ATTR = "imgclass"  # the study's user attribute holding its settings


def worker_id() -> str:
    """``host:pid:random``: tells apart the workers of a study, several per process included."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class SurplusTrial(Exception):
    """A trial created after the requested number were already finished or running; it is not run."""


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
        from imgclass.train.run import new_run_dir

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
        from imgclass.train.run import new_run_dir

        sweep_dir = new_run_dir(out_root, f"sweep-{name or study}")
    settings = {**settings, "sweep_dir_name": sweep_dir.name, "created": datetime.now().isoformat()}
    s.set_user_attr(ATTR, settings)
    return Study(s, study, url, settings, sweep_dir)


def _default_name(cfg) -> str:
    from imgclass.train.run import model_spec

    return f"{cfg.engine}-{model_spec(cfg.model).kind}-{cfg.dataset.replace(':', '_').replace('/', '_')}"


def _sweep_dir(out_root: Path, settings: dict) -> Path:
    path = out_root / settings["sweep_dir_name"]
    path.mkdir(parents=True, exist_ok=True)
    return path


# --- trials ----------------------------------------------------------------------------------------
class ReportToTrial(Callback):
    """Report each evaluation point's validation accuracy to the Optuna trial; raise TrialPruned when told."""

    def __init__(self, trial):
        self.trial = trial

    def on_eval(self, trainer, row):
        import optuna

        point = len(trainer.history) - 1  # the k-th evaluation point is the same share of every trial's run
        self.trial.report(float(row["val_acc"]), point)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"pruned at evaluation point {point + 1} (val acc {row['val_acc']:.4f})")


def make_objective(opened: Study):
    """The function Optuna calls for each trial: train the trial's configuration (never tested), return val acc."""
    import optuna
    from optuna.trial import TrialState

    from imgclass.train.config import TrainConfig
    from imgclass.train.run import train
    from imgclass.train.trainer import TrainingDiverged

    base = TrainConfig.from_dict(opened.settings["config"])
    space = sp.space_from_dict(opened.settings["space"])
    wanted = opened.settings["trials"]

    def objective(trial) -> float:
        trial.set_user_attr("worker", opened.worker)
        ahead = [t for t in trial.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED,
                                                                           TrialState.RUNNING))
                 if t.number < trial.number]
        if len(ahead) >= wanted:
            trial.set_user_attr("surplus", f"{wanted} trials were already finished or running; not run")
            raise SurplusTrial(trial.user_attrs["surplus"])
        params = {p.name: p.suggest(trial) for p in space}
        cfg = sp.apply(base, params).replace(name=f"trial-{trial.number}")
        run_dir = opened.sweep_dir / "trials" / f"trial-{trial.number}"
        trial.set_user_attr("run_dir", str(run_dir))
        try:
            r = train(cfg, run_dir=run_dir, progress=False, callbacks=[ReportToTrial(trial)], test=False)
        except TrainingDiverged as e:  # a poor configuration, not a broken worker: it counts, as pruned
            trial.set_user_attr("note", f"diverged: {str(e).split(';')[0]}")
            raise optuna.TrialPruned(trial.user_attrs["note"]) from None
        except ImgclassError as e:
            if isinstance(e.__context__, KeyboardInterrupt):
                raise KeyboardInterrupt from None
            raise
        trial.set_user_attr("train_seconds", r["train_seconds"])
        return r["best_val_accuracy"]

    return objective


FINISHED = ("COMPLETE", "PRUNED")


def _fail_stale(study) -> None:
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


def run_worker(opened: Study, *, progress: bool = True, poll: float = 1.0) -> int:
    """Run trials until the study holds ``settings["trials"]`` finished ones; return how many this worker ran."""
    from tqdm.auto import tqdm

    study, wanted = opened.study, opened.settings["trials"]
    objective = make_objective(opened)
    bar = tqdm(total=wanted, unit="trial", desc="trials", dynamic_ncols=True,
               disable=not progress or None)
    ran = 0
    try:
        while True:
            _fail_stale(study)
            trials = study.get_trials(deepcopy=False)
            counts = _counts(trials)
            finished = sum(counts.get(s, 0) for s in FINISHED)
            values = [t.value for t in trials if t.state.name == "COMPLETE"]
            bar.n = min(finished, wanted)
            if values:
                bar.set_postfix(best=f"{max(values):.4f}", running=counts.get("RUNNING", 0))
            bar.refresh()
            if finished >= wanted:
                return ran
            if finished + counts.get("RUNNING", 0) >= wanted:  # the rest is running elsewhere; stand by
                time.sleep(poll)
                continue
            study.optimize(objective, n_trials=1, catch=(SurplusTrial,), gc_after_trial=False)
            ran += 1
    finally:
        bar.close()


def finishes_sweep(opened: Study) -> bool:
    """Whether this worker ran the highest-numbered finished trial (the one worker that ends the sweep)."""
    done = [t for t in opened.study.get_trials(deepcopy=False) if t.state.name in FINISHED]
    return bool(done) and max(done, key=lambda t: t.number).user_attrs.get("worker") == opened.worker


def sweep(cfg=None, space: list[sp.Param] | None = None, *, trials: int | None = None, sampler: str = "tpe",
          pruner: str = "median", storage: str | None = None, study: str | None = None, resume: bool = False,
          report_only: bool = False, out_root: str | Path = "runs", name: str | None = None, heartbeat: int = 10,
          grid_points: int = 3, progress: bool = True) -> dict:
    """Run (or join, or resume) a sweep as one worker; return the sweep's record (as in ``sweep.json``).

    Parameters
    ----------
    cfg : TrainConfig
        The base configuration every trial starts from (not needed with ``resume``/``report_only``).
    space : list of Param
        What to vary (:mod:`imgclass.sweep.space`); None = learning rate and weight decay.
    trials : int
        Finished (complete or pruned) trials wanted in the study.
    sampler : {"tpe", "random", "grid"}; pruner : {"median", "halving", "none"}
    storage : str, optional
        SQLAlchemy URL (``postgresql://user@host/db``) or SQLite file; default ``<out_root>/sweeps.db``.
    study : str, optional
        Join or create this study; default: a new study named after the new sweep directory.
    resume, report_only : bool
        Continue the named (else the latest) study with its own settings; or only rewrite its results.
    heartbeat : int
        Seconds between a running trial's heartbeats; a trial silent for 3 of them is failed and retried.
    grid_points : int
        Values per numeric parameter for the grid sampler.

    The record has ``finished_by_me`` (whether this worker tested the best and wrote ``sweep.json``),
    ``ran`` (trials this worker ran) and ``note``.
    """
    if sampler not in SAMPLERS:
        raise ImgclassError(f"--sampler must be one of {', '.join(SAMPLERS)}, got {sampler!r}")
    if pruner not in PRUNERS:
        raise ImgclassError(f"--pruner must be one of {', '.join(PRUNERS)}, got {pruner!r}")
    if grid_points < 2:
        raise ImgclassError(f"--grid-points must be >= 2, got {grid_points}")
    if cfg is not None and not space and not (resume or report_only):
        space = sp.default_space(cfg)
    note = ""
    if sampler == "grid" and space and trials and not (resume or report_only):
        size = grid_size(space, grid_points)
        if trials > size:
            note, trials = f"the grid has {size} points: running {size} trials, not {trials}", size
    opened = open_study(cfg, space, trials=trials, sampler=sampler, pruner=pruner, storage=storage, study=study,
                        resume=resume or report_only, out_root=out_root, name=name, heartbeat=heartbeat,
                        grid_points=grid_points)
    ran = 0
    if not report_only:
        try:
            ran = run_worker(opened, progress=progress)
        except KeyboardInterrupt:
            raise ImgclassError(f"interrupted; the running trial ends as failed. Continue with: imgclass sweep "
                                f"--resume --study {opened.name} --storage '{public_url(opened.url)}'") from None
    mine = resume or report_only or finishes_sweep(opened)
    result = summarize(opened, test=mine)
    if not mine:
        note = (note + "; " if note else "") + ("another worker ends the sweep (tests the best, writes sweep.json); "
                                                "rewrite it any time with --report-only")
    return {**result, "finished_by_me": mine, "ran": ran, "note": note}
