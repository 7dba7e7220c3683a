"""Learning a filter bank back from its outputs, through the NumPy engine's conv backward.

A fixed conv layer ``C0`` (by default 20 filters of 3x5x5, seeded standard
normal, or weights you give) maps 100 images to ``C0(x)``. A new layer ``C``
of the same shape starts from weights uniform in ``[-1, 1]`` and learns to
reproduce those outputs by minimizing the mean squared error
``mean((C(x) - C0(x))**2)``, with :func:`imgclass.nn.conv.conv_backward`
giving the gradient and an optimizer from :mod:`imgclass.nn.optim` the step.
Neither layer has a bias, and both use ``padding=0``.

The images are seeded standard-normal noise (``(N, 3, 16, 16)`` by default):
fast, and the problem is then a well-conditioned least-squares fit. Every
output pixel is a linear function of the ``C*KH*KW`` weights, and with
``N*H_out*W_out`` (14400) far above ``C*KH*KW`` (75) independent noise
patches the fit has one solution, ``C = C0``; the loss's curvature is close
to ``2/F`` in every direction. So both the outputs and the weights go to 0
distance. (With fewer output pixels than weights per filter the weights are
not identifiable, and only the outputs are guaranteed to match.)

Randomness: one ``seed`` spawns three independent streams, for ``C0``'s
weights, the images and ``C``'s initial weights, so giving ``weights`` does
not change the images or the initialization.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from imgclass.errors import ImgclassError
from imgclass.fileio import atomic_write, save_figure
from imgclass.filters.plots import filter_banks_figure, loss_figure
from imgclass.nn.layers import Conv2d
from imgclass.nn.optim import SGD, Adam

OPTIMIZERS = ("adam", "sgd")
DEFAULT_SHAPE = (20, 3, 5, 5)  # (F, C, KH, KW)


@dataclass
class FilterLearning:
    """What :func:`learn_filter_bank` found.

    Attributes
    ----------
    w_true, w_init, w_learned : ndarray, shape (F, C, KH, KW)
        ``C0``'s weights, ``C``'s initial weights, ``C``'s final weights.
    loss_history : ndarray, shape (steps + 1,)
        The loss before each step, then after the last one.
    output_l2, output_rel : float
        ``||C(x) - C0(x)||`` over all outputs (Frobenius), and divided by ``||C0(x)||``.
    weight_l2, weight_rel : float
        ``||w_learned - w_true||`` and divided by ``||w_true||``.
    optimizer : str
    lr : float
    steps : int
    n_images : int
    image_size : int
    seed : int
    seconds : float
        Wall time of the optimization loop.
    identifiable : bool
        Whether there are at least as many output pixels per filter
        (``N*H_out*W_out``) as weights per filter (``C*KH*KW``); if not, many
        weight tensors give the same outputs and ``weight_rel`` need not shrink.
    """

    w_true: np.ndarray
    w_init: np.ndarray
    w_learned: np.ndarray
    loss_history: np.ndarray
    output_l2: float
    output_rel: float
    weight_l2: float
    weight_rel: float
    optimizer: str
    lr: float
    steps: int
    n_images: int
    image_size: int
    seed: int
    seconds: float
    identifiable: bool

    def summary(self) -> dict:
        """JSON-ready numbers (no arrays)."""
        return {
            "filters": list(self.w_true.shape), "n_images": self.n_images, "image_size": self.image_size,
            "optimizer": self.optimizer, "lr": self.lr, "steps": self.steps, "seed": self.seed,
            "initial_loss": float(self.loss_history[0]), "final_loss": float(self.loss_history[-1]),
            "output_l2": self.output_l2, "output_rel": self.output_rel,
            "weight_l2": self.weight_l2, "weight_rel": self.weight_rel, "seconds": self.seconds,
            "identifiable": self.identifiable,
        }


def load_weights(path: str | os.PathLike) -> np.ndarray:
    """Read a filter bank (F, C, KH, KW) from a ``.npy`` file as float64; ImgclassError if unusable."""
    try:
        w = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise ImgclassError(f"{path}: weights file not found") from None
    except (OSError, ValueError, EOFError) as e:
        raise ImgclassError(f"{path}: not a .npy array file ({e}); save one with numpy.save") from e
    if not isinstance(w, np.ndarray):
        raise ImgclassError(f"{path}: holds several arrays (.npz); save the one filter bank with numpy.save")
    return check_weights(w, str(path))


def check_weights(w, what: str = "weights") -> np.ndarray:
    """Validate a filter bank: real, finite, 4-D (F, C, KH, KW), not all zero; return it as float64."""
    w = np.asarray(w)
    if w.dtype.kind not in "uif":
        raise ImgclassError(f"{what}: must be real numbers, got dtype {w.dtype}")
    if w.ndim != 4 or min(w.shape) < 1:
        raise ImgclassError(f"{what}: must have shape (F, C, KH, KW), e.g. {DEFAULT_SHAPE}, got {w.shape}")
    w = w.astype(np.float64)
    if not np.isfinite(w).all():
        raise ImgclassError(f"{what}: contains NaN or infinity")
    if not w.any():
        raise ImgclassError(f"{what}: all zeros; relative errors would be undefined")
    return w


def _check_int(name: str, value, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ImgclassError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def _one_blas_thread():
    """Limit BLAS to one thread inside the block (threadpoolctl, a scikit-learn dependency), if available.

    The products here are small (20 x 75 by 75 x 14400): on 2 cores a second
    BLAS thread saved ~10% when the machine was idle, and made the 60-step
    default run 0.6 s -> 6.5 s while other processes kept both cores busy.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


