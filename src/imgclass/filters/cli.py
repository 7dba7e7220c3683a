"""Subcommands ``imgclass blur`` and ``imgclass filters learn`` (added by :mod:`imgclass.cli`).

Thin: parse, call one library function, print. The library is imported
inside the handlers so that building the parser stays fast.
"""

from __future__ import annotations

import argparse

from imgclass.cliargs import emit
from imgclass.errors import ImgclassError


def cmd_blur(args: argparse.Namespace) -> int:
    from imgclass.filters.blur import blur_dataset, blur_image

    if (args.image is None) == (args.dataset is None):
        raise ImgclassError("give either an IMAGE file or --dataset NAME (not both)")
    if args.image is not None:
        if args.count is not None or args.data_dir is not None or args.download is not None:
            raise ImgclassError("--count, --data-dir and --no-download only apply with --dataset NAME")
        r = blur_image(args.image, args.size, args.sigma, out=args.out, border=args.border)
        what = f"{r['input']} ({'x'.join(map(str, r['shape']))})"
    else:
        r = blur_dataset(args.dataset, 10 if args.count is None else args.count, args.size, args.sigma,
                         out=args.out, border=args.border,
                         data_options={"data_dir": args.data_dir, "download": args.download})
        what = f"{r['count']} {r['input']} images ({'x'.join(map(str, r['shape']))})"
    text = (f"blurred {what} with a {r['size']}x{r['size']} Gaussian, sigma {r['sigma']:g}, "
            f"border {r['border']}, through the NumPy conv layer in {r['seconds']:.3f} s\n"
            f"wrote {r['out']}")
    emit(args, text, r)
    return 0


def cmd_filters_learn(args: argparse.Namespace) -> int:
    from imgclass.filters.learn import learn_filter_bank, load_weights, save_learning

    weights = load_weights(args.weights) if args.weights else None
    result = learn_filter_bank(weights, n_images=args.images, image_size=args.image_size, steps=args.steps,
                               optimizer=args.optimizer, lr=args.lr, seed=args.seed)
    paths = save_learning(result, args.out)
    r = {**result.summary(), **{k: str(p) for k, p in paths.items()}}
    shape = "x".join(map(str, r["filters"][1:]))
    text = (f"learned {r['filters'][0]} filters {shape} from their outputs on {r['n_images']} noise images "
            f"({r['optimizer']}, lr {r['lr']:g}, {r['steps']} steps, {r['seconds']:.2f} s)\n"
            f"loss          {r['initial_loss']:.3e} -> {r['final_loss']:.3e}\n"
            f"output L2     {r['output_l2']:.3e}   (relative {r['output_rel']:.3e})\n"
            f"weight L2     {r['weight_l2']:.3e}   (relative {r['weight_rel']:.3e})\n"
            + ("" if r["identifiable"] else
               "note: fewer output pixels per filter than weights per filter, so the weights are not "
               "identifiable; use more or larger --images\n")
            + "\n".join(f"wrote {p}" for p in paths.values()))
    emit(args, text, r)
    return 0


def add_commands(sub, command) -> None:
    """Add ``blur`` and ``filters learn`` to the top-level subparsers ``sub``."""
    p = command(sub, "blur", cmd_blur,
                "Gaussian-blur an image file (or --dataset images) through the NumPy conv layer; write input and "
                "output side by side with a picture of the filter")
    p.add_argument("image", nargs="?", metavar="IMAGE", default=None,
                   help="image file to blur (any format Pillow reads); or use --dataset")
    p.add_argument("--size", type=int, default=5, metavar="K", help="kernel size K x K, odd")
    p.add_argument("--sigma", type=float, default=1.0, metavar="S", help="standard deviation in pixels, > 0")
    p.add_argument("--border", choices=("constant", "reflect"), default="constant",
                   help="pixels beyond the edges: zeros (the conv's own 'same' padding) or mirrored edge pixels")
    p.add_argument("--out", default="blur.png", metavar="FILE", help="PNG file to write")
    g = p.add_argument_group("dataset images instead of IMAGE")
    g.add_argument("--dataset", metavar="NAME", default=None,
                   help="blur the first --count training images of this dataset: digits, mnist, fashion-mnist, "
                        "cifar10, idx:DIR, folder:DIR")
    g.add_argument("--count", type=int, default=None, metavar="N", help="number of images, 1..64 [default: 10]")
    g.add_argument("--data-dir", metavar="DIR", default=None,
                   help="look here first for mnist/fashion-mnist/cifar10 files; downloads go here too")
    g.add_argument("--no-download", dest="download", action="store_const", const=False, default=None,
                   help="never download; fail if the files are not found locally")

    filters = sub.add_parser("filters", help="learn convolution filters with the NumPy engine",
                             description="Learn convolution filters with the NumPy engine.")
    filters_sub = filters.add_subparsers(dest="filters_command", metavar="SUBCOMMAND", required=True)
    p = command(filters_sub, "learn", cmd_filters_learn,
                "learn a fixed conv layer C0 (20 filters 3x5x5) back from its outputs on noise images: a new layer "
                "starts uniform in [-1, 1] and minimizes the mean squared output error through the engine's conv "
                "backward; plot the loss and both filter banks, report output and weight distances")
    p.add_argument("--weights", metavar="FILE", default=None,
                   help="C0's weights as a .npy array (F, C, KH, KW), e.g. 20x3x5x5 [default: seeded standard normal "
                        "20x3x5x5]")
    p.add_argument("--seed", type=int, default=0, help="seed of C0's weights, the images and C's initialization")
    p.add_argument("--steps", type=int, default=60, help="full-batch optimizer steps (adam needs ~300)")
    p.add_argument("--optimizer", choices=("sgd", "adam"), default="sgd",
                   help="sgd: plain full-batch gradient descent (~25 steps to float64 precision at its default lr); "
                        "adam: scale-free but slower")
    p.add_argument("--lr", type=float, default=None,
                   help="learning rate [default for sgd: F / (λmax + λmin) of the images' patch second moments, "
                        "the fastest stable step (about F/2 = 10 for 20 filters on the default noise); 0.1 for adam]")
    p.add_argument("--images", type=int, default=100, metavar="N", help="number of standard-normal noise images")
    p.add_argument("--image-size", type=int, default=16, metavar="S", help="images are C x S x S")
    p.add_argument("--out", default="runs/filters", metavar="DIR",
                   help="directory for loss.png, filters.png and weights.npz")
