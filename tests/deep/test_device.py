"""Device choice, memory format and mixed precision (CPU here; CUDA paths where present)."""

import contextlib

import pytest
import torch

from imgclass.deep import (
    amp_dtype, autocast, build_torch, grad_scaler, is_channels_last, prepare_model, resolve_device, to_device,
)
from imgclass.deep import device as D
from imgclass.errors import ImgclassError
from imgclass.modelspec import PRESETS

CUDA = torch.cuda.is_available()


def test_auto_picks_cuda_when_present_else_cpu():
    assert resolve_device("auto").type == ("cuda" if CUDA else "cpu")
    assert resolve_device("CPU") == torch.device("cpu")


@pytest.mark.skipif(CUDA, reason="CUDA is available here")
def test_cuda_without_cuda_is_a_clear_error():
    with pytest.raises(ImgclassError, match="CUDA is not available"):
        resolve_device("cuda")
    with pytest.raises(ImgclassError, match="CUDA is not available"):
        resolve_device("cuda:0")


def test_unknown_device_is_an_error():
    with pytest.raises(ImgclassError, match="unknown device"):
        resolve_device("tpu")


def test_channels_last_forced_on_and_off_on_the_cpu():
    model = build_torch(PRESETS["cnn-small"], (1, 28, 28), 10)
    assert is_channels_last(prepare_model(model, "cpu", channels_last=True))
    assert not is_channels_last(prepare_model(model, "cpu", channels_last=False))
    x = to_device(torch.randn(2, 1, 28, 28), torch.device("cpu"), channels_last=True)
    assert x.is_contiguous(memory_format=torch.channels_last)
    mlp = build_torch(PRESETS["twolayer"], (784,), 10)
    assert not is_channels_last(prepare_model(mlp, "cpu", channels_last=True))  # no convs: nothing to change


def test_the_layout_is_a_fixed_rule_not_a_timing():
    model = build_torch(PRESETS["cnn-small"], (1, 12, 12), 10)
    assert not is_channels_last(prepare_model(model, "cpu"))  # the CPU default: NCHW, always
    assert not hasattr(D, "cpu_prefers_channels_last")


def test_native_bf16_is_read_from_the_cpu_flags(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse avx512f avx512_vnni\n")
    assert not D.cpu_has_native_bf16(str(info))
    info.write_text("processor\t: 0\nflags\t\t: fpu avx512f avx512_bf16 amx_tile\n")
    assert D.cpu_has_native_bf16(str(info))
    assert not D.cpu_has_native_bf16(str(tmp_path / "missing"))


@pytest.mark.skipif(CUDA, reason="CPU behaviour")
def test_mixed_precision_on_the_cpu_is_automatic_only_where_bf16_is_native(monkeypatch):
    cpu = torch.device("cpu")
    monkeypatch.setattr(D, "cpu_has_native_bf16", lambda: False)
    assert amp_dtype(cpu) is None and amp_dtype(cpu, False) is None
    monkeypatch.setattr(D, "cpu_has_native_bf16", lambda: True)
    assert amp_dtype(cpu) is torch.bfloat16 and amp_dtype(cpu, False) is None
    assert amp_dtype(cpu, True) is torch.bfloat16  # asked for: bfloat16 autocast
    assert isinstance(autocast(cpu, None), contextlib.nullcontext)
    with autocast(cpu, torch.bfloat16):
        assert torch.ones(2, 2).matmul(torch.ones(2, 2)).dtype == torch.bfloat16
    scaler = grad_scaler(cpu, torch.bfloat16)
    assert not scaler.is_enabled()
    loss = torch.tensor(2.0, requires_grad=True)
    assert scaler.scale(loss) is loss  # a disabled scaler passes through


@pytest.mark.skipif(not CUDA, reason="needs a CUDA device")
def test_cuda_mixed_precision_and_channels_last():
    device = resolve_device("auto")
    model = prepare_model(build_torch(PRESETS["cnn-small"], (1, 28, 28), 10), device)
    assert is_channels_last(model)
    dtype = amp_dtype(device)
    assert dtype in (torch.bfloat16, torch.float16) and amp_dtype(device, False) is None
    scaler = grad_scaler(device, dtype)
    assert scaler.is_enabled() == (dtype == torch.float16)
    with autocast(device, dtype):
        out = model(to_device(torch.randn(4, 1, 28, 28), device, channels_last=True))
    assert out.dtype == dtype
    scaler.scale(out.float().mean()).backward()
