"""Where the PyTorch engine runs: device choice, memory format, mixed precision.

The torch engine (:mod:`imgclass.train.torch_engine`) calls exactly these:

- :func:`resolve_device`: ``"auto"`` picks CUDA when present, else the CPU.
- :func:`prepare_model`: moves a model to its device in its memory format. ``channels_last=None``
  is a fixed rule, never a timing (so a seed and a config always give the same numbers): NHWC
  for conv nets on CUDA (what tensor cores want), NCHW on the CPU; recipes turn it on where a
  benchmark measured it faster. :func:`to_device` sends batches in the matching format.
- :func:`amp_dtype`, :func:`autocast`, :func:`grad_scaler`: mixed precision. ``amp=None`` means
  bf16 autocast on CUDA devices that support it (else fp16 with loss scaling), and on CPUs with
  native bfloat16 instructions (AVX512-BF16 or AMX: about 2x faster for small CNNs), full
  precision on other CPUs (emulated bfloat16 measured 3x *slower* than fp32 on an Ice Lake);
  ``amp=True`` forces bfloat16 autocast on any CPU; ``amp=False`` is full precision everywhere. The scaler is enabled only
  for fp16, and a disabled one passes through, so a training step is written once for every device.
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn

from imgclass.errors import ImgclassError


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


def prepare_model(model: nn.Module, device: torch.device | str, *, channels_last: bool | None = None) -> nn.Module:
    """Move ``model`` to ``device`` in its memory format; returns the model.

    ``channels_last``: True/False force NHWC/NCHW; None is NHWC for conv nets on CUDA and NCHW on the
    CPU. Models without ``Conv2d`` layers are left as they are.
    """
    device = resolve_device(device) if not isinstance(device, torch.device) else device
    if channels_last is None:
        channels_last = device.type == "cuda"
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


def cpu_has_native_bf16(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Whether this CPU computes bfloat16 natively (the ``avx512_bf16`` or ``amx_bf16`` flag); False if unknown."""
    try:
        with open(cpuinfo, encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[-1].split())
                    return bool(flags & {"avx512_bf16", "amx_bf16"})
    except OSError:
        pass
    return False


def amp_dtype(device: torch.device | str, amp: bool | None = None) -> torch.dtype | None:
    """The autocast dtype for ``amp`` on ``device``: None (full precision), ``torch.bfloat16`` or ``torch.float16``.

    ``amp=None``: bf16 on CUDA devices that support it, else fp16 on CUDA; on the CPU bf16 when it has
    native bfloat16 instructions (:func:`cpu_has_native_bf16`), else full precision.
    ``amp=True``: the same on CUDA, bfloat16 on any CPU. ``amp=False``: full precision.
    """
    device = torch.device(device)
    if amp is False or (amp is None and device.type != "cuda" and not cpu_has_native_bf16()):
        return None
    if device.type != "cuda":
        return torch.bfloat16
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def autocast(device: torch.device | str, dtype: torch.dtype | None):
    """Mixed-precision context for the forward pass and loss (a no-op context for ``dtype=None``)."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=dtype)


def grad_scaler(device: torch.device | str, dtype: torch.dtype | None) -> torch.amp.GradScaler:
    """A ``GradScaler``, enabled only for fp16 on CUDA (bf16 and fp32 need no loss scaling).

    A disabled scaler passes through: ``scaler.scale(loss).backward(); scaler.unscale_(opt);
    scaler.step(opt); scaler.update()`` is plain backward and step.
    """
    device = torch.device(device)
    enabled = device.type == "cuda" and dtype == torch.float16
    return torch.amp.GradScaler("cuda" if device.type == "cuda" else "cpu", enabled=enabled)
