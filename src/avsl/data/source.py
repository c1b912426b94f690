"""The training clips as the loop sees them, wherever they live (memory or a memory-mapped cache).

A source holds frames as uint8 at the stored size (the crop margin included) and fixed audio
windows; the batch assembly (`avsl.engine.batches`) crops, mirrors and normalises the frames on
the training device, so the host only gathers bytes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Protocol

import torch
from torch import Tensor

from avsl.ops.images import normalize_images
from avsl.types import AVBatch, BadSample


class ClipSource(Protocol):
    """What the training loop needs of its clips."""

    ids: list[str]
    boxes: list[Tensor]  # N tensors (K_i, 4), normalised to the stored frame
    has_box: Tensor  # (N,) bool
    skipped: list[BadSample]  # clips that could not be read when the source was made

    def __len__(self) -> int: ...

    @property
    def side(self) -> int:
        """Side of the stored square frames."""
        ...

    def batch(self, indices: Tensor) -> AVBatch:
        """The clips at `indices` (host memory): image (B, 3, side, side) uint8, audio (B, L)
        float16 or float32 (the device converts it)."""
        ...


def normalize_frames(images: Tensor) -> Tensor:
    """(B, 3, H, W) uint8 -> float32 ImageNet-normalised, on the images' device."""
    return normalize_images(images)


def evaluation_batches(source: ClipSource, batch_size: int) -> Iterator[AVBatch]:
    """Every clip once, in order, with normalised frames (validation of a run)."""
    for start in range(0, len(source), batch_size):
        batch = source.batch(torch.arange(start, min(start + batch_size, len(source))))
        yield replace(batch, image=normalize_frames(batch.image), audio=batch.audio.float())
