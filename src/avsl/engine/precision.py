"""Which arithmetic a run uses: `auto` picks what the machine does fast.

bf16 autocast pays off where the hardware has bf16 units (recent GPUs; CPUs with AVX-512 BF16
or AMX). On a CPU without them PyTorch falls back to a reference path that is many times slower
than fp32 (a 2048 x 2048 bf16 matmul ran for over ten minutes on an AVX2-only EPYC), so there
bf16 is refused with a warning and the run uses fp32.
"""

from __future__ import annotations

import contextlib
import functools
import warnings

import torch

PRECISIONS = ("auto", "fp32", "bf16")


def native_bf16(device: torch.device) -> bool:
    """Whether `device` computes in bf16 natively (not through a slow emulation)."""
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        try:
            return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):  # a build without oneDNN
            return False
    return False


def resolve_precision(precision: str, device: torch.device) -> str:
    """`auto` -> bf16 on a GPU that has it, else fp32; `bf16` where it would crawl -> fp32."""
    if precision == "auto":
        return "bf16" if device.type == "cuda" and native_bf16(device) else "fp32"
    if precision == "bf16" and not native_bf16(device):
        _warn_no_bf16(device.type)
        return "fp32"
    return precision


@functools.cache
def _warn_no_bf16(device_type: str) -> None:
    warnings.warn(
        f"precision=bf16 asked for, but this {device_type} has no native bf16 arithmetic; using fp32",
        RuntimeWarning,
        stacklevel=3,
    )


def autocast(device: torch.device, precision: str):
    """The autocast context of a resolved precision (fp32: none)."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()
