"""``imgclass train``: a whole run from a :class:`TrainConfig` to a run directory, resumable.

Run directory (``runs/<YYYYmmdd-HHMMSS>-<name>/``)::

    config.json        the TrainConfig (enough to rebuild everything)
    data.json          class names, image shape (C, H, W), split sizes
    preprocessor.npz   normalization fitted on the training split
    metrics.csv        one row per evaluation point (rewritten atomically)
    checkpoint.pt      trainer + engine + RNG state at the last evaluation point (atomic)
    model.pt | model.npz  the final (best-on-validation) weights
    results.json       figures, including the one test-split evaluation
    plots/curves.png   loss and accuracy curves

``train(resume=RUN_DIR)`` rebuilds the run from ``config.json`` and continues
from ``checkpoint.pt``; a run killed at any point ends with the same metrics
as one that was never interrupted.
"""

from __future__ import annotations

import contextlib
import json
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from imgclass.data import Preprocessor, load, make_split
from imgclass.errors import ImgclassError
from imgclass.fileio import new_run_dir, write_json
from imgclass.train.callbacks import Checkpoint, EarlyStopping, MetricsCSV, ProgressBar
from imgclass.train.checkpoint import load_checkpoint, set_rng_state
from imgclass.train.config import TrainConfig
from imgclass.train.trainer import Trainer

CONFIG, CHECKPOINT, METRICS, RESULTS, DATA = "config.json", "checkpoint.pt", "metrics.csv", "results.json", "data.json"


def read_config(run_dir: str | Path) -> TrainConfig:
    path = Path(run_dir) / CONFIG
    try:
        return TrainConfig.from_dict(json.loads(path.read_text()))
    except FileNotFoundError:
        raise ImgclassError(f"{run_dir}: not a run directory (no {CONFIG})") from None
    except json.JSONDecodeError as e:
        raise ImgclassError(f"{path}: not valid JSON ({e})") from None


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
    """The data of a run, preprocessed once, and the model built for it."""

    split: object
    pre: Preprocessor
    x_train: np.ndarray
    x_val: np.ndarray
    x_test: np.ndarray
    spec: object
    engine: object


def build_engine(cfg: TrainConfig, spec, in_shape, num_classes: int, total_steps: int):
    """The engine for ``cfg`` with a freshly initialized model (seeded by ``cfg.seed``)."""
    from imgclass import modelspec

    if cfg.engine == "numpy":
        from imgclass.train.engines import NumpyEngine

        model = modelspec.build_numpy(spec, in_shape, num_classes, loss=cfg.loss, seed=cfg.seed,
                                      dtype=np.dtype(cfg.dtype))
        return NumpyEngine(model, cfg, total_steps)
    from imgclass.deep.models import build_torch
    from imgclass.train.engines import TorchEngine

    return TorchEngine(build_torch(spec, in_shape, num_classes, seed=cfg.seed), cfg, total_steps)


def model_spec(model: dict | str):
    """A :class:`~imgclass.modelspec.ModelSpec` from a config's ``model``: a dict, a preset name or the text form."""
    from imgclass.modelspec import ModelSpec

    return ModelSpec.from_dict(model) if isinstance(model, dict) else ModelSpec.parse(model)


