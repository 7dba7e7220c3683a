"""The exporters: TorchScript and ONNX graphs of torch models, npz + JSON of NumPy models (see :mod:`imgclass.export`)."""

from __future__ import annotations

import copy
import io
import json
import warnings
from pathlib import Path

import numpy as np

from imgclass import __version__
from imgclass.errors import ImgclassError
from imgclass.export.names import DESCRIPTION, FILES, FORMATS, PRETRAINED
from imgclass.fileio import atomic_write, write_json
from imgclass.nn.geometry import _pair
from imgclass.runs import Run, load_model
from imgclass.runs.models import MODEL_KINDS, LinearScorer

TOLERANCE = 1e-4  # an export whose logits differ more from imgclass's is refused


def export_model(source: str | Path, fmt: str, out: str | Path | None = None, *, check_images: int = 4) -> dict:
    """Write ``source`` (a run directory, or ``"pretrained"``) as ``fmt`` into ``out``; return what was written.

    The exported file is loaded back and run on ``check_images`` random images: its logits must
    equal imgclass's within :data:`TOLERANCE` (ONNX: when onnxruntime is installed), else nothing is
    kept and the error says so.

    Returns
    -------
    dict
        ``format``, ``file``, ``description`` (model.json), ``classes`` (count), ``input_shape``,
        ``max_abs_diff`` (None when not checked), ``checked_with``.
    """
    if fmt not in FORMATS:
        raise ImgclassError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if str(source) == PRETRAINED:
        source_info, model = _pretrained()
        default_out = Path("export-efficientnet-lite0")
    else:
        run = Run.open(source, kind=MODEL_KINDS)
        model = load_model(run.path, device="cpu")
        source_info = {"run": str(run.path), "model": model.name, "classes": model.classes,
                       "input_shape": list(model.image_shape), "crop_fraction": None, "resample": "bilinear",
                       "calibrated": model.calibrated}
        default_out = run.path / "export"
    out = Path(out) if out is not None else default_out
    if out.exists() and not out.is_dir():
        raise ImgclassError(f"--out {out} is a file; give a folder (the export writes {FILES[fmt]} and {DESCRIPTION})")
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (check_images, *source_info["input_shape"])).astype(np.float32)
    if fmt == "npz":
        layers, arrays, extra = _numpy_layers(model, source)
        description = {**_describe(source_info, fmt), **extra, "layers": layers}
        blob = io.BytesIO()
        np.savez(blob, **arrays)
        diff, checked = _check_npz(model, arrays, description, images)
        path = out / FILES[fmt]
        with atomic_write(path) as f:
            f.write(blob.getvalue())
    else:
        wrapper = _torch_package(model, source)
        description = _describe(source_info, fmt)
        expected = _torch_logits(wrapper, images)
        if not isinstance(model, _Pretrained):  # the graph itself must score as imgclass does
            _compare(_full_precision_scores(model, images.astype(np.uint8)), expected, fmt)
        data = _torchscript(wrapper, images, description) if fmt == "torchscript" else _onnx(wrapper, images)
        diff, checked = _check_torch_file(fmt, data, images, expected)
        path = out / FILES[fmt]
        with atomic_write(path) as f:
            f.write(data)
    desc_path = write_json(out / DESCRIPTION, {**description, "max_abs_diff": diff, "checked_with": checked})
    return {"format": fmt, "file": str(path), "description": str(desc_path), "classes": len(source_info["classes"]),
            "input_shape": source_info["input_shape"], "max_abs_diff": diff, "checked_with": checked,
            "model": source_info["model"]}


# --------------------------------------------------------------------------- what is exported


def _pretrained():
    from imgclass.pretrained.efficientnet import CROP_FRACTION, IMAGE_SIZE, MEAN, STD, efficientnet_lite0, \
        imagenet_classes

    net = efficientnet_lite0()
    info = {"run": None, "model": "EfficientNet-Lite0 (ImageNet-1k)", "classes": imagenet_classes(),
            "input_shape": [3, IMAGE_SIZE, IMAGE_SIZE], "crop_fraction": CROP_FRACTION, "resample": "bicubic",
            "calibrated": True}
    mean, scale = np.full((3, 1, 1), MEAN / 255.0), np.full((3, 1, 1), STD / 255.0)
    return info, _Pretrained(net, mean, scale)


