"""Schedules as pure functions of the step (nanoGPT style): nothing to save, exact on resume."""

from __future__ import annotations

import math
from dataclasses import dataclass

from avsl.methods.base import Stage


def learning_rate(step: int, base_lr: float, total_steps: int, warmup_steps: int) -> float:
    """Linear warm-up to base_lr, then cosine decay to 0 at total_steps."""
    if warmup_steps > 0 and step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return base_lr * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def step_seed(seed: int, step: int) -> int:
    """The seed of all randomness (augmentation) at one step."""
    return (seed * 1_000_003 + step * 7_919 + 12_345) % (2**63 - 1)


@dataclass(frozen=True)
class StageSchedule:
    """A semi-supervised method's stages over the steps, and its teachers' EMA decay.

    switch_step: the first step of the unbiased stage (None: the method has one stage).
    ema_decay: the teachers' per-step EMA decay in the unbiased stage (None: no EMA teacher).
    """

    switch_step: int | None = None
    ema_decay: float | None = None

    def stage(self, step: int) -> Stage:
        return "unbiased" if self.switch_step is not None and step >= self.switch_step else "warmup"

    def switches_at(self, step: int) -> bool:
        """Whether the loop calls the method's `start_unbiased` before this step."""
        return step == self.switch_step

    def teacher_decay(self, step: int) -> float | None:
        """The EMA decay after this step's optimizer step (None: no teacher update)."""
        return self.ema_decay if self.stage(step) == "unbiased" else None