def gd_learning_rate(x: np.ndarray, filters: int, kernel: tuple[int, int]) -> float:
    """Plain gradient descent's step for the mean squared error of a bias-free conv layer on images ``x``.

    The loss's Hessian is ``(2 / F) S``, ``S`` the second-moment matrix of the images' (C, KH, KW) patches,
    so steps below ``F / λmax(S)`` converge, and ``F / (λmax + λmin)`` is the fastest fixed step. With fewer
    patches than weights per filter λmin is 0 and that step would sit on the edge: λmin is taken as at
    least λmax / 3. Unit-variance noise with many patches has S ≈ I: a step of about ``F / 2``.
    """
    kh, kw = kernel
    patches = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(2, 3))  # (N, C, H', W', KH, KW)
    patches = patches.transpose(0, 2, 3, 1, 4, 5).reshape(-1, x.shape[1] * kh * kw)
    eig = np.linalg.eigvalsh(patches.T @ patches / len(patches))
    return float(filters / (eig[-1] + max(eig[0], eig[-1] / 3)))


def learn_filter_bank(weights=None, *, n_images: int = 100, image_size: int = 16, steps: int = 60,
                      optimizer: str = "sgd", lr: float | None = None, seed: int = 0) -> FilterLearning:
    """Learn ``C0``'s weights back from its outputs on ``n_images`` noise images.

    Parameters
    ----------
    weights : ndarray (F, C, KH, KW), optional
        ``C0``'s weights. Default: seeded standard normal of shape (20, 3, 5, 5).
    n_images : int, default 100
    image_size : int, default 16
        Images are (C, image_size, image_size); must be at least the kernel size.
    steps : int, default 60
        Full-batch optimizer steps.
    optimizer : {"sgd", "adam"}
        ``sgd``: :class:`imgclass.nn.optim.SGD` without momentum, i.e. plain
        full-batch gradient descent, default lr from the images' patches
        (:func:`gd_learning_rate`): about ``F/2`` on unit-variance noise, the
        inverse of the loss's curvature ``2/F``, so each step shrinks the error
        about 8-fold and ~25 steps reach float64 precision (measured with the
        defaults: loss 1e-34 and relative weight error 1e-19 from step 23 on;
        60 steps in 0.45 s). Twice that ``lr`` diverges. On a few small images
        the curvature is larger and the step smaller, so it still converges.
        ``adam``: :class:`imgclass.nn.optim.Adam`, default ``lr=0.1``; blind to
        the loss's scale, hence robust, but slower here: relative error 3e-4
        after 150 steps, 1e-7 after 300.
    lr : float, optional
        Learning rate; default as above.
    seed : int, default 0

    Returns
    -------
    FilterLearning
    """
    if optimizer not in OPTIMIZERS:
        raise ImgclassError(f"unknown optimizer {optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
    n_images = _check_int("n_images", n_images, 1)
    image_size = _check_int("image_size", image_size, 1)
    steps = _check_int("steps", steps, 0)
    seed = _check_int("seed", seed, 0)
    rng_w, rng_x, rng_c = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3))
    w_true = rng_w.standard_normal(DEFAULT_SHAPE) if weights is None else check_weights(weights)
    f, c, kh, kw = w_true.shape
    if image_size < max(kh, kw):
        raise ImgclassError(f"image_size {image_size} is smaller than the {kh}x{kw} filters; "
                            f"use at least {max(kh, kw)}")
    x = rng_x.standard_normal((n_images, c, image_size, image_size))  # (N, C, S, S)
    if lr is None:
        lr = 0.1 if optimizer == "adam" else gd_learning_rate(x, f, (kh, kw))
    unused = np.random.default_rng(0)  # init=0.0 draws zeros; both layers' weights are then set below
    target_layer = Conv2d(c, f, (kh, kw), bias=False, rng=unused, init=0.0).eval()
    target_layer.params["w"][...] = w_true
    target = target_layer(x)  # (N, F, S-KH+1, S-KW+1): C0(x)

    layer = Conv2d(c, f, (kh, kw), bias=False, rng=unused, init=0.0)
    layer.params["w"][...] = rng_c.uniform(-1.0, 1.0, w_true.shape)
    w_init = layer.params["w"].copy()
    params = layer.parameters()
    opt = Adam(params, lr=lr) if optimizer == "adam" else SGD(params, lr=lr)

    history = np.empty(steps + 1)
    t0 = time.perf_counter()
    with _one_blas_thread():
        for step in range(steps + 1):
            diff = layer(x) - target  # (N, F, H_out, W_out)
            history[step] = np.mean(diff * diff)
            if not history[step] <= 1e6 * history[0]:  # also catches NaN and infinity
                raise ImgclassError(f"the loss diverged at step {step} with {optimizer} lr={lr:g}; "
                                    "use a smaller --lr")
            if step == steps:
                break
            opt.zero_grad()
            layer.backward(2.0 * diff / diff.size)  # d mean(diff**2) / d out
            opt.step()
    seconds = time.perf_counter() - t0

    w = layer.params["w"].copy()
    out_l2 = float(np.linalg.norm(diff))
    w_l2 = float(np.linalg.norm(w - w_true))
    return FilterLearning(
        w_true=w_true, w_init=w_init, w_learned=w, loss_history=history,
        output_l2=out_l2, output_rel=out_l2 / float(np.linalg.norm(target)),
        weight_l2=w_l2, weight_rel=w_l2 / float(np.linalg.norm(w_true)),
        optimizer=optimizer, lr=float(lr), steps=steps, n_images=n_images, image_size=image_size, seed=seed,
        seconds=seconds, identifiable=n_images * target.shape[2] * target.shape[3] >= c * kh * kw,
    )


def save_learning(result: FilterLearning, out_dir: str | os.PathLike) -> dict[str, Path]:
    """Write ``loss.png``, ``filters.png`` and ``weights.npz`` (w_true, w_init, w_learned) into ``out_dir``."""
    out = Path(out_dir)
    r = result
    loss_title = (f"learning {r.w_true.shape[0]} filters {'x'.join(map(str, r.w_true.shape[1:]))} from their outputs "
                  f"({r.optimizer}, lr={r.lr:g}): final loss {r.loss_history[-1]:.2e}")
    banks = [("C0 (target)", r.w_true), ("C at start: uniform [-1, 1]", r.w_init),
             (f"C after {r.steps} steps (rel. error {r.weight_rel:.1e})", r.w_learned)]
    paths = {
        "loss_plot": save_figure(loss_figure(r.loss_history, loss_title), out / "loss.png", dpi=100),
        "filters_plot": save_figure(filter_banks_figure(banks), out / "filters.png", dpi=100),
    }
    with atomic_write(out / "weights.npz") as fh:
        np.savez(fh, w_true=r.w_true, w_init=r.w_init, w_learned=r.w_learned)
    paths["weights"] = out / "weights.npz"
    return paths
