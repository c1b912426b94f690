"""What a benchmark ran on, written into every suite's JSON: figures are only comparable on
the same kind of machine, and a CPU's instruction sets decide which arithmetic is fast."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import torch

from avsl.precision import native_bf16, onednn_isa_limit

# the /proc/cpuinfo flags that decide PyTorch's CPU speed: vector width and bf16 units
SPEED_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_tile")


def describe_machine() -> dict:
    """CPU model, cores, the speed-relevant instruction sets, oneDNN's limit if one is set,
    whether bf16 is native, torch's threads, and the GPU if there is one."""
    model, flags = _cpuinfo()
    described = {
        "cpu": model or platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "isa_flags": [flag for flag in SPEED_FLAGS if flag in flags],
        "aten_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "onednn_isa_limit": onednn_isa_limit(),
        "native_bf16_cpu": native_bf16(torch.device("cpu")),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }
    if torch.cuda.is_available():
        described["gpu"] = torch.cuda.get_device_name()
    return described


def _cpuinfo() -> tuple[str | None, set[str]]:
    """(model name, flags) of the first CPU in /proc/cpuinfo (Linux); (None, {}) elsewhere."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None, set()
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            break  # the first processor's block is enough
        key, _, value = line.partition(":")
        fields[key.strip()] = value.strip()
    return fields.get("model name"), set(fields.get("flags", "").split())
