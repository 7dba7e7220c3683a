"""One entry point for every dataset: ``load(name, ...)``."""

from __future__ import annotations

import inspect
from typing import Callable

from imgclass.data.cifar import load_cifar10
from imgclass.data.dataset import Dataset
from imgclass.data.digits import load_digits
from imgclass.data.folder import load_folder
from imgclass.data.idx import load_idx_path, load_mnist_like
from imgclass.errors import DataError

#: Plain names -> loader. Each loader's keyword arguments are the options it takes.
NAMED: dict[str, Callable[..., Dataset]] = {
    "digits": load_digits,
    "mnist": lambda data_dir=None, download=True: load_mnist_like("mnist", data_dir, download),
    "fashion-mnist": lambda data_dir=None, download=True: load_mnist_like("fashion-mnist", data_dir, download),
    "cifar10": load_cifar10,
}
#: ``prefix:PATH`` names -> loader taking PATH first.
PREFIXED: dict[str, Callable[..., Dataset]] = {
    "idx": load_idx_path,
    "folder": load_folder,
}
ALIASES = {"fashion": "fashion-mnist", "fashion_mnist": "fashion-mnist", "fmnist": "fashion-mnist",
           "cifar-10": "cifar10", "cifar": "cifar10"}

CLI_FLAGS = {"seed": "--data-seed", "download": "--no-download"}  # where the flag is not --<option>

DATASET_HELP = (
    "digits (bundled, offline), mnist, fashion-mnist, cifar10, "
    "idx:DIR (four IDX files), folder:DIR (one subfolder per class)"
)


def available() -> list[str]:
    """Dataset names understood by :func:`load`."""
    return [*NAMED, *(f"{p}:PATH" for p in PREFIXED)]


def load(name: str, **options) -> Dataset:
    """Load a dataset by name.

    Parameters
    ----------
    name : str
        One of ``digits``, ``mnist``, ``fashion-mnist``, ``cifar10``,
        ``idx:PATH`` or ``folder:PATH``.
    **options
        Options of that dataset's loader; an option set to None counts as not
        given. ``mnist``/``fashion-mnist``/``cifar10`` take ``data_dir`` and
        ``download``; ``digits`` takes ``seed`` and ``test_fraction``;
        ``idx:`` takes ``class_names``; ``folder:`` takes ``image_size``,
        ``channels``, ``test_fraction``, ``seed`` and ``progress``.

    Returns
    -------
    Dataset
        uint8 images (N, C, H, W), int64 labels, class names; train and test parts.

    Raises
    ------
    DataError
        Unknown name, an option the loader does not take, or any problem
        finding or reading the files.
    """
    if not isinstance(name, str) or not name:
        raise DataError(f"dataset name must be a non-empty string, got {name!r}")
    prefix, sep, path = name.partition(":")
    if sep and prefix in PREFIXED:
        if not path:
            raise DataError(f"{prefix}: needs a path, e.g. {prefix}:/data/my_images")
        loader, args = PREFIXED[prefix], (path,)
    else:
        key = ALIASES.get(name.lower(), name.lower())
        if key not in NAMED:
            raise DataError(f"unknown dataset {name!r}; choose one of: {DATASET_HELP}")
        loader, args = NAMED[key], ()
    given = {k: v for k, v in options.items() if v is not None}
    accepted = inspect.signature(loader).parameters
    extra = sorted(set(given) - set(accepted))
    if extra:
        def flag(k):
            return f"{k} ({CLI_FLAGS.get(k, '--' + k.replace('_', '-'))})"

        takes = ", ".join(flag(p) for p in accepted if p != "path") or "no options"
        raise DataError(f"dataset {name!r} does not take {', '.join(map(flag, extra))}; it takes: {takes}")
    return loader(*args, **given)
