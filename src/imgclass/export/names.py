"""The export formats and the files they write (no heavy imports: ``imgclass --help`` reads these)."""

FORMATS = ("torchscript", "onnx", "npz")
FILES = {"torchscript": "model.torchscript.pt", "onnx": "model.onnx", "npz": "model.npz"}
DESCRIPTION = "model.json"
PRETRAINED = "pretrained"  # the source name of the ImageNet EfficientNet-Lite0
