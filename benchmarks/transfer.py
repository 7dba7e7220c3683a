"""Transfer learning on CIFAR-10 photos: from scratch vs the pretrained EfficientNet-Lite0 (about an hour).

    tar xzf ../shared/data/cifar10-jpeg.tar.gz -C DATA      # DATA/train/<class>/*.jpg, DATA/test/<class>/*.jpg
    python benchmarks/transfer.py --data-dir DATA

A user's own photos are the case: 100 training images per class (a folder of links to the first 100 of
each class of DATA/train) and the 10,000 test images, each run trained and tested once, through the
library calls of ``imgclass train --dataset folder:DIR``:

============= =====================================================================================
scratch       the best from-scratch model imgclass has for it: the default cnn recipe and the fast net
              (``--model fast:48,192,192``, the CIFAR-10 default); the better on validation is reported
head          ``--model efficientnet-lite0`` (frozen backbone, a new classifier on cached features)
finetune      ``--model efficientnet-lite0 --finetune all`` (every layer, 4 epochs; pretrained ones at 1/10
              of the rate)
full_head     ``--model efficientnet-lite0 --finetune last`` on all 50,000 training images: the last block,
              the head conv and the classifier train on the frozen trunk's cached maps (``--full-finetune
              head``: the frozen backbone's classifier, as on the small set)
============= =====================================================================================

The images are resized inside the net to the default ``size`` (224 px, the weights' own). The last line
is one JSON object with ``scratch_test``, ``head_test``, ``finetune_test``, ``full_head_test``, the matching
``*_seconds`` (the Trainer's time: for a frozen backbone only the classifier's steps, its feature pass comes
before) and ``*_total_seconds`` (the whole run: loading the images, the feature pass or the training, the one
test).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

from imgclass.modelspec import ModelSpec
from imgclass.train import TrainConfig
from imgclass.train.run import train

PARTS = ("scratch", "head", "finetune", "full_head")


def subset(data: Path, out: Path, per_class: int) -> Path:
    """``out/train/<class>/`` with links to the first ``per_class`` images of each class; ``out/test`` -> data/test."""
    classes = sorted(p.name for p in (data / "train").iterdir() if p.is_dir())
    for c in classes:
        d = out / "train" / c
        d.mkdir(parents=True, exist_ok=True)
        for f in sorted((data / "train" / c).glob("*.jpg"))[:per_class]:
            if not (d / f.name).exists():
                (d / f.name).symlink_to(f.resolve())
    if not (out / "test").exists():
        (out / "test").symlink_to((data / "test").resolve())
    return out


def run(name: str, cfg: TrainConfig, out: str, figures: dict) -> dict:
    t0 = time.perf_counter()
    r = train(cfg, out_root=out, progress=False)
    total = time.perf_counter() - t0
    figures.update({f"{name}_test": r["test_accuracy"], f"{name}_val": r["val_accuracy"],
                    f"{name}_seconds": round(r["train_seconds"], 1), f"{name}_total_seconds": round(total, 1)})
    print(f"{name:<12} {cfg.model}: test {r['test_accuracy']:.4f} (val {r['val_accuracy']:.4f}), "
          f"{r['train_seconds']:.0f} s training, {total:.0f} s in all", flush=True)
    return r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", required=True, help="the extracted cifar10-jpeg.tar.gz (train/ and test/ folders)")
    ap.add_argument("--per-class", type=int, default=100, help="training images per class of the small set")
    ap.add_argument("--out", default="/tmp/imgclass-bench-transfer", help="parent of the runs and the small set")
    ap.add_argument("--only", nargs="+", choices=PARTS, default=PARTS, help="parts to run [all]")
    ap.add_argument("--full-finetune", choices=("head", "last"), default="last",
                    help="full_head's fine-tuning mode [last: the best on validation for 45,000 images]")
    args = ap.parse_args()
    data = Path(args.data_dir)
    if not (data / "train").is_dir() or not (data / "test").is_dir():
        raise SystemExit(f"{data}: no train/ and test/ folders; extract ../shared/data/cifar10-jpeg.tar.gz there")
    small = f"folder:{subset(data, Path(args.out) / f'small-{args.per_class}', args.per_class)}"
    figures: dict = {"benchmark": "transfer", "per_class": args.per_class, 
                     "size": ModelSpec.parse("efficientnet-lite0").size,
                     "cpu": platform.processor() or platform.machine(), "threads": os.cpu_count()}

    if "scratch" in args.only:
        scratch = [run(f"scratch_{n}", TrainConfig(dataset=small, model=m), args.out, figures)
                   for n, m in (("cnn", "cnn"), ("fast", "fast:48,192,192"))]
        best = max(scratch, key=lambda r: r["val_accuracy"])
        figures.update({"scratch_test": best["test_accuracy"], "scratch_seconds": round(best["train_seconds"], 1),
                        "scratch_model": best["model"]})
    if "head" in args.only:
        run("head", TrainConfig(dataset=small, model="efficientnet-lite0"), args.out, figures)
    if "finetune" in args.only:
        run("finetune", TrainConfig(dataset=small, model="efficientnet-lite0", finetune="all"), args.out, figures)
    if "full_head" in args.only:
        run("full_head", TrainConfig(dataset=f"folder:{data}", model="efficientnet-lite0",
                                     finetune=args.full_finetune), args.out, figures)
        figures["full_head_finetune"] = args.full_finetune
    if "head_test" in figures and "scratch_test" in figures:
        figures["head_minus_scratch"] = round(figures["head_test"] - figures["scratch_test"], 4)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
