"""Map resizing and normalisation as the evaluation protocol does them."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

# `map_levels` builds a map at a quarter of the frame's size, but at least this many pixels per
# cell of the network's map (the error of enlarging it in 8 bits grows with the pixel's share of a cell)
LEVELS_REDUCTION = 4
LEVELS_CELL_PIXELS = 32


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


def map_levels(maps: Tensor, size: tuple[int, int]) -> Tensor:
    """(B, h, w) raw maps -> (B, H, W) uint8: `minmax_normalize(upsample_maps(maps, size))` in
    256 levels, for drawing. On a CPU the map is made at a quarter of the size (at least 32
    pixels per cell of the map) with the protocol's upsampling and enlarged in 8 bits (torch's
    uint8 bilinear): a 1280 x 720 map costs about 1.3 ms instead of 10, within a few levels of the
    full-size one (tests/test_overlay.py)."""
    small = tuple(
        min(side, max(math.ceil(side / LEVELS_REDUCTION), LEVELS_CELL_PIXELS * cells))
        for side, cells in zip(size, maps.shape[-2:], strict=True)
    )
    direct = maps.device.type != "cpu" or small == tuple(size)  # a GPU does the full size at no cost
    normalised = minmax_normalize(upsample_maps(maps, size if direct else small))
    levels = normalised.mul(255).round_().to(torch.uint8)
    if direct:
        return levels
    return F.interpolate(levels[:, None], size=tuple(size), mode="bilinear", antialias=True)[:, 0]