class _Pretrained:
    """The parts of a TrainedModel the torch exporter reads, for the ImageNet net."""

    def __init__(self, net, mean, scale):
        self.net, self.mean, self.scale = net, mean, scale


def _describe(info: dict, fmt: str) -> dict:
    c, h, w = info["input_shape"]
    crop = info["crop_fraction"]
    resize = (f"center-crop {crop:.4g} of the largest centered {h}:{w} region, then resize to {h} x {w} "
              f"({info['resample']})") if crop else f"resize the whole image to {h} x {w} ({info['resample']})"
    return {"format": fmt, "file": FILES[fmt], "model": info["model"], "source_run": info["run"],
            "classes": info["classes"],
            "input": {"shape": [c, h, w], "layout": "NCHW", "dtype": "float32", "channels": "RGB" if c == 3 else "gray",
                      "values": "0..255 (pixel values as floats; normalization is inside the model)",
                      "resize": resize},
            "output": "logits (N, K); softmax gives class probabilities" if info["calibrated"] else
                      "scores (N, K) of a hinge-loss model: a ranking, not probabilities",
            "imgclass": __version__}


def _torch_package(model, source):
    """A CPU float32 module: (N, C, H, W) 0..255 -> logits, normalization and test-time views inside."""
    import torch

    if isinstance(model, _Pretrained):
        return _Packaged(model.net, model.mean, model.scale, 1.0, False, False)
    engine = model.scorer
    if not hasattr(engine, "eval_module"):
        raise ImgclassError(f"{source} is a {model.config.engine if hasattr(model.config, 'engine') else 'linear'} "
                            "run: TorchScript and ONNX export torch-engine runs; use --format npz")
    net = copy.deepcopy(engine.eval_module).float().cpu().eval().to(memory_format=torch.contiguous_format)
    pre, cfg = model.pre, model.config
    return _Packaged(net, pre.mean_, pre.scale_, pre.gamma, cfg.tta_flip, cfg.tta_shift)


def _Packaged(net, mean, scale, gamma: float, flip: bool, shift: bool):
    import torch

    from imgclass.train.torch_engine import tta_logits

    class Packaged(torch.nn.Module):
        """images / 255 (** gamma), minus the training mean, over the training std; the net; its test-time views."""

        def __init__(self):
            super().__init__()
            self.net = net
            self.register_buffer("mean", torch.tensor(np.asarray(mean, np.float32)[None]))
            self.register_buffer("scale", torch.tensor(np.asarray(scale, np.float32)[None]))

        def forward(self, images):
            x = images / 255.0
            if gamma != 1.0:
                x = x.clamp(min=0.0).pow(gamma)
            return tta_logits(self.net, (x - self.mean) / self.scale, flip=flip, shift=shift)

    return Packaged().eval()


def _torch_logits(wrapper, images: np.ndarray) -> np.ndarray:
    import torch

    with torch.inference_mode():
        return wrapper(torch.from_numpy(images)).numpy()


def _torchscript(wrapper, images: np.ndarray, description: dict) -> bytes:
    import torch

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            traced = torch.jit.trace(wrapper, torch.from_numpy(images), check_trace=False)
            buf = io.BytesIO()
            torch.jit.save(traced, buf, _extra_files={DESCRIPTION: json.dumps(description)})
    except Exception as e:  # noqa: BLE001  the tracer's many failure types: one message that says what failed
        raise ImgclassError(f"this model cannot be exported to TorchScript ({type(e).__name__}: "
                            f"{str(e).splitlines()[0] if str(e) else ''})") from e
    return buf.getvalue()


def _onnx(wrapper, images: np.ndarray) -> bytes:
    import torch

    try:
        import onnx  # noqa: F401  torch's exporter writes the graph with it
    except ImportError:
        raise ImgclassError("ONNX export needs the onnx package: pip install onnx (or use --format torchscript)") \
            from None
    buf = io.BytesIO()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(wrapper, (torch.from_numpy(images),), buf, dynamo=False, opset_version=17,
                              input_names=["images"], output_names=["logits"],
                              dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}})
    except Exception as e:  # noqa: BLE001  exporter errors come in many types: one message
        first = str(e).splitlines()[0] if str(e) else ""
        raise ImgclassError(f"this model cannot be exported to ONNX ({type(e).__name__}: {first}); "
                            "--format torchscript keeps any PyTorch model") from e
    return buf.getvalue()


