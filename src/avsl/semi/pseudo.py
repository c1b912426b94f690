"""Pseudo-labels from teachers' maps: binarise, filter by consensus or confidence, intersect.

Pure functions on (B, h, w) tensors; DMT's noise filtering and intersection of pseudo-labels
(docs/method.md, stage 2, steps 2-3) are `consensus_labels`.
"""

from __future__ import annotations

import torch
from torch import Tensor

from avsl.types import PseudoLabels


def binarize_probabilities(map_logits: Tensor, delta: float) -> Tensor:
    """(B, h, w) logits -> bool maps where the probability sigmoid(logit) >= delta."""
    return torch.sigmoid(map_logits.float()) >= delta


def mask_iou(first: Tensor, second: Tensor) -> Tensor:
    """(B,) IoU of two batches of bool maps; two empty maps have IoU 0 (nothing agreed on)."""
    inter = (first & second).flatten(1).sum(1).float()
    union = (first | second).flatten(1).sum(1).float()
    return torch.where(union > 0, inter / union.clamp(min=1), torch.zeros_like(union))


def consensus_labels(
    logits_a: Tensor,
    logits_b: Tensor,
    delta: float,
    tau_f: float,
    use_filter: bool = True,
    use_intersection: bool = True,
) -> PseudoLabels:
    """DMT's pseudo-labels: keep clips whose teachers agree (IoU >= tau_f), label = A AND B.

    Ablations: `use_filter=False` keeps every clip with a non-empty label;
    `use_intersection=False` labels with teacher A's map alone.
    """
    binary_a = binarize_probabilities(logits_a, delta)
    binary_b = binarize_probabilities(logits_b, delta)
    agreement = mask_iou(binary_a, binary_b)
    mask = binary_a & binary_b if use_intersection else binary_a
    non_empty = mask.flatten(1).any(1)
    keep = (agreement >= tau_f) & non_empty if use_filter else non_empty
    return PseudoLabels(mask=mask, keep=keep, agreement=agreement)


def confidence_labels(logits: Tensor, delta: float, min_confidence: float) -> PseudoLabels:
    """Mean Teacher's filter: keep clips whose mean foreground probability reaches the bar."""
    prob = torch.sigmoid(logits.float())
    mask = prob >= delta
    area = mask.flatten(1).sum(1)
    confidence = (prob * mask).flatten(1).sum(1) / area.clamp(min=1)
    keep = (area > 0) & (confidence >= min_confidence)
    return PseudoLabels(mask=mask, keep=keep, agreement=confidence)


def unfiltered_labels(logits: Tensor, delta: float) -> PseudoLabels:
    """Naive self-training: the model's own thresholded map, every non-empty clip kept."""
    mask = binarize_probabilities(logits, delta)
    keep = mask.flatten(1).any(1)
    return PseudoLabels(mask=mask, keep=keep, agreement=keep.float())
