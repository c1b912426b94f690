"""The weak view of every method: EZ-VSL's random crop of a 1.1x frame plus a horizontal flip,
done for the whole batch with tensor indexing (the strong view is `avsl.data.strong`)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from avsl.data.transforms import TRAIN_RESIZE_FACTOR


def stored_size(image_size: int) -> int:
    """Side of the training frames kept in memory: the crop's 1.1x margin (EZ-VSL)."""
    return int(image_size * TRAIN_RESIZE_FACTOR)


@dataclass(frozen=True)
class CropParams:
    """Per-clip crop offsets and flips of the weak view: (B,) each."""

    top: Tensor
    left: Tensor
    flip: Tensor

    def __getitem__(self, selection) -> CropParams:
        return CropParams(self.top[selection], self.left[selection], self.flip[selection])


def sample_crops(batch: int, side: int, size: int, generator: torch.Generator) -> CropParams:
    """Random size x size crops of side x side frames and coin-flip mirrors for a batch.

    Drawn for the global batch, then sliced per rank, so multi-process training sees the
    same views as one process with the same global batch.
    """
    top = torch.randint(0, side - size + 1, (batch,), generator=generator)
    left = torch.randint(0, side - size + 1, (batch,), generator=generator)
    flip = torch.rand(batch, generator=generator) < 0.5
    return CropParams(top, left, flip)


def weak_augment(images: Tensor, boxes: list[Tensor], size: int, crops: CropParams) -> tuple[Tensor, list[Tensor]]:
    """Crop and mirror each clip as `crops` says; boxes follow.

    Args:
        images: (B, 3, C, C) with C >= size.
        boxes: B tensors (K_i, 4) normalised to the C x C frame.

    Returns:
        images (B, 3, size, size) and the boxes normalised to the crops (clipped; boxes that
        leave the crop entirely are dropped).
    """
    return crop_frames(images, size, crops), crop_boxes(boxes, images.shape[-1], size, crops)


def crop_frames(images: Tensor, size: int, crops: CropParams) -> Tensor:
    """(B, C, S, S) -> (B, C, size, size): each clip's crop and mirror, on the images' device."""
    batch, channels = images.shape[:2]
    device = images.device
    top, left, flip = crops.top.to(device), crops.left.to(device), crops.flip.to(device)
    offsets = torch.arange(size, device=device)
    rows = (top[:, None] + offsets)[:, None, :, None]  # (B, 1, size, 1)
    cols = (left[:, None] + offsets)[:, None, None, :]  # (B, 1, 1, size)
    cols = torch.where(flip[:, None, None, None], cols.flip(-1), cols)
    clips = torch.arange(batch, device=device)[:, None, None, None]
    return images[clips, torch.arange(channels, device=device)[None, :, None, None], rows, cols].contiguous()


def crop_boxes(boxes: list[Tensor], side: int, size: int, crops: CropParams) -> list[Tensor]:
    """Boxes normalised to side x side frames -> normalised to each clip's crop (see weak_augment)."""
    moved = []
    for b, box in enumerate(boxes):
        offset = torch.stack([crops.left[b], crops.top[b], crops.left[b], crops.top[b]]).to(box)
        shifted = ((box * side - offset) / size).clamp(0, 1)
        if crops.flip[b]:
            shifted = torch.stack([1 - shifted[:, 2], shifted[:, 1], 1 - shifted[:, 0], shifted[:, 3]], dim=1)
        keep = (shifted[:, 2] > shifted[:, 0]) & (shifted[:, 3] > shifted[:, 1])
        moved.append(shifted[keep])
    return moved