def _full_precision_scores(model, images: np.ndarray) -> np.ndarray:
    """imgclass's scores in float32, as the exported graph computes them: a run that evaluates with bfloat16
    autocast (CUDA, or a CPU with native bfloat16) would differ from its own fp32 graph by about 1e-2."""
    engine = model.scorer  # a torch-engine run's engine: only those export to torchscript or onnx
    amp, engine.amp = engine.amp, None
    try:
        return model.scores(images)
    finally:
        engine.amp = amp


def _check_torch_file(fmt: str, data: bytes, images: np.ndarray, expected: np.ndarray):
    """Load the written bytes back as a user would, run them, compare: (max |difference|, checker)."""
    import torch

    if fmt == "torchscript":
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # torch 2.13 deprecates torch.jit for torch.export
            got = torch.jit.load(io.BytesIO(data), map_location="cpu")(torch.from_numpy(images)).numpy()
        checker = f"torch.jit.load (torch {torch.__version__})"
    else:
        try:
            import onnxruntime
        except ImportError:
            return None, "not checked: onnxruntime is not installed (pip install onnxruntime)"
        session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
        got = session.run(["logits"], {"images": images})[0]
        checker = f"onnxruntime {onnxruntime.__version__}"
    return _compare(expected, got, fmt), checker


def _compare(expected: np.ndarray, got: np.ndarray, fmt: str) -> float:
    finite = np.isfinite(expected)
    if got.shape != expected.shape or not np.array_equal(finite, np.isfinite(got)):
        raise ImgclassError(f"the {fmt} export does not reproduce imgclass's logits (shape {got.shape} vs "
                            f"{expected.shape}); nothing was written")
    diff = float(np.max(np.abs(got[finite] - expected[finite]), initial=0.0))
    scale = max(1.0, float(np.max(np.abs(expected[finite]), initial=0.0)))
    if not diff <= TOLERANCE * scale:
        raise ImgclassError(f"the {fmt} export differs from imgclass's logits by {diff:.3g} (allowed "
                            f"{TOLERANCE * scale:.3g}); nothing was written")
    return diff


# --------------------------------------------------------------------------- NumPy models as npz + JSON


