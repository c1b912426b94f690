"""Tuned malloc keeps a freed large tensor's pages for the next step instead of unmapping them."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

SCRIPT = """
import sys, torch
from avsl.engine.allocator import retain_freed_memory
if sys.argv[1] == "tuned":
    assert retain_freed_memory() and retain_freed_memory()
def resident_mib():
    return int(open("/proc/self/statm").read().split()[1]) * 4096 / 2**20
block = torch.ones(256 * 2**20 // 4)  # 256 MiB, touched
before = resident_mib()
del block
print(before - resident_mib())
"""


@pytest.mark.slow
@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the tuning is glibc's mallopt")
def test_tuned_malloc_keeps_freed_pages():
    def released_mib(mode: str) -> float:
        out = subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, check=True)
        return float(out.stdout)

    assert released_mib("default") > 200  # glibc unmaps a block this large as soon as it is freed
    assert released_mib("tuned") < 10
