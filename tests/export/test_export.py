"""``imgclass export``: the exported files, loaded by the tools users run them with, give imgclass's logits."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import torch

from imgclass.cli import main
from imgclass.errors import ImgclassError
from imgclass.export.formats import export_model
from imgclass.linear.config import LinearConfig
from imgclass.linear.run import train_linear
from imgclass.runs import load_model, rebuild_split
from imgclass.train import TrainConfig
from imgclass.train.run import train

README = Path(__file__).resolve().parents[2] / "README.md"
TORCH_RUNS = {
    # EMA weights, flip test-time augmentation, batchnorm, dropout
    "cnn": dict(model="cnn:8,16;fc=32;bn;dropout=0.2", epochs=2, ema=0.9, tta_flip=True),
    # the fast recipe's pieces that change evaluation: shifted and flipped views, channels_last, lookahead
    "resnet": dict(model="resnet:1,1;widths=8,16", epochs=2, tta_flip=True, tta_shift=True, lookahead=True,
                   channels_last=True, optimizer="nesterov", lr=0.05),
    # transfer learning: the pretrained backbone, its resize and scaling, a new classifier with a hidden layer
    "transfer": dict(model="efficientnet;size=32;hidden=16", epochs=1),
    # the last block trained on the trunk's cached maps: the exported graph runs the whole net on images
    "transfer-last": dict(model="efficientnet;size=32;hidden=16", epochs=1, finetune="last"),
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("export")
    out = {}
    for name, kw in TORCH_RUNS.items():
        out[name] = Path(train(TrainConfig(dataset="digits", batch_size=64, **kw), run_dir=root / name,
                               progress=False)["run_dir"])
    out["numpy"] = Path(train(TrainConfig(dataset="digits", engine="numpy", model="cnn:8;fc=16;bn;dropout=0.3",
                                          epochs=2, tta_flip=True, lr=3e-3), run_dir=root / "numpy",
                              progress=False)["run_dir"])
    for loss in ("softmax", "svm"):
        out[f"linear-{loss}"] = Path(train_linear(LinearConfig(dataset="digits", loss=loss, lr=1e-2, reg=1e-4,
                                                               iters=200), out_root=root, progress=False)["run_dir"])
    return out


def _test_images(run: Path) -> tuple[np.ndarray, np.ndarray]:
    """The run's real test images (uint8) and imgclass's own scores of them."""
    model = load_model(run, device="cpu")
    x = rebuild_split(model.config).x_test[:64]
    return x, model.scores(x)


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")
@pytest.mark.parametrize("name", TORCH_RUNS)
def test_torchscript_export_loads_with_torch_jit_and_gives_imgclass_logits(runs, tmp_path, name):
    r = export_model(runs[name], "torchscript", tmp_path)
    extra = {"model.json": ""}
    net = torch.jit.load(r["file"], _extra_files=extra)
    x, expected = _test_images(runs[name])
    with torch.inference_mode():
        got = net(torch.from_numpy(x.astype(np.float32))).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)
    desc = json.loads(extra["model.json"])
    assert desc["classes"] == [str(d) for d in range(10)] and desc["input"]["shape"] == [1, 8, 8]
    assert json.loads((tmp_path / "model.json").read_text())["max_abs_diff"] <= 1e-4


@pytest.mark.parametrize("name", TORCH_RUNS)
def test_onnx_export_runs_in_onnxruntime_and_gives_imgclass_logits(runs, tmp_path, name):
    assert main(["export", str(runs[name]), "--format", "onnx", "--out", str(tmp_path), "--json"]) == 0
    session = onnxruntime.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    x, expected = _test_images(runs[name])
    got = session.run(None, {"images": x.astype(np.float32)})[0]  # any batch size: the batch axis is dynamic
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)
    desc = json.loads((tmp_path / "model.json").read_text())
    assert desc["checked_with"].startswith("onnxruntime") and desc["output"].startswith("logits")


def _readme_reader():
    """The pure-NumPy reader printed in the README, run as a user would copy it."""
    text = README.read_text()
    block = re.search(r"```python\n(# Run an npz export.*?)```", text, re.S)
    assert block, "README has no npz reader block"
    scope: dict = {}
    exec(compile(block.group(1), "README.md", "exec"), scope)  # noqa: S102  our own README
    return scope["logits"]


@pytest.mark.parametrize("name", ["numpy", "linear-softmax", "linear-svm"])
def test_npz_export_is_reproduced_by_the_readme_reader(runs, tmp_path, name):
    r = export_model(runs[name], "npz", tmp_path)
    x, expected = _test_images(runs[name])
    got = _readme_reader()(tmp_path, x.astype(np.float64))
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)
    layers = [layer["type"] for layer in json.loads(Path(r["description"]).read_text())["layers"]]
    if name == "numpy":
        assert layers == ["conv", "batchnorm", "relu", "maxpool", "flatten", "linear", "relu", "linear"]


def test_the_pretrained_net_exports_with_its_imagenet_preprocessing(tmp_path):
    from PIL import Image
    from skimage import data

    from imgclass.pretrained.predict import ImageNetPredictor, read_for_model

    Image.fromarray(data.chelsea()).save(tmp_path / "chelsea.png")  # a real photo of a cat
    r = export_model("pretrained", "onnx", tmp_path / "export")
    predictor = ImageNetPredictor()
    x = read_for_model(tmp_path / "chelsea.png", predictor)[None]
    session = onnxruntime.InferenceSession(r["file"], providers=["CPUExecutionProvider"])
    logits = session.run(None, {"images": x.astype(np.float32)})[0]
    expected = predictor.predict_proba(x)
    got = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    np.testing.assert_allclose(got, expected, atol=1e-5)
    classes = json.loads((tmp_path / "export" / "model.json").read_text())["classes"]
    assert "cat" in classes[int(np.argmax(logits))]


def test_bad_exports_are_clear_errors(runs, tmp_path, monkeypatch, capsys):
    with pytest.raises(ImgclassError, match="use --format npz"):
        export_model(runs["linear-softmax"], "torchscript", tmp_path)
    with pytest.raises(ImgclassError, match="use --format torchscript or onnx"):
        export_model(runs["cnn"], "npz", tmp_path)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ImgclassError, match="is a file; give a folder"):
        export_model(runs["cnn"], "onnx", tmp_path / "file")

    def unsupported(*a, **k):
        raise torch.onnx.errors.UnsupportedOperatorError("aten::weird_op", 17, 99)

    monkeypatch.setattr(torch.onnx, "export", unsupported)
    assert main(["export", str(runs["cnn"]), "--format", "onnx", "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("imgclass: error: this model cannot be exported to ONNX (UnsupportedOperatorError")
    assert "--format torchscript" in err and not (tmp_path / "o" / "model.onnx").exists()


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:DeprecationWarning")
def test_a_run_that_evaluates_in_bfloat16_exports_its_float32_graph(tmp_path):
    # amp=True: bfloat16 autocast on any CPU, as the automatic setting gives on one with native bfloat16
    run = Path(train(TrainConfig(dataset="digits", batch_size=64, model="cnn:8,16;fc=32;bn", epochs=1, amp=True),
                     run_dir=tmp_path / "bf16", progress=False)["run_dir"])
    model = load_model(run, device="cpu")
    x = rebuild_split(model.config).x_test[:64]
    bf16 = model.scores(x)
    model.scorer.amp = None
    fp32 = model.scores(x)
    assert np.abs(bf16 - fp32).max() > 1e-4  # what the check would have refused before
    r = export_model(run, "torchscript", tmp_path / "out")
    with torch.inference_mode():
        got = torch.jit.load(r["file"])(torch.from_numpy(x.astype(np.float32))).numpy()
    np.testing.assert_allclose(got, fp32, atol=1e-4, rtol=0)
