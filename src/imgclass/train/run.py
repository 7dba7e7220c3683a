"""``imgclass train``: a whole run from a :class:`TrainConfig` to a run directory, resumable.

Run directory (``runs/<YYYYmmdd-HHMMSS>-<name>/``, kind ``train``; see :mod:`imgclass.runs`)::

    config.json        the TrainConfig (enough to rebuild everything)
    data.json          class names, image shape (C, H, W), split sizes
    preprocessor.npz   normalization fitted on the training split
    metrics.csv        one row per evaluation point (rewritten atomically)
    checkpoint.pt      trainer + engine + RNG state at the last evaluation point (atomic)
    model.pt | model.npz  the final (best-on-validation) weights
    results.json       figures, including the one test-split evaluation
    test_*             the test scores, their log and metrics (imgclass.runs.testing)
    plots/             curves, confusion matrix, per-class accuracy, mistakes

``train(resume=RUN_DIR)`` rebuilds the run from ``config.json`` and continues
from ``checkpoint.pt``; a run killed at any point ends with the same metrics
as one that was never interrupted.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from imgclass.data import Preprocessor, Split
from imgclass.data.cache import DiskImages
from imgclass.data.preprocess import Transformed
from imgclass.errors import ImgclassError, os_error_message
from imgclass.runs import (Run, hyperparameters, rebuild_split, record_test, results, stored_scores,
                           write_test_metrics)
from imgclass.runs.files import CHECKPOINT, DATA, METRICS, PREPROCESSOR, RESULTS
from imgclass.runs.schema import seed_range
from imgclass.train import distributed
from imgclass.train.callbacks import Checkpoint, EarlyStopping, MetricsCSV, ProgressBar
from imgclass.train.checkpoint import load_checkpoint, set_rng_state
from imgclass.train.config import TrainConfig
from imgclass.train.engines import Engine, build_engine
from imgclass.train.plots import save_curves, save_templates
from imgclass.train.trainer import Trainer, TrainingDiverged


@contextlib.contextmanager
def torch_threads(n: int):
    """Run with ``n`` torch CPU threads (0: leave as is), then restore the previous number."""
    import torch

    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@dataclass
class Prepared:
    """The data of a run, preprocessed once, and the engine built for it."""

    split: Split
    pre: Preprocessor
    x_train: np.ndarray
    x_val: np.ndarray
    x_test: np.ndarray
    engine: Engine


def prepare(cfg: TrainConfig) -> Prepared:
    """Load and split the data, fit the preprocessing on the training split, build the engine."""
    split = rebuild_split(cfg)
    pre = Preprocessor(normalize=cfg.normalize, flatten=False, dtype="float32" if cfg.engine == "torch" else cfg.dtype)
    pre.fit(split.x_train)
    if streams(cfg, split):  # batches are read from the decoded images on disk and transformed as they are used
        x_train, x_val, x_test = (Transformed(pre, x) for x in (split.x_train, split.x_val, split.x_test))
    else:
        x_train, x_val, x_test = (pre.transform(x) for x in (split.x_train, split.x_val, split.x_test))
    steps = cfg.epochs * -(-len(x_train) // cfg.batch_size)
    engine = build_engine(cfg, x_train.shape[1:], split.num_classes, steps)
    return Prepared(split, pre, x_train, x_val, x_test, engine)


def memory_bytes() -> int:
    """The machine's physical memory (0 when it cannot be told)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0


def streams(cfg: TrainConfig, split: Split) -> bool:
    """Whether the run reads its batches from disk: ``cfg.stream``, or (None) when the split's floats would not fit.

    Only images that are on disk (a folder's :class:`DiskImages`) stream; arrays loaded whole stay in memory.
    """
    on_disk = isinstance(split.x_train, DiskImages)
    if cfg.stream is not None:
        if cfg.stream and cfg.engine != "torch":
            raise ImgclassError("--stream needs the torch engine (the numpy engine trains on arrays in memory)")
        return bool(cfg.stream) and on_disk
    if not on_disk or cfg.engine != "torch":
        return False
    floats = 4 * sum(int(np.prod(x.shape)) for x in (split.x_train, split.x_val, split.x_test))
    return floats > memory_bytes() / 4 > 0


def data_record(cfg: TrainConfig, split: Split) -> dict:
    """``data.json`` of a train run: the dataset, its class names, image shape (C, H, W) and split sizes."""
    return {"dataset": cfg.dataset, "classes": split.classes, "image_shape": list(split.x_train.shape[1:]),
            "sizes": split.sizes()}


