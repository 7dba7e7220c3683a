"""Run directories as today's layout, including those written before ``kind`` and the one results schema.

The only place that knows older layouts: a directory without ``kind`` in its
``config.json`` is recognised by its files (:func:`kind_of`), and its config,
results and data are translated to today's keys here, once (:func:`config_of`,
:func:`results_of`, :func:`data_of`). Old keys that name a figure today's schema
has under another name are in :data:`RENAMED`.
"""

from __future__ import annotations

from pathlib import Path

from imgclass.errors import ImgclassError
from imgclass.modelspec import spec_text
from imgclass.runs.files import CONFIG, DATA, KINDS, RESULTS, SWEEP, read_json, resolve
from imgclass.runs.schema import hyperparameters, results, seed_range

OLD_SEEDS, OLD_STUDY = "seeds.json", "study.json"

#: Result keys of older runs -> today's key for the same figure.
RENAMED = {"best_val_accuracy": "val_accuracy", "final_train_accuracy": "train_accuracy",
           "final_train_loss": "train_loss", "fit_seconds": "train_seconds", "sweep_seconds": "train_seconds",
           "best_train_accuracy": "train_accuracy", "test_accuracy_mean": "test_accuracy",
           "train_seconds_mean": "train_seconds", "best_lr": "lr", "best_reg": "reg"}


def _renamed(d: dict) -> dict:
    return {RENAMED.get(k, k): v for k, v in d.items()}


def kind_of(path: Path) -> str:
    """The kind recorded in ``config.json`` or ``results.json``, else read off an older directory's files."""
    for name in (CONFIG, RESULTS):
        d = read_json(path / name)
        if isinstance(d, dict) and d.get("kind") in KINDS:
            return d["kind"]
    sweep = read_json(path / SWEEP)
    if isinstance(sweep, dict) and sweep.get("kind") == "optuna-sweep":
        return "sweep"
    study = read_json(path / OLD_STUDY)
    if isinstance(study, dict) and study.get("kind"):
        return "study"
    if (path / OLD_SEEDS).is_file():
        return "seeds"
    cfg = read_json(path / CONFIG)
    if not isinstance(cfg, dict):
        raise ImgclassError(f"{path}: not a run directory (no {CONFIG}); give a directory written by "
                            "imgclass train, linear, sweep or study")
    kind = {"linear train": "linear", "linear sweep": "linear-sweep"}.get(cfg.get("command"))
    if kind is None and "engine" in cfg:  # an older imgclass train run: config.json is its TrainConfig
        kind = "train"
    if kind is None:
        raise ImgclassError(f"{path}: unknown run layout ({CONFIG} has no kind); give a directory written by "
                            "imgclass train, linear, sweep or study")
    return kind


def config_of(path: Path, kind: str) -> dict:
    """The run's configuration without ``kind``."""
    cfg = _config_of(path, kind)
    for c in (cfg, cfg.get("config")):  # a training run's config, or the base config of a seeds/sweep/study parent
        model = c.get("model") if isinstance(c, dict) else None
        if isinstance(model, dict) and model.get("kind") == "efficientnet" and "hidden" not in model:
            model["hidden"] = []  # written before the option existed: the new classifier was one Linear layer
    if kind == "linear" and "lr" in cfg and "whiten" not in cfg:  # a LinearConfig from before the option:
        cfg["whiten"] = 0.0  # trained on the standardized pixels, whatever today's recipe says
    return cfg


def _config_of(path: Path, kind: str) -> dict:
    cfg = read_json(path / CONFIG)
    if isinstance(cfg, dict) and "kind" in cfg:
        return {k: v for k, v in cfg.items() if k != "kind"}
    if kind == "train":
        return _object(cfg, path / CONFIG)
    if kind == "linear":
        cfg = _object(cfg, path / CONFIG)
        p = cfg.get("params") or {}
        return {"dataset": cfg.get("dataset"), "data_options": {}, "loss": cfg.get("loss"),
                "lr": p.get("learning_rate"), "reg": p.get("reg"), "iters": p.get("num_iters"),
                "batch_size": p.get("batch_size"), "sampling": p.get("sampling", "replacement"),
                "bias": p.get("bias", "vector"), "lr_decay": p.get("lr_decay", 1.0), "averaging": p.get("averaging"),
                "val": cfg.get("val", 0.1), "seed": cfg.get("seed", 0), "normalize": cfg.get("normalize", "pixel"),
                "gamma": cfg.get("gamma", 1.0), "dtype": p.get("dtype", "float32")}
    if kind == "linear-sweep":
        cfg = _object(cfg, path / CONFIG)
        return {"dataset": cfg.get("dataset"), "data_options": {}, "loss": cfg.get("loss"),
                "configs": cfg.get("configs"), "iters": cfg.get("num_iters"), "batch_size": cfg.get("batch_size"),
                "sampling": cfg.get("sampling", "replacement"), "val": cfg.get("val", 0.1), "seed": cfg.get("seed", 0),
                "normalize": cfg.get("normalize", "pixel"), "gamma": cfg.get("gamma", 1.0)}
    if kind == "seeds":
        s = _object(read_json(path / OLD_SEEDS, required=True), path / OLD_SEEDS)
        return {"config": s.get("config", {}), "seeds": len(s.get("seeds", []))}
    if kind == "sweep":
        sw = _object(read_json(path / SWEEP, required=True), path / SWEEP)
        return {"config": sw.get("config", {}), "space": sw.get("space", {}), "sampler": sw.get("sampler"),
                "pruner": sw.get("pruner"), "trials": sw.get("trials_requested"), "study": sw.get("study"),
                "storage": sw.get("storage")}
    st = _object(read_json(path / OLD_STUDY, required=True), path / OLD_STUDY)
    if st.get("kind") == "train-fraction-study":
        return {"study": "train-fraction", "config": st.get("config", {}), "fractions": st.get("fractions", [])}
    return {"study": "baselines", "dataset": st.get("dataset"), **(st.get("settings") or {})}


