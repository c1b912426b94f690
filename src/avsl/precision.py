"""Which arithmetic a run uses: `auto` picks what the machine does fast.

bf16 autocast pays off where the hardware multiplies in bf16: recent GPUs, and CPUs with
AVX-512 BF16 or AMX, where a training step ran 2 to 3 times faster than in fp32 with the same
scores (docs/speed.md has the measurements). Elsewhere it does not:

- a CPU with AVX-512 but no bf16 instructions converts to fp32 and back (oneDNN emulates
  bf16 there): it works, but is no faster than fp32, so `auto` keeps fp32 and `bf16` is honoured;
- a CPU with AVX2 alone falls back to a reference path many times slower than fp32 (a 2048 x 2048
  bf16 matmul ran for over ten minutes on an AVX2-only EPYC), so `bf16` is refused with a
  warning and the run uses fp32.

oneDNN, which does PyTorch's CPU convolutions, can be held to a lower instruction set than the
CPU has (`ONEDNN_MAX_CPU_ISA=AVX2`, to measure an older machine on a newer one); the checks
here honour that limit, so `auto` picks what oneDNN will actually run.
"""

from __future__ import annotations

import contextlib
import functools
import os
import warnings

import torch

from avsl.constants import PRECISIONS  # noqa: F401  (the names `resolve_precision` takes)

# oneDNN's instruction-set limits (its ONEDNN_MAX_CPU_ISA values) below the ones with bf16
# arithmetic (AVX512_CORE_BF16 and up), and below AVX-512 (where bf16 is not even emulated)
ONEDNN_BELOW_AVX512 = frozenset({"SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2"})
ONEDNN_BELOW_BF16 = ONEDNN_BELOW_AVX512 | {"AVX512_CORE", "AVX512_CORE_VNNI"}


def onednn_isa_limit() -> str | None:
    """The instruction-set limit oneDNN was given (its environment variable, old or new name)."""
    value = os.environ.get("ONEDNN_MAX_CPU_ISA") or os.environ.get("DNNL_MAX_CPU_ISA")
    return value.strip().upper() if value else None


def native_bf16(device: torch.device) -> bool:
    """Whether `device` multiplies in bf16 in hardware (what `auto` needs)."""
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        has_units = torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
        return bool(has_units) and bf16_supported(device) and onednn_isa_limit() not in ONEDNN_BELOW_BF16
    return False


def bf16_supported(device: torch.device) -> bool:
    """Whether bf16 runs at a usable speed on `device`, natively or emulated (what `bf16` needs)."""
    if device.type == "cuda":
        return native_bf16(device)
    if device.type == "cpu":
        try:
            supported = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):  # a build without oneDNN
            return False
        return supported and onednn_isa_limit() not in ONEDNN_BELOW_AVX512
    return False


def resolve_precision(precision: str, device: torch.device) -> str:
    """`auto` -> bf16 where the hardware has it (GPU or CPU), else fp32; `bf16` where it would
    crawl -> fp32, with a warning."""
    if precision == "auto":
        return "bf16" if native_bf16(device) else "fp32"
    if precision == "bf16" and not bf16_supported(device):
        _warn_no_bf16(device.type)
        return "fp32"
    return precision


@functools.cache
def _warn_no_bf16(device_type: str) -> None:
    warnings.warn(
        f"precision=bf16 asked for, but this {device_type} has no usable bf16 arithmetic; using fp32",
        RuntimeWarning,
        stacklevel=3,
    )


def autocast(device: torch.device, precision: str):
    """The autocast context of a resolved precision (fp32: none)."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()