def check_resumable(run: Run, cfg: TrainConfig, p: Prepared) -> None:
    """Before a resume trains on: the files the finished run needs are there and are this run's.

    ``preprocessor.npz`` and ``data.json`` must equal what the rebuilt split gives (they are written
    when the run starts; a missing, unreadable or different one means the run directory or the
    dataset changed since), so a run never finishes with files that ``evaluate`` or ``predict``
    cannot use. The checkpoint is checked by its digest when it is loaded.
    """
    again = "the run cannot be resumed safely: start it again with the same flags (they are in its config.json)"
    try:
        saved = Preprocessor.load(run.file(PREPROCESSOR))
    except ImgclassError as e:
        raise ImgclassError(f"{e}; {again}") from None
    ours, theirs = p.pre.state_dict(), saved.state_dict()
    same = ours["config"] == theirs["config"] and ours["image_shape"] == theirs["image_shape"] and \
        all(np.array_equal(ours[k], theirs[k]) for k in ("mean", "scale"))
    if not same:
        raise ImgclassError(f"{run.file(PREPROCESSOR)} differs from the normalization of this run's training split "
                            f"(the file or the dataset changed since the run started); {again}")
    if not run.has(DATA):
        raise ImgclassError(f"{run.file(DATA)} is missing; {again}")
    if run.read(DATA) != json.loads(json.dumps(data_record(cfg, p.split))):
        raise ImgclassError(f"{run.file(DATA)} does not describe this run's data (the file or the dataset changed "
                            f"since the run started); {again}")


def default_name(cfg: TrainConfig) -> str:
    return cfg.name or f"{cfg.engine}-{cfg.kind}-{cfg.dataset.replace(':', '_').replace('/', '_')}-s{cfg.seed}"


def train(cfg: TrainConfig | None = None, *, out_root: str | Path = "runs", resume: str | Path | None = None,
          progress: bool = True, run_dir: str | Path | None = None, callbacks: list | None = None,
          test: bool = True) -> dict:
    """Train (or resume) one run; evaluate on the test split once at the end; return its results.

    Parameters
    ----------
    cfg : TrainConfig
        Not needed with ``resume`` (read from the run's ``config.json``).
    out_root : path
        Parent of the new run directory.
    resume : path, optional
        A run directory to continue from its last checkpoint.
    run_dir : path, optional
        Use this (new or empty) directory instead of a fresh timestamped one.
    callbacks : list of Callback, optional
        Called after the built-in ones (early stopping, metrics.csv, checkpoint, progress bar).
    test : bool
        Evaluate on the test split at the end (once). False for model selection (sweep trials): the
        result then has ``test_accuracy`` None and the test split stays untouched.

    Returns
    -------
    dict
        ``results.json`` (:mod:`imgclass.runs.schema`): the common figures, then ``steps``, ``epochs_done``,
        ``stopped_early``, ``best_step``, ``train_loss``, ``total_seconds``, ``device``, ``model_file``,
        ``best_class``, ``worst_class``.
    """
    if resume is None and cfg is None:
        raise ImgclassError("train() needs a TrainConfig or resume=RUN_DIR")
    w = distributed.setup()  # one process, or this one's place among torchrun's
    with contextlib.ExitStack() as held:  # the run's lock, from when it exists until the result is written
        state, opened = None, {}
        if resume is not None:
            def open_run():  # rank 0 alone reads the run directory; the others get its config and checkpoint
                run = held.enter_context(Run.open(resume, kind="train").lock("trains or tests it (a --resume)"))
                if run.has(RESULTS):
                    raise ImgclassError(f"{run.path} has finished already (results.json exists); nothing to resume")
                opened["run"] = run
                return (run.train_config().to_dict(), load_checkpoint(run.file(CHECKPOINT)) if run.has(CHECKPOINT)
                        else None)
            config, state = w.lead(open_run)
            cfg = TrainConfig.from_dict(config)
        return _train(cfg, held, opened.get("run"), state, resumed=resume is not None, out_root=out_root,
                      progress=progress, run_dir=run_dir, callbacks=callbacks, test=test)


def resume_command(path) -> str:
    """How to continue the run at ``path`` (under torchrun: with the same launcher flags)."""
    if distributed.world().active:
        return f"the same torchrun command with -m imgclass train --resume {path}"
    return f"imgclass train --resume {path}"


