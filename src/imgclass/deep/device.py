"""Where the PyTorch engine runs: device choice, memory format, mixed precision.

- :func:`resolve_device`: ``"auto"`` picks CUDA when present, else the CPU.
- :func:`prepare_model`: moves a model to its device and picks the memory
  format. On CUDA, conv nets use channels_last (NHWC), which the tensor
  cores want. On the CPU it depends on the model, the input size and the
  CPU, so it is measured once per (model structure, input shape, threads):
  3 timed forward+backward passes in each format on a throwaway copy of the
  model. Pass ``channels_last=True/False`` to skip the measurement.
- :func:`autocast` / :func:`grad_scaler`: bf16 autocast on CUDA where
  supported (no scaler needed), else fp16 with a ``GradScaler``; on the CPU
  full precision (a no-op context and a disabled scaler), so a training loop
  calls them the same way on every device.
"""

from __future__ import annotations

import contextlib
import copy
import time

import torch
from torch import nn

from imgclass.errors import ImgclassError

_CPU_CHANNELS_LAST: dict[tuple, bool] = {}  # (structure, input shape, threads) -> faster in channels_last


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` as a ``torch.device``.

    Raises
    ------
    ImgclassError
        When CUDA is asked for but not available, or the name is unknown.
    """
    name = str(name).strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise ImgclassError(f"device {name!r} requested but CUDA is not available "
                                f"(torch {torch.__version__}); use --device cpu or auto")
        device = torch.device(name)
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ImgclassError(f"device {name!r}: only {torch.cuda.device_count()} CUDA device(s) present")
        return device
    raise ImgclassError(f"unknown device {name!r}: use auto, cpu, cuda or cuda:N")


def _has_conv(model: nn.Module) -> bool:
    return any(isinstance(m, nn.Conv2d) for m in model.modules())


def _structure(model: nn.Module) -> tuple:
    return (type(model).__name__, tuple((n, tuple(p.shape)) for n, p in model.named_parameters()))


def _time(model: nn.Module, x: torch.Tensor, iterations: int) -> float:
    """Seconds for the fastest of ``iterations`` forward+backward passes (after one warm-up)."""
    best = float("inf")
    for i in range(iterations + 1):
        t0 = time.perf_counter()
        model(x).float().square().mean().backward()
        if i:
            best = min(best, time.perf_counter() - t0)
    return best


def cpu_prefers_channels_last(model: nn.Module, in_shape: tuple[int, ...], *, batch_size: int = 32,
                              iterations: int = 3) -> bool:
    """Whether channels_last trains this model faster on this CPU (measured once, then remembered).

    The timing runs on a deep copy of the model in training mode, on random
    inputs; the model itself (weights, batchnorm statistics, RNG) is untouched.
    """
    key = (_structure(model), tuple(in_shape), batch_size, torch.get_num_threads())
    if key not in _CPU_CHANNELS_LAST:
        probe = copy.deepcopy(model).to("cpu").train()
        with torch.random.fork_rng(devices=[]):
            x = torch.randn(batch_size, *in_shape, generator=torch.Generator().manual_seed(0))
            plain = _time(probe, x, iterations)
            probe = probe.to(memory_format=torch.channels_last)
            nhwc = _time(probe, x.contiguous(memory_format=torch.channels_last), iterations)
        _CPU_CHANNELS_LAST[key] = nhwc < 0.9 * plain  # only a clear win is worth the layout switch
    return _CPU_CHANNELS_LAST[key]


def prepare_model(model: nn.Module, device: torch.device | str, *, channels_last: bool | None = None,
                  in_shape: tuple[int, ...] | None = None) -> nn.Module:
    """Move ``model`` to ``device`` in the memory format that suits it; returns the model.

    Parameters
    ----------
    model : torch.nn.Module
    device : torch.device or str
        Resolved with :func:`resolve_device`.
    channels_last : bool or None
        Force NHWC on or off. ``None``: on for conv nets on CUDA; on the CPU,
        on when :func:`cpu_prefers_channels_last` measures a clear win on
        ``in_shape`` (off without ``in_shape``). Never for models without
        ``Conv2d`` layers.
    in_shape : (C, H, W), optional
        One input's shape, for the CPU measurement.

    Use :func:`is_channels_last` and :func:`to_device` to send batches in the matching format.
    """
    device = resolve_device(device) if not isinstance(device, torch.device) else device
    if channels_last is None:
        if not _has_conv(model):
            channels_last = False
        elif device.type == "cuda":
            channels_last = True
        else:
            channels_last = in_shape is not None and len(in_shape) == 3 and cpu_prefers_channels_last(model, in_shape)
    model = model.to(device)
    if _has_conv(model):
        model = model.to(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    return model


def is_channels_last(model: nn.Module) -> bool:
    """Whether the model's conv weights are in channels_last (NHWC) format.

    A weight with one input channel (or a 1x1 kernel) is both NCHW- and
    NHWC-contiguous; the other conv weights decide.
    """
    convs = [m.weight for m in model.modules() if isinstance(m, nn.Conv2d)]
    return (all(w.is_contiguous(memory_format=torch.channels_last) for w in convs)
            and any(not w.is_contiguous() for w in convs))


def to_device(x: torch.Tensor, device: torch.device, channels_last: bool = False,
              non_blocking: bool = False) -> torch.Tensor:
    """A batch on ``device``; 4-D batches in channels_last format when the model is."""
    x = x.to(device, non_blocking=non_blocking)
    if channels_last and x.ndim == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    return x


def amp_dtype(device: torch.device | str, precision: str = "auto") -> torch.dtype | None:
    """The autocast dtype: None (full precision), ``torch.bfloat16`` or ``torch.float16``.

    ``precision``: ``"auto"`` (bf16 on CUDA devices that support it, else fp16 on
    CUDA, full precision on the CPU), ``"fp32"``, ``"bf16"`` or ``"fp16"``.
    """
    device = torch.device(device)
    if precision not in ("auto", "fp32", "bf16", "fp16"):
        raise ImgclassError(f"precision must be auto, fp32, bf16 or fp16, got {precision!r}")
    if precision == "fp32" or device.type != "cuda":
        if precision in ("bf16", "fp16"):
            raise ImgclassError(f"{precision} mixed precision needs a CUDA device; use precision auto or fp32")
        return None
    if precision == "fp16":
        return torch.float16
    bf16 = torch.cuda.is_bf16_supported()
    if precision == "bf16" and not bf16:
        raise ImgclassError("this GPU does not support bf16; use precision fp16 or auto")
    return torch.bfloat16 if bf16 else torch.float16


def autocast(device: torch.device | str, dtype: torch.dtype | None | str = "auto"):
    """Mixed-precision context for the forward pass and loss.

    ``dtype``: a torch dtype, None (full precision) or ``"auto"`` (:func:`amp_dtype`).
    On the CPU, or with None, a ``contextlib.nullcontext``.
    """
    device = torch.device(device)
    if dtype == "auto":
        dtype = amp_dtype(device)
    if dtype is None or device.type != "cuda":
        return contextlib.nullcontext()
    return torch.autocast(device_type="cuda", dtype=dtype)


def grad_scaler(device: torch.device | str, dtype: torch.dtype | None | str = "auto") -> torch.amp.GradScaler:
    """A ``GradScaler``, enabled only for fp16 on CUDA (bf16 and fp32 need no loss scaling).

    A disabled scaler passes through: ``scaler.scale(loss).backward();
    scaler.step(opt); scaler.update()`` works on every device.
    """
    device = torch.device(device)
    if dtype == "auto":
        dtype = amp_dtype(device)
    enabled = device.type == "cuda" and dtype == torch.float16
    return torch.amp.GradScaler("cuda" if device.type == "cuda" else "cpu", enabled=enabled)
