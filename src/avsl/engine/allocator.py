"""Keep the CPU heap warm between training steps.

PyTorch's CPU tensors come from the C library's malloc. glibc serves every block above its mmap
threshold (at most 32 MiB) with a fresh mmap and unmaps it on free, so each step's large
activations and gradients are faulted in and zeroed page by page again, and a freed heap top
is handed back to the system and faulted in at the next step. On this project's CPU step
(ResNet-18 pair, batch 32 at 224 px) that costs several per cent, and more in a loop whose
batches allocate between steps (`avsl bench --suite train` measures both). Serving large
blocks from the heap and never trimming it makes a step reuse the memory of the previous one.
The peak memory is unchanged; the process simply keeps it until it exits.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import platform

# mallopt parameter numbers from glibc's <malloc.h>
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4


@functools.cache
def retain_freed_memory() -> bool:
    """Tune glibc's malloc once per process; returns whether it applied (glibc on Linux only).

    A trim threshold of -1 turns trimming off (mallopt(3)). Where the heap cannot grow, glibc
    still falls back to mmap, so no allocation fails for this. Forked data-loader workers
    inherit the settings.
    """
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    settings = ((M_MMAP_MAX, 0), (M_TRIM_THRESHOLD, -1))
    return all(libc.mallopt(parameter, value) == 1 for parameter, value in settings)
