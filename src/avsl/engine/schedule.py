"""Schedules as pure functions of the step (nanoGPT style): nothing to save, exact on resume."""

from __future__ import annotations

import math


def learning_rate(step: int, base_lr: float, total_steps: int, warmup_steps: int) -> float:
    """Linear warm-up to base_lr, then cosine decay to 0 at total_steps."""
    if warmup_steps > 0 and step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return base_lr * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def step_seed(seed: int, step: int) -> int:
    """The seed of all randomness (augmentation) at one step."""
    return (seed * 1_000_003 + step * 7_919 + 12_345) % (2**63 - 1)