def prepare(cfg: TrainConfig) -> Prepared:
    """Load and split the data, fit the preprocessing on the training split, build the engine."""
    spec = model_spec(cfg.model)
    ds = load(cfg.dataset, **cfg.data_options)
    split = make_split(ds, val=cfg.val, seed=cfg.seed, train_fraction=cfg.train_fraction)
    pre = Preprocessor(normalize=cfg.normalize, flatten=False, dtype="float32" if cfg.engine == "torch" else cfg.dtype)
    x_train = pre.fit_transform(split.x_train)
    x_val, x_test = pre.transform(split.x_val), pre.transform(split.x_test)
    steps = cfg.epochs * -(-len(x_train) // cfg.batch_size)
    engine = build_engine(cfg, spec, x_train.shape[1:], split.num_classes, steps)
    return Prepared(split, pre, x_train, x_val, x_test, spec, engine)


def default_name(cfg: TrainConfig) -> str:
    kind = model_spec(cfg.model).kind
    return cfg.name or f"{cfg.engine}-{kind}-{cfg.dataset.replace(':', '_').replace('/', '_')}-s{cfg.seed}"


def train(cfg: TrainConfig | None = None, *, out_root: str | Path = "runs", resume: str | Path | None = None,
          progress: bool = True, run_dir: str | Path | None = None, callbacks: list | None = None,
          test: bool = True) -> dict:
    """Train (or resume) one run; evaluate on the test split once at the end; return its figures.

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
    """
    import torch

    if resume is not None:
        run = Path(resume)
        cfg = read_config(run)
        state = load_checkpoint(run / CHECKPOINT) if (run / CHECKPOINT).exists() else None
        if (run / RESULTS).exists():
            raise ImgclassError(f"{run} has finished already (results.json exists); nothing to resume")
    else:
        if cfg is None:
            raise ImgclassError("train() needs a TrainConfig or resume=RUN_DIR")
        run = Path(run_dir) if run_dir is not None else new_run_dir(out_root, default_name(cfg))
        run.mkdir(parents=True, exist_ok=True)
        state = None
    with torch_threads(cfg.threads):  # restored afterwards: a run never changes the caller's setting
        seed_everything(cfg.seed)
        t_start = time.perf_counter()
        p = prepare(cfg)
        if resume is None:
            write_json(run / CONFIG, cfg.to_dict())
            p.pre.save(run / "preprocessor.npz")
            write_json(run / DATA, {"dataset": cfg.dataset, "classes": p.split.classes,
                                    "image_shape": list(p.split.x_train.shape[1:]), "sizes": p.split.sizes()})
        early = EarlyStopping(cfg.patience)
        callbacks = [early, MetricsCSV(run / METRICS), Checkpoint(run / CHECKPOINT), ProgressBar(progress),
                     *(callbacks or [])]
        trainer = Trainer(p.engine, p.x_train, p.split.y_train, p.x_val, p.split.y_val, epochs=cfg.epochs,
                          batch_size=cfg.batch_size, seed=cfg.seed, eval_points=cfg.eval_points, callbacks=callbacks)
        if state is not None:
            trainer.load_state_dict(state["trainer"])
            set_rng_state(state["rng"])
        try:
            history = trainer.fit()
        except KeyboardInterrupt:
            raise ImgclassError(f"interrupted at step {trainer.step}; continue with: imgclass train --resume {run}") from None
        model_file = save_model(p.engine, run)
        from imgclass.evaluate.run import record_test_evaluation
        from imgclass.train.plots import save_curves

        if test:
            tested = record_test_evaluation(run, p.engine, p.x_test, p.split.y_test, p.split.x_test, p.split.classes,
                                            by="train")
        else:
            tested = {"loss": None, "accuracy": None, "plots": [], "best_class": None, "worst_class": None}
        curves = save_curves(history, run / "plots" / "curves.png", title=default_name(cfg))
        if p.spec.kind == "linear":
            tested["plots"].append(str(save_templates(p.engine, p.split, run / "plots" / "templates.png")))
        last = history[-1]
        result = {
            "run_dir": str(run), "dataset": cfg.dataset, "engine": cfg.engine, "model": p.spec.to_dict(),
            "parameters": count_parameters(p.engine), "seed": cfg.seed,
            "train_size": len(p.x_train), "val_size": len(p.x_val), "test_size": len(p.x_test),
            "steps": trainer.step, "epochs_done": round(trainer.step / trainer.steps_per_epoch, 4),
            "stopped_early": bool(getattr(trainer, "stopped_early", False)),
            "best_step": early.best_step or last["step"],
            "best_val_accuracy": None if early.best_state is None else round(early.best_acc, 4),
            "final_train_loss": round(last["train_loss"], 4), "final_train_accuracy": round(last["train_acc"], 4),
            "test_loss": None if tested["loss"] is None else round(tested["loss"], 4),
            "test_accuracy": None if tested["accuracy"] is None else round(tested["accuracy"], 4),
            "train_seconds": round(trainer.seconds, 2), "total_seconds": round(time.perf_counter() - t_start, 2),
            "device": str(getattr(p.engine, "device", "cpu")), "model_file": str(model_file),
            "plots": [str(curves), *tested["plots"]], "best_class": tested["best_class"],
            "worst_class": tested["worst_class"],
        }
        write_json(run / RESULTS, result)
        return result


def save_templates(engine, split, path: Path) -> Path:
    """A linear model's class weights shown as images (one template per class)."""
    from imgclass.fileio import save_figure
    from imgclass.linear.plots import templates_figure

    shape = tuple(split.x_train.shape[1:])
    d, k = int(np.prod(shape)), split.num_classes
    weights = [np.asarray(v.numpy() if hasattr(v, "numpy") else v, dtype=np.float64)
               for v in engine.model_state().values()]
    w = next(v for v in weights if v.ndim == 2 and v.shape in ((k, d), (d, k)))
    coef = w if w.shape == (k, d) else w.T  # (K, D): torch keeps (out, in), the NumPy engine (in, out)
    return save_figure(templates_figure(coef, shape, split.classes), path)


def count_parameters(engine) -> int:
    if engine.name == "numpy":
        return engine.model.num_parameters()
    return int(sum(p.numel() for p in engine.module.parameters()))


def save_model(engine, run: Path) -> Path:
    """The final weights: ``model.npz`` (numpy engine) or ``model.pt`` (a torch state_dict), atomically."""
    if engine.name == "numpy":
        return engine.model.save(run / "model.npz")
    from imgclass.train.checkpoint import save_checkpoint

    return save_checkpoint(run / "model.pt", engine.model_state())


def train_seeds(cfg: TrainConfig, seeds: int, *, out_root: str | Path = "runs", progress: bool = True) -> dict:
    """Train ``seeds`` runs (seeds cfg.seed, cfg.seed + 1, ...) in one parent directory; mean ± std of test accuracy."""
    if seeds < 1:
        raise ImgclassError(f"--seeds must be >= 1, got {seeds}")
    parent = new_run_dir(out_root, default_name(cfg).rsplit("-s", 1)[0] + f"-{seeds}seeds")
    runs = [train(cfg.replace(seed=cfg.seed + i, name=f"seed{cfg.seed + i}"), out_root=parent, progress=progress,
                  run_dir=parent / f"seed{cfg.seed + i}") for i in range(seeds)]
    acc = np.array([r["test_accuracy"] for r in runs])
    summary = {"run_dir": str(parent), "seeds": [r["seed"] for r in runs], "runs": [r["run_dir"] for r in runs],
               "test_accuracies": acc.tolist(), "test_accuracy_mean": round(float(acc.mean()), 4),
               "test_accuracy_std": round(float(acc.std(ddof=1)) if len(acc) > 1 else 0.0, 4),
               "train_seconds_mean": round(float(np.mean([r["train_seconds"] for r in runs])), 2),
               "config": cfg.to_dict()}
    write_json(parent / "seeds.json", summary)
    return summary


@dataclass
class TrainedModel:
    """A finished run's model, ready to score images: engine (in eval use), preprocessing, class names."""

    cfg: TrainConfig
    engine: object
    pre: Preprocessor
    classes: list[str]
    image_shape: tuple[int, int, int]

    def scores(self, images: np.ndarray, batch_size: int = 500) -> np.ndarray:
        """Class scores (N, K) for uint8 images (N, C, H, W) of the run's image shape."""
        if tuple(images.shape[1:]) != self.image_shape:
            raise ImgclassError(f"this run takes images of shape {self.image_shape}, got {tuple(images.shape[1:])}")
        return self.engine.scores(self.pre.transform(images), batch_size)

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        from imgclass.evaluate.metrics import softmax

        return softmax(self.scores(images))


def load_trained(run_dir: str | Path, device: str | None = None) -> TrainedModel:
    """Rebuild a finished run's model from ``config.json``, ``data.json`` and its weights (no dataset needed).

    ``device`` overrides the run's (torch engine); by default a CUDA run falls back to the CPU when no GPU is here.
    """
    run = Path(run_dir)
    cfg = read_config(run)
    if device is not None and cfg.engine == "torch":
        cfg = cfg.replace(device=device)
    try:
        meta = json.loads((run / DATA).read_text())
    except FileNotFoundError:
        raise ImgclassError(f"{run}: no {DATA}; was this run written by 'imgclass train'?") from None
    shape = tuple(meta["image_shape"])
    engine = build_engine(cfg.replace(device="cpu") if cfg.device == "cuda" and not _cuda() else cfg,
                          model_spec(cfg.model), shape, len(meta["classes"]), 1)
    if cfg.engine == "numpy":
        if not (run / "model.npz").is_file():
            raise ImgclassError(f"{run}: no model.npz; the run has not finished (resume it with --resume)")
        engine.model.load(run / "model.npz")
    else:
        if not (run / "model.pt").is_file():
            raise ImgclassError(f"{run}: no model.pt; the run has not finished (resume it with --resume)")
        engine.load_model_state(load_checkpoint(run / "model.pt"))
    return TrainedModel(cfg, engine, Preprocessor.load(run / "preprocessor.npz"), list(meta["classes"]), shape)


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()
