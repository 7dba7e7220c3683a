"""``imgclass export``: the command line over :func:`imgclass.export.export_model`."""

from __future__ import annotations

import argparse

from imgclass.cliargs import emit
from imgclass.export.names import FORMATS, PRETRAINED


def cmd_export(args: argparse.Namespace) -> int:
    from imgclass.export.formats import export_model  # the library loads when the command runs

    r = export_model(args.source, args.format, args.out)
    checked = ("not checked (" + r["checked_with"].split(": ", 1)[-1] + ")" if r["max_abs_diff"] is None else
               f"same logits as imgclass within {r['max_abs_diff']:.2g} ({r['checked_with']})")
    c, h, w = r["input_shape"]
    text = (f"wrote {r['file']} and {r['description']}: {r['model']}, {r['classes']} classes, input float32 "
            f"(N, {c}, {h}, {w}) with values 0..255\n{checked}")
    emit(args, text, r)
    return 0


def add_commands(sub, command) -> None:
    p = command(sub, "export", cmd_export,
                "write a trained model for other tools: TorchScript or ONNX (torch runs and the pretrained net, "
                "normalization and test-time augmentation inside the graph) or npz + JSON (numpy-engine and linear "
                "runs, read by the pure-NumPy reader in the README); class names and the input it takes go to "
                "model.json; the file is loaded back and must give imgclass's logits")
    p.add_argument("source", metavar="RUN_DIR", help=f"a finished run directory, or '{PRETRAINED}' for the ImageNet "
                                                     "EfficientNet-Lite0")
    p.add_argument("--format", choices=FORMATS, default=None, required=True,
                   help="torchscript (torch.jit.load), onnx (onnxruntime, ...) or npz (NumPy arrays + JSON layers)")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="folder for the model file and model.json [RUN_DIR/export, or ./export-efficientnet-lite0]")
