"""A sweep worker: runs trials of a study until it holds the requested number of finished ones.

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
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

from imgclass.errors import ImgclassError
from imgclass.sweep import space as sp
from imgclass.sweep.results import counts, summarize
from imgclass.sweep.storage import PRUNERS, SAMPLERS, Study, grid_size, open_study, public_url
from imgclass.train.config import TrainConfig
from imgclass.train.run import train
from imgclass.train.trainer import Callback, TrainingDiverged


class SurplusTrial(Exception):
    """A trial created after the requested number were already finished or running; it is not run."""


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
        run_dir.mkdir(parents=True, exist_ok=True)  # before it is recorded: a recorded run_dir always exists
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
        return r["val_accuracy"]

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
            state_counts = counts(trials)
            finished = sum(state_counts.get(s, 0) for s in FINISHED)
            values = [t.value for t in trials if t.state.name == "COMPLETE"]
            bar.n = min(finished, wanted)
            if values:
                bar.set_postfix(best=f"{max(values):.4f}", running=state_counts.get("RUNNING", 0))
            bar.refresh()
            if finished >= wanted:
                return ran
            if finished + state_counts.get("RUNNING", 0) >= wanted:  # the rest is running elsewhere; stand by
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
