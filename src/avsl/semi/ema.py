"""The teacher's exponential moving average of its student, one explicit in-place call."""

from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def ema_update_(teacher: nn.Module, student: nn.Module, decay: float) -> None:
    """theta_T <- decay * theta_T + (1 - decay) * theta_S, for parameters and float buffers.

    BatchNorm running statistics are averaged like the weights (they describe the weights they
    were collected with); integer buffers (num_batches_tracked) are copied.
    """
    teacher_state = teacher.state_dict()
    for name, value in student.state_dict().items():
        target = teacher_state[name]
        if target.dtype.is_floating_point:
            target.mul_(decay).add_(value.detach(), alpha=1 - decay)
        else:
            target.copy_(value)