def _train(cfg: TrainConfig, held: contextlib.ExitStack, run: Run | None, state: dict | None, *, resumed: bool,
           out_root, progress, run_dir, callbacks, test) -> dict:
    """:func:`train` once the run to resume (``run``, locked, with its checkpoint ``state``) or None is known.

    Under torchrun every process trains and rank 0 alone holds ``run`` and writes its files.
    """
    w = distributed.world()
    if w.active and cfg.engine != "torch":
        raise ImgclassError(f"the {cfg.engine} engine trains in one process; under torchrun use --engine torch")
    where = {"path": run.path if run is not None else None, "step": None}

    def then() -> str:
        kept = (f"{where['path']} keeps its checkpoint of step {where['step']}" if where["step"] else
                f"{where['path']} has no checkpoint yet (no evaluation point was reached)")
        return f"{kept}; continue with {resume_command(where['path'])}"

    try:
        with torch_threads(cfg.threads):  # restored afterwards: a run never changes the caller's setting
            seed_everything(cfg.seed)
            t_start = time.perf_counter()
            p = prepare(cfg)
            w.check_same("flags", cfg.to_dict())
            w.check_same("data", {"sizes": p.split.sizes(), "classes": p.split.classes,
                                  "normalization": {k: np.asarray(v).tolist() for k, v in p.pre.state_dict().items()}})
            if not resumed:  # created once the data loaded: a bad dataset leaves no half-made directory
                def create() -> str:
                    made = Run.create("train", cfg.to_dict(), root=out_root, name=default_name(cfg), path=run_dir)
                    held.enter_context(made.lock())
                    p.pre.save(made.file(PREPROCESSOR))
                    made.write(DATA, data_record(cfg, p.split))
                    where["run"] = made
                    return str(made.path)
                where["path"] = Path(w.lead(create))
                run = where.get("run")
            else:
                w.lead(check_resumable, run, cfg, p)
                where["path"] = Path(w.broadcast(str(run.path) if run is not None else None))
            early = EarlyStopping(cfg.patience)
            files = [MetricsCSV(run.file(METRICS)), Checkpoint(run.file(CHECKPOINT))] if w.leader else []
            callbacks = [early, *files, ProgressBar(progress and w.leader), *(callbacks or [])]
            trainer = Trainer(p.engine, p.x_train, p.split.y_train, p.x_val, p.split.y_val, epochs=cfg.epochs,
                              batch_size=cfg.batch_size, seed=cfg.seed, eval_points=cfg.eval_points,
                              callbacks=callbacks)
            if state is not None:
                trainer.load_state_dict(state["trainer"])
                set_rng_state(state["rng"])
            where["step"] = trainer.history[-1]["step"] if trainer.history else None
            try:
                history = trainer.fit()
            except TrainingDiverged as e:
                kept = (f"{where['path']} keeps its checkpoint and metrics.csv of step {trainer.history[-1]['step']}"
                        if trainer.history else f"{where['path']} has no checkpoint (no evaluation point was reached)")
                raise TrainingDiverged(f"{e}: start a new run with e.g. --lr {e.lr / 10:.3g}, or --clip-grad 1 "
                                       f"(--resume would repeat the same flags and diverge again); {kept}",
                                       step=e.step, lr=e.lr) from None
            except KeyboardInterrupt:
                python = "" if w.active else f" (from Python: train(resume={str(where['path'])!r}))"
                raise ImgclassError(f"interrupted at step {trainer.step}; continue with: "
                                    f"{resume_command(where['path'])}{python}") from None
            except OSError as e:  # a full disk while writing the checkpoint or metrics: the last complete ones stay
                raise ImgclassError(os_error_message(e, then=f"continue the run: {resume_command(where['path'])}")) \
                    from None
            finally:
                where["step"] = trainer.history[-1]["step"] if trainer.history else None
            stored = w.lead(lambda: stored_scores(run) if resumed else None)
            scores = None
            if test:  # tested before it was stopped: that one evaluation is the run's
                scores = stored[0] if stored is not None else p.engine.scores(p.x_test)
            return w.lead(_finish, cfg, run, p, trainer, early, history, scores, stored is not None, t_start)
    except RuntimeError as e:  # a collective failed: another process of a torchrun job died or hung
        if w.active and distributed.is_lost_contact(e):
            raise distributed.lost_contact(e, then=then()) from None
        raise


