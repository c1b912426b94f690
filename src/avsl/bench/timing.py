"""Repeat-and-take-the-median timing, the only timing primitive the suites use."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch


def alternating_median_seconds(*works: Callable[[], object], repeats: int = 5, warmup: int = 1) -> list[float]:
    """Median wall time of each piece of work, the pieces timed in turn round after round, so
    that drift of the machine's speed (frequency, neighbours) hits them alike. A GPU is waited
    for after each piece, so its queued work counts where it was launched."""
    for _ in range(warmup):
        for work in works:
            work()
            wait_for_devices()
    times: list[list[float]] = [[] for _ in works]
    for _ in range(repeats):
        for work, bucket in zip(works, times, strict=True):
            wait_for_devices()
            start = time.perf_counter()
            work()
            wait_for_devices()
            bucket.append(time.perf_counter() - start)
    return [statistics.median(bucket) for bucket in times]


def median_seconds(work: Callable[[], object], repeats: int = 5, warmup: int = 1) -> float:
    """Median wall time of `work()` over `repeats` runs after `warmup` untimed ones."""
    return alternating_median_seconds(work, repeats=repeats, warmup=warmup)[0]


def wait_for_devices() -> None:
    """Block until queued GPU work is done (nothing to wait for on a CPU)."""
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()
