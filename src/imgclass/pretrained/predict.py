"""Classify image files and folders: decode, preprocess for the model, predict in batches, rank the top k.

A *predictor* is any object with

``class_names`` : list of str
    K names, column k of the probabilities is class k.
``input_shape`` : (C, H, W)
    Every image is converted to C channels (1 gray, 3 RGB) and resized to H x W.
``predict_proba(x)``
    uint8 images (N, C, H, W) -> float probabilities (N, K), rows summing to 1.

and optionally ``name`` (str, shown in the output), ``crop_fraction``
(None, the default: the whole image is resized to H x W, as the folder
loader reads training images; a float in (0, 1]: first a centered crop of
that share of the largest region with the aspect of H x W, as ImageNet
evaluation does) and ``resample`` ("bilinear" (default) or "bicubic"). :class:`ImageNetPredictor`
is the pretrained EfficientNet-Lite0; :func:`imgclass.runs.load_model`
makes one from an imgclass run directory.

Bad input never stops a batch: a file that is missing, not an image,
truncated, or too large to decode safely gets an ``error`` entry with a
message naming it, and the other files are still classified. Odd formats are
converted by :mod:`imgclass.data.images` (grayscale and 16-bit to the model's
channels, transparency onto white, CMYK/palette to RGB, EXIF orientation).
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

import numpy as np
from PIL import Image

from imgclass.data.images import image_extensions, open_image, to_array
from imgclass.data.plots import _plt, to_display
from imgclass.errors import ImgclassError
from imgclass.explain import class_index, grad_cam, overlay_figure, torch_view
from imgclass.fileio import save_figure
from imgclass.runs import load_model

log = logging.getLogger(__name__)

RESAMPLE = {"bilinear": Image.Resampling.BILINEAR, "bicubic": Image.Resampling.BICUBIC}
DEVICES = ("auto", "cpu", "cuda")


def resolve_device(device: str = "auto") -> str:
    """'auto' -> 'cuda' when PyTorch sees a GPU, else 'cpu'; 'cuda' without a GPU is an error."""
    import torch

    if device not in DEVICES:
        raise ImgclassError(f"device must be one of {', '.join(DEVICES)}, got {device!r}")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ImgclassError("--device cuda: PyTorch sees no CUDA GPU (CPU build or no driver); use --device cpu")
    return device


class ImageNetPredictor:
    """EfficientNet-Lite0 with its ImageNet weights: 1000 classes, 224x224 RGB inputs.

    Parameters
    ----------
    device : {"auto", "cpu", "cuda"}
    model : torch.nn.Module, optional
        Use this model instead of loading the pretrained weights (tests).
    """

    name = "EfficientNet-Lite0 (ImageNet-1k)"

    def __init__(self, device: str = "auto", model=None):
        from imgclass.pretrained.efficientnet import (CROP_FRACTION, IMAGE_SIZE, MEAN, STD, efficientnet_lite0,
                                                      imagenet_classes)

        self.device = resolve_device(device)
        self.class_names = imagenet_classes()
        self.input_shape = (3, IMAGE_SIZE, IMAGE_SIZE)
        self.crop_fraction = CROP_FRACTION
        self.resample = "bicubic"
        self.mean, self.std = MEAN, STD
        self.model = (model if model is not None else efficientnet_lite0()).to(self.device).eval()

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """uint8 RGB (N, 3, 224, 224) -> float32 probabilities (N, 1000)."""
        import torch

        t = torch.from_numpy(np.require(x, requirements=["C", "W"])).to(self.device).float()  # (N, 3, H, W)
        t = (t - self.mean) / self.std  # 0..255 -> about -1..1, as the TF-Lite weights expect
        with torch.inference_mode():
            return torch.softmax(self.model(t), dim=1).float().cpu().numpy()


def load_predictor(run: str | os.PathLike | None = None, device: str = "auto"):
    """The predictor of run directory ``run``, or the pretrained ImageNet classifier when ``run`` is None."""
    if run is None:
        return ImageNetPredictor(device=device)
    return load_model(run, device=device)


# --------------------------------------------------------------------------- reading images


def fit_to_model(x: np.ndarray, size: tuple[int, int], crop_fraction: float | None = None,
                 resample: str = "bilinear") -> np.ndarray:
    """Resize uint8 (C, H, W) to ``size`` = (H, W), first center-cropping when ``crop_fraction`` is given.

    The crop is ``crop_fraction`` of the largest centered region with the
    aspect ratio of ``size`` (for a square ``size``: that share of the shorter
    side, TensorFlow's ImageNet eval crop, offsets rounded as there). Without
    a crop the whole image is resized, its aspect ratio not kept.
    """
    if resample not in RESAMPLE:
        raise ImgclassError(f"resample must be one of {', '.join(RESAMPLE)}, got {resample!r}")
    if crop_fraction is not None and not 0.0 < crop_fraction <= 1.0:
        raise ImgclassError(f"crop_fraction must lie in (0, 1] or be None, got {crop_fraction}")
    h, w = size
    img = Image.fromarray(x[0] if x.shape[0] == 1 else x.transpose(1, 2, 0))  # (C, H, W) -> (H, W[, C])
    if crop_fraction is not None:
        scale = min(img.height / h, img.width / w) * crop_fraction
        ch, cw = max(1, int(h * scale)), max(1, int(w * scale))
        top, left = (img.height - ch + 1) // 2, (img.width - cw + 1) // 2
        img = img.crop((left, top, left + cw, top + ch))
    if img.size != (w, h):
        img = img.resize((w, h), RESAMPLE[resample])
    a = np.array(img, dtype=np.uint8)  # a writable copy
    return a[None] if a.ndim == 2 else a.transpose(2, 0, 1)  # (H, W[, C]) -> (C, H, W)


def read_for_model(path: str | os.PathLike, predictor) -> np.ndarray:
    """Decode ``path`` as the predictor expects it: uint8 ``predictor.input_shape`` (C, H, W).

    Raises :class:`imgclass.errors.DataError` for a file that cannot be used.
    """
    c, h, w = predictor.input_shape
    crop = getattr(predictor, "crop_fraction", None)
    resample = getattr(predictor, "resample", "bilinear")
    with open_image(path) as img:
        if crop is None and resample == "bilinear":
            return to_array(img, (h, w), c, str(path))  # exactly as the folder loader reads training images
        if img.format == "JPEG":  # decode a large photo at 1/2, 1/4 or 1/8 scale, still >= 2x the model's input
            side = 2 * math.ceil(max(h, w) / (crop or 1.0))
            img.draft(img.mode, (side, side))
        x = to_array(img, None, c, str(path))
    return fit_to_model(x, (h, w), crop, resample)


def collect_images(inputs) -> tuple[list[Path], list[dict]]:
    """Expand files and folders into image files (folders: recursively, image suffixes only, sorted).

    Returns ``(files, errors)``: a path that does not exist or a folder with
    no image in it becomes an error entry ``{"path", "error"}`` instead of
    stopping the others. A file named explicitly is kept whatever its suffix
    (decoding decides whether it is an image).
    """
    exts = image_extensions()
    files, errors = [], []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in exts
                           and not any(part.startswith(".") for part in f.relative_to(p).parts))
            if not found:
                errors.append({"path": str(p), "error": f"{p}: folder holds no image files"})
            files += found
        elif p.is_file():
            files.append(p)
        else:
            errors.append({"path": str(p), "error": f"{p}: no such file or folder"})
    return files, errors


# --------------------------------------------------------------------------- predicting


def top_k(proba: np.ndarray, class_names: list[str], k: int) -> list[list[dict]]:
    """Per row of ``proba`` (N, K): the ``k`` most probable classes, best first."""
    k = min(k, proba.shape[1])
    idx = np.argsort(-proba, axis=1, kind="stable")[:, :k]  # (N, k)
    return [[{"rank": r + 1, "class": class_names[j], "index": int(j), "probability": round(float(p[j]), 6)}
             for r, j in enumerate(row)] for p, row in zip(proba, idx, strict=True)]


def predict_images(inputs, predictor, *, top: int = 5, batch_size: int = 32,
                   annotate_dir: str | os.PathLike | None = None, explain_dir: str | os.PathLike | None = None,
                   explain_classes: list[str] = (), progress: bool = False) -> dict:
    """Classify image files and folders; one bad file does not stop the others.

    Parameters
    ----------
    inputs : iterable of path
        Image files and/or folders of images.
    predictor
        See the module docstring (:class:`ImageNetPredictor`, ``load_run_predictor``).
    top : int
        Classes reported per image (at most K).
    batch_size : int
        Images decoded and passed to the model at a time.
    annotate_dir : path, optional
        Also write one PNG per image: the model's input beside a bar chart of the top classes.
    explain_dir : path, optional
        Also write one PNG per image: the model's input and Grad-CAM overlays (:mod:`imgclass.explain`) of its
        top class and of each of ``explain_classes`` (class names) — torch conv nets only.

    Returns
    -------
    dict
        ``results``: one entry per file (then per missing input), in order, each with ``path`` and
        either ``predictions`` (list of ``rank``, ``class``, ``index``, ``probability``) or ``error``;
        ``predicted`` and ``failed`` counts; ``model``, ``classes``, ``input_shape``, ``top_k``.
    """
    from tqdm.auto import tqdm

    if top < 1:
        raise ImgclassError(f"top-k must be at least 1, got {top}")
    if batch_size < 1:
        raise ImgclassError(f"batch size must be at least 1, got {batch_size}")
    extra = [class_index(name, predictor.class_names) for name in explain_classes]
    if explain_dir is not None:
        torch_view(predictor)  # an error now, before any image, if this model cannot be explained
    elif extra:
        raise ImgclassError("--explain-class needs --explain DIR (where the overlays go)")
    files, missing = collect_images(inputs)
    results: list[dict] = [{"path": str(f)} for f in files]
    annotate_names: set[str] = set()
    explain_names: set[str] = set()
    bar = tqdm(total=len(files), desc="classifying", unit="img", disable=not progress or None, leave=False)
    for start in range(0, len(files), batch_size):
        batch, xs = [], []
        for i in range(start, min(start + batch_size, len(files))):
            try:
                xs.append(read_for_model(files[i], predictor))
                batch.append(i)
            except ImgclassError as e:
                results[i]["error"] = str(e)
            except Exception as e:  # noqa: BLE001  a decoder bug on one odd file must not end the batch
                results[i]["error"] = f"{files[i]}: cannot decode ({type(e).__name__}: {e})"
        if batch:
            x = np.stack(xs)  # (B, C, H, W) uint8
            proba = np.asarray(predictor.predict_proba(x))
            maps = []
            if explain_dir is not None:  # Grad-CAM of each image's top class (known from proba), then of each extra
                net, to_input = torch_view(predictor)
                xt = to_input(x)
                maps = [grad_cam(net, xt, classes)[0] for classes in [np.argmax(proba, axis=1).tolist(),
                                                                       *([c] * len(x) for c in extra)]]
            for j, (i, xi, preds) in enumerate(zip(batch, x, top_k(proba, predictor.class_names, top), strict=True)):
                results[i]["predictions"] = preds
                if annotate_dir is not None:
                    results[i]["annotated"] = str(annotate(xi, preds, files[i], annotate_dir, annotate_names))
                if explain_dir is not None:
                    shown = [preds[0]["index"], *extra]
                    titles = [f"{'top: ' if n == 0 else ''}{predictor.class_names[c]} ({proba[j, c]:.1%})"
                              for n, c in enumerate(shown)]
                    fig = overlay_figure(xi, [m[j] for m in maps], titles, Path(files[i]).name)
                    path = _unique_png(Path(explain_dir), f"{Path(files[i]).stem}-gradcam", explain_names)
                    results[i]["explained"] = str(save_figure(fig, path, dpi=100))
        bar.update(min(batch_size, len(files) - start))
    bar.close()
    results += missing
    failed = sum("error" in r for r in results)
    return {"model": getattr(predictor, "name", type(predictor).__name__), "classes": len(predictor.class_names),
            "input_shape": list(predictor.input_shape), "top_k": min(top, len(predictor.class_names)),
            "predicted": len(results) - failed, "failed": failed, "results": results}


# --------------------------------------------------------------------------- output


def format_results(result: dict) -> str:
    """One small table per image (rank, probability, class); errors as one line each."""
    lines = [f"model: {result['model']}"]
    for r in result["results"]:
        lines.append("")
        if "error" in r:
            lines.append(f"{r['path']}\n  error: {r['error']}")
            continue
        lines.append(r["path"])
        lines.append(f"  {'rank':>4}  {'probability':>11}  class")
        lines += [f"  {p['rank']:>4}  {p['probability']:>11.4f}  {p['class']}" for p in r["predictions"]]
        if "annotated" in r:
            lines.append(f"  annotated: {r['annotated']}")
        if "explained" in r:
            lines.append(f"  Grad-CAM: {r['explained']}")
    lines.append("")
    lines.append(f"{result['predicted']} image(s) classified, {result['failed']} failed")
    return "\n".join(lines)


def _unique_png(out_dir: Path, stem: str, taken: set[str]) -> Path:
    name, k = f"{stem}.png", 1
    while name in taken:  # unique within one call; a rerun overwrites its own earlier files
        k += 1
        name = f"{stem}-{k}.png"
    taken.add(name)
    return out_dir / name


def annotate(x: np.ndarray, predictions: list[dict], source: str | os.PathLike, out_dir: str | os.PathLike,
             taken: set[str] | None = None) -> Path:
    """Write ``out_dir/<file stem>.png``: model input ``x`` (C, H, W) beside a bar chart of ``predictions``.

    ``taken`` collects the names written in one call of :func:`predict_images`,
    so that ``a/cat.jpg`` and ``b/cat.jpg`` give ``cat.png`` and ``cat-2.png``.
    """
    plt = _plt()
    out_dir = Path(out_dir)
    path = _unique_png(out_dir, Path(source).stem, taken if taken is not None else set())
    fig, (ax_img, ax_bar) = plt.subplots(1, 2, figsize=(9, 3.6), gridspec_kw={"width_ratios": [1, 1.3]})
    ax_img.imshow(to_display(x), cmap="gray" if x.shape[0] == 1 else None, vmin=0, vmax=255,
                  interpolation="nearest" if x.shape[1] < 64 else "antialiased")
    ax_img.set_axis_off()
    ax_img.set_title(Path(source).name, fontsize=9)
    names = [p["class"] for p in predictions][::-1]  # best at the top
    probs = [p["probability"] for p in predictions][::-1]
    bars = ax_bar.barh(range(len(names)), probs, color=["#888"] * (len(names) - 1) + ["#1f77b4"])
    ax_bar.set_yticks(range(len(names)), names, fontsize=9)
    ax_bar.set_xlim(0, 1)
    ax_bar.set_xlabel("probability")
    for b, p in zip(bars, probs, strict=True):
        ax_bar.text(min(p + 0.02, 0.85), b.get_y() + b.get_height() / 2, f"{p:.1%}", va="center", fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path, dpi=100)
