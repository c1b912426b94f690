"""Boxes (normalised xyxy) to masks, and the checks a box must pass."""

from __future__ import annotations

import math

import torch
from torch import Tensor

# Coordinates this close outside [0, 1] are rounding, not errors (float32 round trips).
_TOLERANCE = 1e-6


def box_problem(box: list[float] | tuple[float, ...]) -> str | None:
    """Why `box` is not a valid normalised [x1, y1, x2, y2], or None when it is."""
    if len(box) != 4:
        return f"has {len(box)} numbers, expected 4 (x1, y1, x2, y2)"
    if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in box):
        return f"is not four finite numbers: {list(box)}"
    x1, y1, x2, y2 = box
    if min(box) < -_TOLERANCE or max(box) > 1 + _TOLERANCE:
        return f"is outside [0, 1]: {list(box)}"
    if x2 <= x1 or y2 <= y1:
        return f"is empty or inverted (need x1 < x2 and y1 < y2): {list(box)}"
    return None


def coverage_masks(boxes: list[Tensor], height: int, width: int) -> Tensor:
    """Soft masks: the fraction of each cell of an h x w grid that the union of boxes covers.

    Area coverage (rather than cell centres) keeps small boxes visible on coarse feature maps,
    where a 2 %-of-frame object may not contain a single cell centre. Overlapping boxes take the
    maximum, an approximation of the union that is exact for disjoint boxes.

    Args:
        boxes: B tensors (K_i, 4) of normalised xyxy boxes.
        height, width: grid size.

    Returns:
        (B, height, width) float in [0, 1].
    """
    batch = len(boxes)
    device = boxes[0].device if batch else torch.device("cpu")
    out = torch.zeros(batch, height, width, device=device)
    counts = [len(b) for b in boxes]
    if sum(counts) == 0:
        return out
    flat = torch.cat([b.reshape(-1, 4) for b in boxes]).float()  # (N, 4)
    # output_size from the host-side counts: without it, repeat_interleave waits for the device
    repeats = torch.tensor(counts, device=device)
    owner = torch.repeat_interleave(torch.arange(batch, device=device), repeats, output_size=sum(counts))
    cover_x = _interval_coverage(flat[:, 0], flat[:, 2], width)  # (N, w)
    cover_y = _interval_coverage(flat[:, 1], flat[:, 3], height)  # (N, h)
    per_box = cover_y[:, :, None] * cover_x[:, None, :]  # (N, h, w)
    index = owner[:, None, None].expand_as(per_box)
    return out.scatter_reduce_(0, index, per_box, "amax", include_self=True)


def _interval_coverage(start: Tensor, stop: Tensor, cells: int) -> Tensor:
    """(N,) intervals in [0, 1] -> (N, cells): fraction of each cell inside the interval."""
    edges = torch.linspace(0, 1, cells + 1, device=start.device)  # (cells + 1,)
    lo = torch.maximum(edges[None, :-1], start[:, None])
    hi = torch.minimum(edges[None, 1:], stop[:, None])
    return ((hi - lo).clamp(min=0) * cells).clamp(max=1)


def protocol_pixel_boxes(boxes: Tensor, size: int) -> Tensor:
    """Normalised boxes -> integer pixel boxes as the peers build gt maps.

    EZ-VSL / SLAVC clip to [0, 1], multiply by the map size and truncate to int, then fill
    `map[y1:y2, x1:x2]` (EZ-VSL datasets.py). Returns (K, 4) long.
    """
    return (boxes.clamp(0, 1) * size).long()
