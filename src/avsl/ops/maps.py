"""Map resizing and normalisation as the evaluation protocol does them."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def upsample_maps(maps: Tensor, size: int | tuple[int, int]) -> Tensor:
    """(B, h, w) -> (B, size, size) (or (B, H, W) for size (H, W)), bilinear with
    align_corners=True (EZ-VSL test.py)."""
    shape = (size, size) if isinstance(size, int) else tuple(size)
    if tuple(maps.shape[-2:]) == shape:
        return maps
    return F.interpolate(maps[:, None].float(), size=shape, mode="bilinear", align_corners=True)[:, 0]


def minmax_normalize(maps: Tensor) -> Tensor:
    """Per-map min-max normalisation to [0, 1]; a constant map is left as it is (EZ-VSL utils)."""
    flat = maps.flatten(1)  # (B, h*w)
    low = flat.amin(dim=1, keepdim=True)
    span = flat.amax(dim=1, keepdim=True) - low
    scaled = torch.where(span > 0, (flat - low) / span.clamp(min=torch.finfo(flat.dtype).tiny), flat)
    return scaled.view_as(maps)
