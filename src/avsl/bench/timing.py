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


def paired_median_seconds(
    first: Callable[[], object], second: Callable[[], object], repeats: int = 5, warmup: int = 1
) -> tuple[float, float]:
    """Medians of two pieces of work timed alternately, so that drift of the machine's speed
    (frequency, neighbours) hits both alike; for comparing two nearly equal costs."""
    for _ in range(warmup):
        first()
        second()
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeats):
        for work, bucket in ((first, times[0]), (second, times[1])):
            start = time.perf_counter()
            work()
            bucket.append(time.perf_counter() - start)
    return statistics.median(times[0]), statistics.median(times[1])
