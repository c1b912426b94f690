"""Predictors: a batch in, raw (unnormalised) maps out, at any resolution."""

from __future__ import annotations

from typing import Protocol

import torch
from torch import Tensor

from avsl.types import AVBatch

# Width of the centre prior as a fraction of the frame side. Under the median threshold any
# centred radial map selects the same disc (half the frame), so this only matters for the
# fixed threshold.
CENTER_SIGMA = 0.25


class Predictor(Protocol):
    """Anything that maps a batch to raw localization maps (B, h, w)."""

    name: str

    def __call__(self, batch: AVBatch) -> Tensor: ...


class CenterPredictor:
    """A fixed centred Gaussian: the reference line every results table starts from."""

    name = "center"

    def __init__(self, size: int = 56, sigma: float = CENTER_SIGMA) -> None:
        coords = (torch.arange(size, dtype=torch.float32) + 0.5) / size - 0.5  # (size,)
        squared = coords[:, None] ** 2 + coords[None, :] ** 2  # (size, size)
        self.map = torch.exp(-squared / (2 * sigma**2))

    def __call__(self, batch: AVBatch) -> Tensor:
        return self.map.to(batch.image.device).expand(len(batch), -1, -1)  # (B, size, size)
