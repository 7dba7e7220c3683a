"""``imgclass predict``: classify image files and folders with the pretrained ImageNet model or a trained run.

Imports only argparse-level code at module level; PyTorch and the model load
inside the handler, so ``imgclass --help`` stays fast.
"""

from __future__ import annotations

import argparse
import sys

from imgclass.cliargs import emit

EPILOG = """\
Images are converted for the model: grayscale, 16-bit, palette, CMYK and
transparent images (composited onto white) become RGB, or gray for a
grayscale run; EXIF orientation is applied. A file that cannot be used (not
an image, truncated, a decompression bomb, missing) is reported on stderr
and the others are still classified.

exit status: 0 if at least one image was classified, 1 if every input
failed (or on another error), 2 for bad flags.

examples:
  imgclass predict photo.jpg --top-k 3
  imgclass predict photos/ --annotate annotated/ --json
  imgclass predict digit.png --run runs/20250101-120000-linear-softmax-digits"""


def _positive(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {v}")
    return v


def cmd_predict(args: argparse.Namespace) -> int:
    from imgclass.pretrained.predict import (  # loads on use
        format_results,
        load_predictor,
        predict_images,
    )

    predictor = load_predictor(run=args.run, device=args.device)
    result = predict_images(args.images, predictor, top=args.top_k, batch_size=args.batch_size,
                            annotate_dir=args.annotate, explain_dir=args.explain,
                            explain_classes=args.explain_class or [], progress=True)
    for r in result["results"]:
        if "error" in r:
            print(f"imgclass: error: {r['error']}", file=sys.stderr)
    emit(args, format_results(result), result)
    return 0 if result["predicted"] else 1


def add_commands(sub, command) -> None:
    """Add ``predict`` to the top-level subcommands (see :data:`imgclass.cli.COMMAND_MODULES`)."""
    p = command(sub, "predict", cmd_predict,
                "classify images with the pretrained EfficientNet-Lite0 (ImageNet, 1000 classes) "
                "or a run trained by imgclass; print the top classes per image")
    p.epilog = EPILOG
    p.add_argument("images", nargs="+", metavar="IMAGE",
                   help="image files and/or folders (searched recursively for image files)")
    p.add_argument("--top-k", type=_positive, default=5, metavar="K", help="classes shown per image")
    p.add_argument("--run", metavar="RUN_DIR", default=None,
                   help="use the model, preprocessing and class names of this imgclass run directory "
                        "instead of the pretrained ImageNet model")
    p.add_argument("--annotate", metavar="DIR", default=None,
                   help="also write one PNG per image into DIR: the model's input beside a bar chart of the "
                        "top classes")
    p.add_argument("--explain", metavar="DIR", default=None,
                   help="also write one PNG per image into DIR: Grad-CAM heat maps of where the network looked for "
                        "its top class (and each --explain-class); the pretrained net and torch conv-net runs")
    p.add_argument("--explain-class", metavar="NAME", action="append", default=None,
                   help="with --explain: also map the evidence for this class (a name, part of one, or its "
                        "number; repeat for several)")
    p.add_argument("--batch-size", type=_positive, default=32, metavar="N",
                   help="images decoded and classified at a time")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                   help="where PyTorch models run: auto = CUDA if available, else CPU (NumPy linear runs "
                        "always use the CPU)")