def results_of(path: Path, kind: str) -> dict | None:
    """The run's results in today's schema; None if it has not finished."""
    res = read_json(path / RESULTS)
    if isinstance(res, dict) and res.get("kind") in KINDS:
        return res
    if kind in ("train", "linear", "linear-sweep"):
        return None if res is None else _model_results(path, kind, _renamed(_object(res, path / RESULTS)))
    cfg = config_of(path, kind)
    base = cfg.get("config") or {}
    if kind == "seeds":
        s = _renamed(read_json(path / OLD_SEEDS, required=True))
        return results("seeds", path, dataset=base.get("dataset"), model=spec_text(base.get("model")),
                       engine=base.get("engine"), seed=min(s.get("seeds") or [0]),
                       test_accuracy=s.get("test_accuracy"), test_accuracy_std=s.get("test_accuracy_std"),
                       train_seconds=s.get("train_seconds"),
                       hyperparameters={**hyperparameters(base), "seed": seed_range(s.get("seeds", []))},
                       seeds=s.get("seeds", []), runs=s.get("runs", []), test_accuracies=s.get("test_accuracies", []))
    if kind == "sweep":
        sw = read_json(path / SWEEP, required=True)
        best = sw.get("best") or {}
        if not base and best.get("run_dir"):  # a record without its base config: the best trial's run has it
            best_cfg = read_json(resolve(path, best["run_dir"]) / CONFIG)
            base = best_cfg if isinstance(best_cfg, dict) else {}
        return results("sweep", path, dataset=base.get("dataset"),
                       model=f"{spec_text(base.get('model'))} (best of {len(sw.get('trials', []))} trials)",
                       engine=base.get("engine"), seed=base.get("seed"), val_accuracy=best.get("value"),
                       test_accuracy=best.get("test_accuracy"),
                       hyperparameters={**hyperparameters(base), **(best.get("params") or {})},
                       tuned=list(best.get("params") or {}), plots=sw.get("plots", []), best=best,
                       study=sw.get("study"))
    st = read_json(path / OLD_STUDY, required=True)
    rows = [_renamed(r) for r in st.get("runs", st.get("rows", []))]
    return results("study", path, dataset=st.get("dataset"), study=cfg["study"], rows=rows,
                   **{k: st.get(k) for k in ("train_size", "val_size", "test_size", "features", "machine")
                      if k in st}, plots=[st["plot"]] if st.get("plot") else [])


def _model_results(path: Path, kind: str, res: dict) -> dict:
    """An older train, linear or linear sweep ``results.json`` in today's schema."""
    cfg = config_of(path, kind)
    plots = res.pop("plots", None) or [v for k, v in res.items() if k.endswith("_plot")]
    if kind == "train":
        figures = {"model": spec_text(res.pop("model", cfg.get("model"))), "hyperparameters": hyperparameters(cfg)}
    elif kind == "linear":
        figures = {"model": f"linear {cfg.get('loss')}", "engine": "numpy (linear SGD)",
                   "hyperparameters": hyperparameters(cfg)}
    else:
        n = res.pop("configs", None) or len(cfg.get("configs") or [])
        figures = {"model": f"linear {cfg.get('loss')} (best of {n} configs)", "engine": "numpy (linear SGD)",
                   "configs": n, "tuned": ["lr", "reg"],
                   "hyperparameters": {**hyperparameters(cfg), "lr": res.get("lr"), "reg": res.get("reg")}}
    res = {k: v for k, v in res.items() if k not in ("run_dir", "kind", "test_set_used") and not k.endswith("_plot")}
    return results(kind, path, **{**res, **figures, "plots": plots})


def data_of(path: Path, kind: str) -> dict:
    """``data.json`` (dataset, classes, image_shape, sizes); an older linear run kept these in its config."""
    data = read_json(path / DATA)
    if isinstance(data, dict):
        return data
    cfg = read_json(path / CONFIG)
    if kind in ("linear", "linear-sweep") and isinstance(cfg, dict) and "classes" in cfg:
        return {"dataset": cfg.get("dataset"), "classes": cfg["classes"], "image_shape": cfg.get("image_shape")}
    return {}


def _object(d, where: Path) -> dict:
    if not isinstance(d, dict):
        raise ImgclassError(f"{where}: missing or not a JSON object; rerun the command that wrote the run")
    return d
