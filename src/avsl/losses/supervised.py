"""Pixel-wise supervised loss of map logits against box masks or pseudo-label masks."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from avsl.ops.boxes import coverage_masks


def box_targets(boxes: list[Tensor], height: int, width: int) -> Tensor:
    """(B, h, w) soft targets: each cell's covered fraction by the clip's boxes."""
    return coverage_masks(boxes, height, width)


def map_loss(map_logits: Tensor, target: Tensor, dice_weight: float = 0.0) -> Tensor:
    """Binary cross-entropy (mean over pixels and clips), plus an optional soft Dice term.

    Args:
        map_logits: (B, h, w) logits.
        target: (B, h, w) in [0, 1].
    """
    if len(map_logits) == 0:
        return map_logits.sum() * 0.0
    return map_loss_per_clip(map_logits, target, dice_weight).mean()


def map_loss_per_clip(map_logits: Tensor, target: Tensor, dice_weight: float = 0.0) -> Tensor:
    """(B,) each clip's `map_loss`, so a caller can weigh or mask clips without indexing by a
    device tensor (which would wait for the device)."""
    loss = F.binary_cross_entropy_with_logits(map_logits.float(), target.float(), reduction="none").flatten(1).mean(1)
    if dice_weight > 0:
        prob = torch.sigmoid(map_logits.float()).flatten(1)
        flat = target.float().flatten(1)
        dice = 1 - (2 * (prob * flat).sum(1) + 1) / (prob.sum(1) + flat.sum(1) + 1)
        loss = loss + dice_weight * dice
    return loss
