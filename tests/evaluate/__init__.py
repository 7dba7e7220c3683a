"""Shared helpers: tiny finished runs on digits, each made once per test session and then only read.

A test that changes a run (``evaluate --again``) works on a copy (:func:`copy_run`).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

_CACHE: dict[str, Path] = {}


def tiny_config(**changes):
    """A two-epoch NumPy MLP on digits: trains in well under a second."""
    from imgclass.train import TrainConfig

    return TrainConfig(**{"dataset": "digits", "engine": "numpy", "model": "mlp:16", "epochs": 2, "lr": 0.01,
                          "batch_size": 64, "threads": 1, **changes})


def _cached(tmp_path_factory, key: str, build) -> Path:
    if key not in _CACHE:
        _CACHE[key] = Path(build(tmp_path_factory.mktemp(key)))
    return _CACHE[key]


def train_run(tmp_path_factory) -> Path:
    """A finished ``imgclass train`` run directory (read only)."""
    from imgclass.train.run import train

    return _cached(tmp_path_factory, "train-run",
                   lambda d: train(tiny_config(), run_dir=d / "run", progress=False)["run_dir"])


def seeds_run(tmp_path_factory) -> Path:
    """A finished ``imgclass train --seeds 2`` parent directory (read only)."""
    from imgclass.train.run import train_seeds

    return _cached(tmp_path_factory, "seeds-run",
                   lambda d: train_seeds(tiny_config(), 2, out_root=d, progress=False)["run_dir"])


def linear_run(tmp_path_factory) -> Path:
    from imgclass.linear.config import LinearConfig
    from imgclass.linear.run import train_linear

    return _cached(tmp_path_factory, "linear-run",
                   lambda d: train_linear(LinearConfig(dataset="digits", loss="softmax", lr=0.05, iters=150),
                                          out_root=d, progress=False)["run_dir"])


def linear_sweep_run(tmp_path_factory) -> Path:
    from imgclass.linear.config import LinearSweepConfig
    from imgclass.linear.run import sweep_linear
    from imgclass.linear.search import grid

    return _cached(tmp_path_factory, "linear-sweep",
                   lambda d: sweep_linear(LinearSweepConfig(dataset="digits", loss="svm", iters=60,
                                                            configs=grid([1e-3, 1e-2, 1e-1], [0.0, 1e-3])),
                                          out_root=d, progress=False)["run_dir"])


def optuna_sweep_dir(tmp_path_factory) -> Path:
    """A hand-written ``imgclass sweep`` directory by its contract: sweep.json and plots/*.png.

    Trial 2 points at the tiny train run; trial 3 was pruned (value null); the values are out of order.
    """
    def build(d: Path) -> Path:
        from imgclass.data.plots import _plt
        from imgclass.fileio import save_figure

        best_run = train_run(tmp_path_factory)
        trials = [
            {"number": 0, "state": "COMPLETE", "params": {"lr": 1e-3, "reg": 1e-4, "width": 16}, "value": 0.81,
             "run_dir": None},
            {"number": 1, "state": "COMPLETE", "params": {"lr": 3e-2, "reg": 1e-5, "width": 32}, "value": 0.42,
             "run_dir": None},
            {"number": 2, "state": "COMPLETE", "params": {"lr": 1e-2, "reg": 1e-3, "width": 16}, "value": 0.93,
             "run_dir": str(best_run)},
            {"number": 3, "state": "PRUNED", "params": {"lr": 0.5, "reg": 1e-2, "width": 8}, "value": None,
             "run_dir": None},
            {"number": 4, "state": "COMPLETE", "params": {"lr": 5e-3, "reg": 1e-4, "width": 8}, "value": 0.88,
             "run_dir": None},
        ]
        sweep = {"kind": "optuna-sweep", "study": "digits-mlp <&> test", "storage": f"sqlite:///{d}/study.db",
                 "direction": "maximize", "trials": trials,
                 "best": {"number": 2, "params": trials[2]["params"], "value": 0.93, "test_accuracy": 0.91,
                          "run_dir": str(best_run)}}
        (d / "sweep.json").write_text(json.dumps(sweep, indent=2))
        plt = _plt()
        for name in ("optimization_history", "param_importances", "lr_reg_scatter"):
            fig, ax = plt.subplots(figsize=(3, 2))
            ax.plot([0, 1, 2], [0.4, 0.8, 0.9])
            ax.set_title(name)
            save_figure(fig, d / "plots" / f"{name}.png")
        return d

    return _cached(tmp_path_factory, "optuna-sweep", build)


def copy_run(run: Path, dest: Path) -> Path:
    """A private copy of a shared run, for tests that write into it."""
    return Path(shutil.copytree(run, dest))


def self_contained_images(text: str) -> list[bytes]:
    """Check that an HTML page needs nothing outside itself; return its decoded embedded images.

    Every ``<img>`` is a base64 PNG ``data:`` URI that Pillow can open; the only link is the empty
    ``data:`` favicon; there is no script, no external style, font or frame, and no CSS ``url()``.
    """
    import base64
    import io
    from html.parser import HTMLParser

    from PIL import Image

    tags: list[tuple[str, dict]] = []

    class Collect(HTMLParser):
        def handle_starttag(self, tag, attrs):
            tags.append((tag, dict(attrs)))

    Collect().feed(text)
    names = {t for t, _ in tags}
    assert not names & {"script", "iframe", "object", "embed", "audio", "video", "source", "base"}, names
    assert "url(" not in text and "@import" not in text
    links = [a for t, a in tags if t == "link"]
    assert links == [{"rel": "icon", "href": "data:,"}], links
    assert not [a for t, a in tags if t != "img" and ("src" in a or (t != "link" and "href" in a))]
    images = []
    for t, a in tags:
        if t == "img":
            prefix = "data:image/png;base64,"
            assert a["src"].startswith(prefix), a["src"][:40]
            data = base64.b64decode(a["src"][len(prefix):], validate=True)
            with Image.open(io.BytesIO(data)) as img:
                assert img.format == "PNG" and img.size[0] > 0
            assert a.get("alt"), "every image has alt text"
            images.append(data)
    return images
