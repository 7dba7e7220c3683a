"""``imgclass export``: a trained model in a format other tools run, with its preprocessing and class names.

===========  ======================================  =============================================
format       runs                                    written (``--out DIR``, default ``RUN/export``)
===========  ======================================  =============================================
torchscript  torch-engine train runs, ``pretrained``  ``model.torchscript.pt`` (``torch.jit.load``)
onnx         torch-engine train runs, ``pretrained``  ``model.onnx`` (onnxruntime and others)
npz          numpy-engine train runs, linear runs     ``model.npz``: the arrays of the layers
===========  ======================================  =============================================

Every export also writes ``model.json``: the input it takes (shape, value range, how to resize),
the class names, and (npz) the layers in order. The TorchScript and ONNX graphs take float32
RGB or gray images ``(N, C, H, W)`` with values 0..255 and return ``(N, K)`` logits: the run's
normalization and its test-time augmentation are inside the graph, so the logits equal
imgclass's own. The npz layers are run by the short pure-NumPy reader in the README.
"""

from imgclass.export.names import FORMATS

__all__ = ["FORMATS", "export_model"]


def __getattr__(name: str):
    if name == "export_model":  # loads PyTorch: only when used
        from imgclass.export.formats import export_model

        return export_model
    raise AttributeError(f"module 'imgclass.export' has no attribute {name!r}")