def _finish(cfg: TrainConfig, run: Run, p: Prepared, trainer: Trainer, early: EarlyStopping, history: list[dict],
            scores: np.ndarray | None, stored: bool, t_start: float) -> dict:
    """Write the trained run's weights, its test evaluation (``scores``; None: untested), plots and results."""
    model_file = p.engine.save_weights(run.file(p.engine.weights_file))
    tested = {"accuracy": None, "loss": None, "plots": [], "best_class": None, "worst_class": None}
    if scores is not None:
        write = write_test_metrics if stored else partial(record_test, by="train")
        tested = write(run, scores, p.split.y_test, p.split.x_test, p.split.classes,
                       loss=p.engine.loss_of(scores, p.split.y_test))
    plots = [save_curves(history, run.plots / "curves.png", title=default_name(cfg)), *tested["plots"]]
    if cfg.kind == "linear":
        plots.append(save_templates(p.engine.model_state(), p.split.x_train.shape[1:], p.split.classes,
                                    run.plots / "templates.png"))
    last = history[-1]
    result = results(
        "train", run.path, dataset=cfg.dataset, model=str(cfg.model), engine=cfg.engine,
        parameters=p.engine.num_parameters(), seed=cfg.seed, train_size=len(p.x_train), val_size=len(p.x_val),
        test_size=len(p.x_test), train_accuracy=last["train_acc"],
        val_accuracy=None if early.best_state is None else early.best_acc, test_accuracy=tested["accuracy"],
        test_loss=tested["loss"], train_seconds=trainer.seconds, hyperparameters=hyperparameters(cfg.to_dict()),
        plots=plots, steps=trainer.step, epochs_done=round(trainer.step / trainer.steps_per_epoch, 4),
        stopped_early=trainer.stopped_early, best_step=early.best_step or last["step"],
        train_loss=round(last["train_loss"], 4), total_seconds=round(time.perf_counter() - t_start, 2),
        device=str(p.engine.device), model_file=str(model_file), best_class=tested["best_class"],
        worst_class=tested["worst_class"])
    if distributed.world().active:
        result["processes"] = distributed.world().size
    run.write(RESULTS, result)
    return result


def train_seeds(cfg: TrainConfig, seeds: int, *, out_root: str | Path = "runs", path: str | Path | None = None,
                progress: bool = True) -> dict:
    """Train ``seeds`` runs (seeds cfg.seed, cfg.seed + 1, ...) in one parent directory; mean ± std of test accuracy.

    The parent is a new ``out_root/<stamp>-<name>-<N>seeds`` or ``path`` (new or empty).
    """
    if seeds < 1:
        raise ImgclassError(f"--seeds must be >= 1, got {seeds}")
    if distributed.launched():
        raise ImgclassError(distributed.NO_SEEDS)
    parent = Run.create("seeds", {"config": cfg.to_dict(), "seeds": seeds}, root=out_root, path=path,
                        name=default_name(cfg).rsplit("-s", 1)[0] + f"-{seeds}seeds")
    runs = [train(cfg.replace(seed=cfg.seed + i, name=f"seed{cfg.seed + i}"), progress=progress,
                  run_dir=parent.path / f"seed{cfg.seed + i}") for i in range(seeds)]
    acc = np.array([r["test_accuracy"] for r in runs])
    val = [r["val_accuracy"] for r in runs if r["val_accuracy"] is not None]
    first = runs[0]
    summary = results(
        "seeds", parent.path, dataset=cfg.dataset, model=str(cfg.model), engine=cfg.engine,
        parameters=first["parameters"], seed=cfg.seed, train_size=first["train_size"], val_size=first["val_size"],
        test_size=first["test_size"], train_accuracy=float(np.mean([r["train_accuracy"] for r in runs])),
        val_accuracy=float(np.mean(val)) if val else None, test_accuracy=float(acc.mean()),
        test_accuracy_std=float(acc.std(ddof=1)) if len(acc) > 1 else 0.0,
        train_seconds=float(np.mean([r["train_seconds"] for r in runs])),
        hyperparameters={**hyperparameters(cfg.to_dict()), "seed": seed_range([r["seed"] for r in runs])},
        seeds=[r["seed"] for r in runs],
        runs=[r["run_dir"] for r in runs], test_accuracies=acc.tolist())
    parent.write(RESULTS, summary)
    return summary
