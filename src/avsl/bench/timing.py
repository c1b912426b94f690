"""Repeat-and-take-the-median timing, the only timing primitive the suites use."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def median_seconds(work: Callable[[], object], repeats: int = 5, warmup: int = 1) -> float:
    """Median wall time of `work()` over `repeats` runs after `warmup` untimed ones."""
    for _ in range(warmup):
        work()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