def _numpy_layers(model, source) -> tuple[list[dict], dict[str, np.ndarray], dict]:
    """(layers in order, their arrays by name, extra description keys) of a numpy-engine or linear run."""
    if isinstance(model, _Pretrained) or hasattr(model.scorer, "eval_module"):
        raise ImgclassError(f"{source} is a torch model: --format npz exports numpy-engine and linear runs; use "
                            "--format torchscript or onnx")
    pre = model.pre
    arrays = {"pre.mean": np.asarray(pre.mean_, np.float64), "pre.scale": np.asarray(pre.scale_, np.float64)}
    extra = {"gamma": float(pre.gamma), "tta_flip": False}
    if isinstance(model.scorer, LinearScorer):
        est, k = model.scorer.estimator, len(model.classes)
        coef, icpt = est.coef_, np.asarray(est.intercept_, np.float64)
        if len(est.classes_) == 2:  # imgclass scores two classes as (0, s1 - s0), as scikit-learn's decision_function
            coef, icpt = np.stack([np.zeros_like(coef[0]), coef[1] - coef[0]]), np.array([0.0, icpt[1] - icpt[0]])
        w, b = np.zeros((coef.shape[1], k)), np.full(k, -np.inf)  # a class the run never saw scores -inf
        cls = np.asarray(est.classes_, np.int64)
        w[:, cls], b[cls] = coef.T, icpt
        arrays.update({"0.w": w, "0.b": b})
        return [{"type": "flatten"}, {"type": "linear", "w": "0.w", "b": "0.b"}], arrays, extra
    from imgclass.nn import layers as L

    extra["tta_flip"] = bool(model.config.tta_flip)
    out = []

    def walk(layer, name):
        if isinstance(layer, L.Sequential):
            for i, child in enumerate(layer.layers):
                walk(child, f"{name}{i}.")
            return
        key = name.rstrip(".")
        p, buf = layer.params, layer.buffers
        bias = f"{key}.b" if "b" in p else None
        if bias:
            arrays[bias] = p["b"]
        if isinstance(layer, L.Linear):
            arrays[f"{key}.w"] = p["w"]
            out.append({"type": "linear", "w": f"{key}.w", "b": bias})
        elif isinstance(layer, L.Conv2d):
            arrays[f"{key}.w"] = p["w"]
            out.append({"type": "conv", "w": f"{key}.w", "b": bias, "stride": list(_pair(layer.stride, "stride", 1)),
                        "padding": list(_pair(layer.padding, "padding", 0)),
                        "dilation": list(_pair(layer.dilation, "dilation", 1))})
        elif isinstance(layer, L.BatchNorm):
            for k_, v in {"gamma": p["gamma"], "beta": p["beta"], "mean": buf["running_mean"],
                          "var": buf["running_var"]}.items():
                arrays[f"{key}.{k_}"] = v
            out.append({"type": "batchnorm", **{k_: f"{key}.{k_}" for k_ in ("gamma", "beta", "mean", "var")},
                        "eps": float(layer.eps)})
        elif isinstance(layer, (L.MaxPool2d, L.AvgPool2d)):
            kernel = _pair(layer.kernel, "kernel", 1)
            out.append({"type": "avgpool" if isinstance(layer, L.AvgPool2d) else "maxpool", "kernel": list(kernel),
                        "stride": list(_pair(layer.stride or layer.kernel, "stride", 1))})
        elif isinstance(layer, (L.ReLU, L.Flatten)):
            out.append({"type": "relu" if isinstance(layer, L.ReLU) else "flatten"})
        elif isinstance(layer, L.Dropout):
            pass  # the identity in evaluation
        else:
            raise ImgclassError(f"{source}: the layer {type(layer).__name__} has no npz export")

    walk(model.scorer.model.net, "")
    return out, arrays, extra


def _check_npz(model, arrays: dict, description: dict, images: np.ndarray):
    """Run the layers as the README's reader does and compare with imgclass's scores."""
    got = run_npz(description, arrays, images)
    expected = model.scores(images.astype(np.uint8))
    return _compare(expected, got, "npz"), "imgclass.export.formats.run_npz (the README's reader)"


def run_npz(description: dict, a, images: np.ndarray) -> np.ndarray:
    """Logits of float images (N, C, H, W) 0..255 from an npz export: the README's pure-NumPy reader."""
    from numpy.lib.stride_tricks import sliding_window_view as windows

    x = (images / 255.0) ** description["gamma"]
    x = (x - a["pre.mean"]) / a["pre.scale"]

    def forward(x):
        for layer in description["layers"]:
            t, b = layer["type"], a[layer["b"]] if layer.get("b") else 0.0
            if t == "linear":
                x = x @ a[layer["w"]] + b
            elif t == "relu":
                x = np.maximum(x, 0)
            elif t == "flatten":
                x = x.reshape(len(x), -1)
            elif t == "batchnorm":
                s = (1, -1, 1, 1) if x.ndim == 4 else (1, -1)
                g, be, m, v = (a[layer[k]].reshape(s) for k in ("gamma", "beta", "mean", "var"))
                x = (x - m) / np.sqrt(v + layer["eps"]) * g + be
            elif t == "conv":
                (ph, pw), (sh, sw), (dh, dw) = layer["padding"], layer["stride"], layer["dilation"]
                w = a[layer["w"]]
                kh, kw = w.shape[2:]
                x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
                v = windows(x, ((kh - 1) * dh + 1, (kw - 1) * dw + 1), axis=(2, 3))[:, :, ::sh, ::sw, ::dh, ::dw]
                x = np.einsum("nchwij,ocij->nohw", v, w) + (b[:, None, None] if layer.get("b") else 0.0)
            elif t in ("maxpool", "avgpool"):
                (kh, kw), (sh, sw) = layer["kernel"], layer["stride"]
                v = windows(x, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]
                x = v.max(axis=(4, 5)) if t == "maxpool" else v.mean(axis=(4, 5))
        return x

    return (forward(x) + forward(x[..., ::-1])) / 2 if description["tta_flip"] else forward(x)
