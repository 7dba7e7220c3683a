"""Time the naive (loop) and vectorized linear-classifier losses on CIFAR-10-sized inputs, in the same run.

Run by hand (not part of the tests)::

    python benchmarks/linear_losses.py [--repeats 7] [--n 500] [--blas-threads 1]

Inputs are as in the cs231n assignment's development set: N=500 samples of
D=3073 features (32x32x3 pixels, mean image removed, plus the bias column),
C=10 classes, W ~ 1e-4·N(0, 1), float64, reg=5e-6 (full convention). Each
function runs ``repeats`` times after one warm-up, in alternating rounds so
that a slow patch of a busy machine is spread over all of them; the table
shows the median in milliseconds and ``speedup`` = naive / vectorized (the
course assignments expect the vectorized versions to be >= 100x faster; this
reports what it measures and asserts nothing). The vectorized versions are two
BLAS products over X (memory-bound at this size); on a small shared machine
OpenBLAS's default of one thread per core can be several times slower than one
thread, so the BLAS thread count and the load average are printed with the
figures. To show how close the vectorized versions are to that floor, the
two bare products they cannot avoid (``X Wᵀ`` and ``dSᵀ X``) are timed in the
same rounds: ``naive / products`` is the largest speedup any vectorized
version could reach on this machine. The last line of output is one JSON
object holding every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import numpy as np

from imgclass.linear.losses import softmax_loss_naive, softmax_loss_vectorized, svm_loss_naive, svm_loss_vectorized

FUNCTIONS = {
    "svm_naive": svm_loss_naive,
    "svm_vectorized": svm_loss_vectorized,
    "softmax_naive": softmax_loss_naive,
    "softmax_vectorized": softmax_loss_vectorized,
}


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=7, help="timed runs per function (default: 7)")
    p.add_argument("--rounds", type=int, default=3, help="rounds the runs are split into (default: 3)")
    p.add_argument("--n", type=int, default=500, help="samples N (default: 500)")
    p.add_argument("--d", type=int, default=3073, help="features D, bias column included (default: 3073)")
    p.add_argument("--c", type=int, default=10, help="classes C (default: 10)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random inputs (default: 0)")
    p.add_argument("--blas-threads", type=int, default=None,
                   help="limit BLAS threads via threadpoolctl (default: the library's own choice)")
    return p


def make_inputs(n: int, d: int, c: int, seed: int):
    """CIFAR-like float64 ``X`` (N, D) with a bias column, labels ``y`` (N,), ``W`` (C, D)."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, size=(n, d - 1)).astype(np.float64)
    X = np.hstack([pixels - pixels.mean(axis=0), np.ones((n, 1))])  # (N, D): mean image removed, bias trick
    y = rng.integers(0, c, n)
    W = 1e-4 * rng.standard_normal((c, d))
    return W, X, y


def median_ms(fns: dict, repeats: int, rounds: int) -> dict[str, float]:
    """Median wall time in ms of each callable: one warm-up per round, then its share of the runs."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            fn()
            for _ in range(-(-repeats // rounds)):
                start = time.perf_counter()
                fn()
                times[name].append(1e3 * (time.perf_counter() - start))
    return {name: statistics.median(t) for name, t in times.items()}


def blas_threads() -> int | None:
    """Threads of the BLAS NumPy uses, as threadpoolctl reports them (None without threadpoolctl)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    return next((i["num_threads"] for i in threadpool_info() if i.get("user_api") == "blas"), None)


def main(args: argparse.Namespace) -> dict:
    if args.blas_threads is not None:
        from threadpoolctl import threadpool_limits  # installed with scikit-learn

        threadpool_limits(limits=args.blas_threads, user_api="blas")
    W, X, y = make_inputs(args.n, args.d, args.c, args.seed)
    reg = 5e-6
    fns = {name: (lambda f=f: f(W, X, y, reg)) for name, f in FUNCTIONS.items()}
    dscores = X @ W.T  # (N, C), any values: only the time of the product matters
    fns["products"] = lambda: (X @ W.T, dscores.T @ X)  # the two BLAS calls every vectorized loss makes
    for loss in ("svm", "softmax"):  # the timed pair must compute the same thing
        (ln, dn), (lv, dv) = fns[f"{loss}_naive"](), fns[f"{loss}_vectorized"]()
        assert abs(ln - lv) < 1e-9 * abs(lv) and np.allclose(dn, dv, rtol=1e-7, atol=1e-12), loss
    ms = median_ms(fns, args.repeats, args.rounds)
    speedup = {loss: ms[f"{loss}_naive"] / ms[f"{loss}_vectorized"] for loss in ("svm", "softmax")}
    ceiling = {loss: ms[f"{loss}_naive"] / ms["products"] for loss in ("svm", "softmax")}

    threads, load = blas_threads(), round(os.getloadavg()[0], 2)
    print(f"N={args.n} D={args.d} C={args.c} float64, median of {args.repeats} runs "
          f"({platform.machine()}, {os.cpu_count()} CPUs, NumPy {np.__version__}, "
          f"{threads} BLAS threads, load average {load})")
    print(f"{'loss':<10}{'naive ms':>12}{'vectorized ms':>16}{'speedup':>10}{'ceiling':>10}")
    for loss in ("svm", "softmax"):
        print(f"{loss:<10}{ms[f'{loss}_naive']:>12.2f}{ms[f'{loss}_vectorized']:>16.3f}{speedup[loss]:>9.1f}x"
              f"{ceiling[loss]:>9.1f}x")
    print(f"ceiling = naive / the two bare products X Wᵀ and dSᵀ X ({ms['products']:.3f} ms), "
          f"which every vectorized loss must compute")
    result = {
        "n": args.n, "d": args.d, "c": args.c, "dtype": "float64", "repeats": args.repeats,
        "ms": {k: round(v, 4) for k, v in ms.items()},
        "speedup": {k: round(v, 2) for k, v in speedup.items()},
        "ceiling_speedup": {k: round(v, 2) for k, v in ceiling.items()},
        "numpy": np.__version__, "cpus": os.cpu_count(), "machine": platform.machine(),
        "blas_threads": threads, "load_average_1min": load,
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main(get_args_parser().parse_args())
