"""Time the hand-written NumPy engine against PyTorch (CPU) on the same inputs, in the same run.

Run by hand (not part of the tests)::

    python benchmarks/numpy_vs_torch.py [--repeats 9] [--cifar-model "cnn:32,64,128;fc=256"] [--cifar-batch 128]

Each case runs NumPy and PyTorch in alternating rounds (see :func:`median_ms`),
``repeats`` times each, and reports the median in milliseconds; ``ratio`` is
NumPy time / PyTorch time (lower is better; the issue's target is < 2 for conv
forward+backward and max-pool, < 2.5 for a whole CNN training step). PyTorch keeps its
default thread count; the CIFAR-sized training step is also timed with PyTorch on one
thread (``cifar_step_torch1_ms``, ``cifar_step_ratio_torch1``), since the engine's matrix
products run on one BLAS thread (see ``imgclass.nn.geometry.BLAS_THREADS``) and a busy
2-core machine can make a second thread a loss rather than a gain. The last line of output
is one JSON object holding every figure.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as tF

from imgclass.nn.functional import (
    conv_backward,
    conv_backward_naive,
    conv_forward,
    conv_forward_naive,
    max_pool_backward,
    max_pool_forward,
)

PAUSE_S = 0.3  # longer than OpenBLAS's and OpenMP's busy-wait after a call


def median_ms(fns: dict, repeats: int, rounds: int = 3) -> dict[str, float]:
    """Median wall time in ms of each callable over ``repeats`` runs.

    The runs are split into ``rounds`` rounds; in each round every callable gets
    a pause, two warm-ups and its share of the runs, back to back. Rounds
    spread slow drift (a busy machine) over all callables; the pause lets the
    other library's idle worker threads stop spinning (OpenBLAS and OpenMP
    threads busy-wait after a call, which on a 2-core machine slows whoever runs
    next by up to 2x when NumPy and PyTorch calls alternate one by one). Each
    call's result stays alive until the next call returns, as a layer's cache
    does in a training loop; freeing everything between calls lets the C
    allocator hand the memory back to the OS, and re-faulting it in then costs
    more than the arithmetic (measured: max-pool ~30 ms instead of ~17 ms).
    """
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            time.sleep(PAUSE_S)
            last = fn()  # two warm-ups: the second one allocates beside a live result, like the timed calls
            last = fn()
            for _ in range(-(-repeats // rounds)):
                start = time.perf_counter()
                result = fn()
                times[name].append(time.perf_counter() - start)
                last = result  # held on purpose until the next call returns (see above)
            del last
    return {name: 1e3 * statistics.median(t) for name, t in times.items()}


def conv_case(rng, repeats: int) -> dict[str, float]:
    """conv2d, x (64, 32, 14, 14) float32, 64 filters 3x3, padding 1: forward, and forward+backward."""
    x = rng.standard_normal((64, 32, 14, 14), dtype=np.float32)
    w = rng.standard_normal((64, 32, 3, 3), dtype=np.float32) * np.float32(0.06)
    b = rng.standard_normal(64, dtype=np.float32)
    dout = rng.standard_normal((64, 64, 14, 14), dtype=np.float32)
    tx, tw, tb, tdout = (torch.from_numpy(a) for a in (x, w, b, dout))
    gx, gw, gb = (t.clone().requires_grad_() for t in (tx, tw, tb))

    def np_fwd_bwd():
        out, cache = conv_forward(x, w, b, padding=1)
        return out, cache, conv_backward(dout, cache)

    def torch_fwd_bwd():
        gx.grad = gw.grad = gb.grad = None
        out = tF.conv2d(gx, gw, gb, padding=1)
        out.backward(tdout)
        return out, gx.grad, gw.grad, gb.grad

    fwd = median_ms({"numpy": lambda: conv_forward(x, w, b, padding=1),
                     "torch": lambda: tF.conv2d(tx, tw, tb, padding=1)}, repeats)
    both = median_ms({"numpy": np_fwd_bwd, "torch": torch_fwd_bwd}, repeats)
    return {"conv_fwd_numpy_ms": fwd["numpy"], "conv_fwd_torch_ms": fwd["torch"],
            "conv_fwd_bwd_numpy_ms": both["numpy"], "conv_fwd_bwd_torch_ms": both["torch"]}


def pool_case(rng, repeats: int) -> dict[str, float]:
    """2x2 max-pool forward+backward on (64, 64, 28, 28) float32."""
    x = rng.standard_normal((64, 64, 28, 28), dtype=np.float32)
    dout = rng.standard_normal((64, 64, 14, 14), dtype=np.float32)
    gx, tdout = torch.from_numpy(x).requires_grad_(), torch.from_numpy(dout)

    def np_fwd_bwd():
        out, cache = max_pool_forward(x, 2)
        return out, cache, max_pool_backward(dout, cache)

    def torch_fwd_bwd():
        gx.grad = None
        out = tF.max_pool2d(gx, 2)
        out.backward(tdout)
        return out, gx.grad

    t = median_ms({"numpy": np_fwd_bwd, "torch": torch_fwd_bwd}, repeats)
    return {"maxpool_fwd_bwd_numpy_ms": t["numpy"], "maxpool_fwd_bwd_torch_ms": t["torch"]}


def affine_case(rng, repeats: int) -> dict[str, float]:
    """Affine forward+backward, x (64, 3136) @ w (3136, 128), written inline (the layer lives elsewhere)."""
    x = rng.standard_normal((64, 3136), dtype=np.float32)
    w = rng.standard_normal((3136, 128), dtype=np.float32) * np.float32(0.02)
    b = rng.standard_normal(128, dtype=np.float32)
    dout = rng.standard_normal((64, 128), dtype=np.float32)
    gx, gw, gb = (torch.from_numpy(a).requires_grad_() for a in (x, w, b))
    tdout = torch.from_numpy(dout)

    def np_fwd_bwd():
        out = x @ w + b  # (64, 128)
        dx, dw, db = dout @ w.T, x.T @ dout, dout.sum(0)
        return out, dx, dw, db

    def torch_fwd_bwd():
        gx.grad = gw.grad = gb.grad = None
        out = gx @ gw + gb
        out.backward(tdout)
        return out, gx.grad, gw.grad, gb.grad

    t = median_ms({"numpy": np_fwd_bwd, "torch": torch_fwd_bwd}, repeats)
    return {"affine_fwd_bwd_numpy_ms": t["numpy"], "affine_fwd_bwd_torch_ms": t["torch"]}


def naive_case(rng, repeats: int) -> dict[str, float]:
    """Fast vs naive NumPy conv forward+backward on a small input: x (4, 3, 16, 16), 8 filters 3x3, padding 1."""
    x = rng.standard_normal((4, 3, 16, 16))
    w = rng.standard_normal((8, 3, 3, 3))
    b = rng.standard_normal(8)
    dout = rng.standard_normal((4, 8, 16, 16))

    def run(forward, backward):
        def go():
            out, cache = forward(x, w, b, padding=1)
            return out, backward(dout, cache)
        return go

    t = median_ms({"naive": run(conv_forward_naive, conv_backward_naive),
                   "fast": run(conv_forward, conv_backward)}, max(3, repeats // 3), rounds=1)
    return {"conv_small_naive_ms": t["naive"], "conv_small_fast_ms": t["fast"]}


def cnn_step_case(rng, repeats: int) -> dict[str, float]:
    """One whole training step (forward, loss, backward, Adam update) of the small Fashion-MNIST CNN.

    Architecture as benchmarks/numpy_fashion.py: [conv 3x3 pad 1 - batchnorm - ReLU - maxpool 2]
    with 16 then 32 filters, flatten, affine 1568->128, ReLU, affine 128->10; batch 128 of
    1x28x28 float32, softmax cross-entropy. PyTorch builds the same network.
    """
    from imgclass.nn.models import CNN

    x = rng.standard_normal((128, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, 128)
    model = CNN((1, 28, 28), 10, channels=(16, 32), fc=(128,), batchnorm=True, seed=0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 16, 3, padding=1, bias=False), torch.nn.BatchNorm2d(16), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(16, 32, 3, padding=1, bias=False), torch.nn.BatchNorm2d(32), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(1568, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
    np_step, torch_step = adam_steps(model, net, x, y)

    t = median_ms({"numpy": np_step, "torch": torch_step}, repeats)
    return {"cnn_step_numpy_ms": t["numpy"], "cnn_step_torch_ms": t["torch"]}


def adam_steps(model, net, x: np.ndarray, y: np.ndarray):
    """Two closures, each one training step with Adam (lr 1e-3) on the batch ``(x, y)``: the NumPy ``model``
    (forward, loss, backward, update) and its PyTorch twin ``net``."""
    from imgclass.nn.optim import Adam

    opt = Adam(model.parameters(), lr=1e-3)
    topt = torch.optim.Adam(net.parameters(), lr=1e-3)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)

    def np_step():
        loss = model.loss(x, y)
        opt.step()
        return loss

    def torch_step():
        topt.zero_grad()
        loss = tF.cross_entropy(net(tx), ty)
        loss.backward()
        topt.step()
        return loss

    return np_step, torch_step


def cifar_step_case(rng, repeats: int, spec_text: str = "cnn:32,64,128;fc=256", batch: int = 128) -> dict[str, float]:
    """One training step (forward, softmax loss, backward, Adam) of a CIFAR-10-sized CNN, batch of 3x32x32 float32.

    The network comes from a model spec through ``imgclass.modelspec.build_numpy`` and its PyTorch twin
    through ``imgclass.deep.models.build_torch`` (same architecture, same initial weights). PyTorch runs with
    its default thread count and, separately, with one thread; ``*_ips`` are images per second.
    """
    from imgclass.deep.models import build_torch
    from imgclass.modelspec import ModelSpec, build_numpy

    spec = ModelSpec.parse(spec_text)
    x = rng.standard_normal((batch, 3, 32, 32), dtype=np.float32)
    y = rng.integers(0, 10, batch)
    model = build_numpy(spec, (3, 32, 32), 10, seed=0, dtype=np.float32)
    net = build_torch(spec, (3, 32, 32), 10, seed=0).train()
    np_step, torch_step = adam_steps(model, net, x, y)

    def torch1_step():
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return torch_step()
        finally:
            torch.set_num_threads(threads)

    t = median_ms({"numpy": np_step, "torch": torch_step, "torch1": torch1_step}, repeats)
    figures = {"cifar_step_numpy_ms": t["numpy"], "cifar_step_torch_ms": t["torch"],
               "cifar_step_torch1_ms": t["torch1"]}
    figures.update({f"cifar_step_{k}_ips": 1e3 * batch / v for k, v in t.items()})
    figures["cifar_step_ratio_torch1"] = t["numpy"] / t["torch1"]
    return figures


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9, help="timed runs per case, median reported (default 9)")
    parser.add_argument("--seed", type=int, default=0, help="seed for the random inputs (default 0)")
    parser.add_argument("--cifar-model", default="cnn:32,64,128;fc=256",
                        help="model spec of the CIFAR-sized training step (default cnn:32,64,128;fc=256)")
    parser.add_argument("--cifar-batch", type=int, default=128, help="its batch size (default 128)")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)

    figures: dict = {}
    for case in (conv_case, pool_case, affine_case, cnn_step_case, naive_case):
        figures.update(case(rng, args.repeats))
    figures.update(cifar_step_case(rng, args.repeats, args.cifar_model, args.cifar_batch))
    for name in ("conv_fwd", "conv_fwd_bwd", "maxpool_fwd_bwd", "affine_fwd_bwd", "cnn_step", "cifar_step"):
        figures[f"{name}_ratio"] = figures[f"{name}_numpy_ms"] / figures[f"{name}_torch_ms"]
    figures["conv_fast_speedup_over_naive"] = figures["conv_small_naive_ms"] / figures["conv_small_fast_ms"]
    figures = {k: round(v, 3) for k, v in figures.items()}

    print(f"numpy {np.__version__}, torch {torch.__version__} ({torch.get_num_threads()} threads), "
          f"{platform.processor() or platform.machine()}, median of {args.repeats}")
    print(f"{'case':<42}{'numpy ms':>10}{'torch ms':>10}{'numpy/torch':>13}")
    rows = [("conv2d forward (64x32x14x14, 64x3x3, pad 1)", "conv_fwd"),
            ("conv2d forward+backward", "conv_fwd_bwd"),
            ("max-pool 2x2 fwd+bwd (64x64x28x28)", "maxpool_fwd_bwd"),
            ("affine fwd+bwd (64x3136 @ 3136x128)", "affine_fwd_bwd"),
            ("CNN training step (batch 128, 1x28x28)", "cnn_step"),
            (f"CIFAR step {args.cifar_model} b{args.cifar_batch}", "cifar_step")]
    for label, key in rows:
        print(f"{label:<42}{figures[f'{key}_numpy_ms']:>10.2f}{figures[f'{key}_torch_ms']:>10.2f}"
              f"{figures[f'{key}_ratio']:>12.2f}x")
    print(f"{'  PyTorch on 1 thread':<42}{'':>10}{figures['cifar_step_torch1_ms']:>10.2f}"
          f"{figures['cifar_step_ratio_torch1']:>12.2f}x")
    print(f"{'  images/s: numpy, torch, torch 1 thread':<42}{figures['cifar_step_numpy_ips']:>10.0f}"
          f"{figures['cifar_step_torch_ips']:>10.0f}{figures['cifar_step_torch1_ips']:>12.0f}")
    print(f"{'conv fwd+bwd 4x3x16x16, 8 filters: naive':<42}{figures['conv_small_naive_ms']:>10.2f}")
    print(f"{'  fast (im2col + GEMM)':<42}{figures['conv_small_fast_ms']:>10.2f}"
          f"{'':>10}{figures['conv_fast_speedup_over_naive']:>12.0f}x faster")
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
