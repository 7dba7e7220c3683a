"""A dataset's vital statistics, as a JSON-ready dict."""

from __future__ import annotations

import numpy as np

from imgclass.data.dataset import Dataset
from imgclass.data.splits import Split


def describe(ds: Dataset, split: Split | None = None) -> dict:
    """Counts per split and per class, image shape, value range, channel mean/std.

    With ``split`` the counts are those of its train/val/test parts;
    otherwise of the dataset's own train/test parts.
    """
    parts = (
        {"train": split.y_train, "val": split.y_val, "test": split.y_test}
        if split is not None else {"train": ds.y_train, "test": ds.y_test}
    )
    k = ds.num_classes
    per_split = {p: np.bincount(y, minlength=k) for p, y in parts.items()}
    x = ds.x_train
    sample = x[:: max(1, len(x) // 20000)]  # statistics from up to ~20k images
    mean = sample.mean(axis=(0, 2, 3)) / 255.0
    std = sample.std(axis=(0, 2, 3)) / 255.0
    lo, hi = 255, 0
    for part in (ds.x_train, ds.x_test):  # in pieces: a folder's images are read from disk (DiskImages)
        for i in range(0, len(part), 4096):
            chunk = np.asarray(part[i:i + 4096])
            lo, hi = min(lo, int(chunk.min(initial=255))), max(hi, int(chunk.max(initial=0)))
    return {
        "dataset": ds.name,
        "source": ds.source,
        "image_shape": list(ds.image_shape),
        "dtype": str(x.dtype),
        "value_range": [lo, hi],
        "channel_mean": [round(float(v), 4) for v in mean],
        "channel_std": [round(float(v), 4) for v in std],
        "num_classes": k,
        "counts": {p: int(len(y)) for p, y in parts.items()},
        "per_class": {c: {p: int(per_split[p][i]) for p in parts} for i, c in enumerate(ds.classes)},
        "notes": list(ds.notes),
    }


def format_description(d: dict) -> str:
    """The :func:`describe` dict as an aligned text table."""
    c, h, w = d["image_shape"]
    lines = [
        f"dataset   {d['dataset']}",
        f"source    {d['source']}",
        f"images    {c}x{h}x{w} (C x H x W), {d['dtype']}, values {d['value_range'][0]}..{d['value_range'][1]}",
        "mean/std  " + ", ".join(f"{m:.3f}/{s:.3f}" for m, s in zip(d["channel_mean"], d["channel_std"]))
        + " per channel (train, scaled to [0, 1])",
        "counts    " + ", ".join(f"{p} {n}" for p, n in d["counts"].items()),
        "",
    ]
    parts = list(d["counts"])
    width = max(len("class"), *(len(name) for name in d["per_class"]))
    lines.append(f"{'#':>3}  {'class':<{width}}  " + "  ".join(f"{p:>6}" for p in parts))
    for i, (name, counts) in enumerate(d["per_class"].items()):
        lines.append(f"{i:>3}  {name:<{width}}  " + "  ".join(f"{counts[p]:>6}" for p in parts))
    lines += [f"note: {n}" for n in d["notes"]]
    return "\n".join(lines)
