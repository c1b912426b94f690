"""ImageNet normalisation of frames and its inverse: the encoders' input statistics, applied
in one place for the training sources, the strong views and the report."""

from __future__ import annotations

import torch
from torch import Tensor

from avsl.constants import IMAGENET_MEAN, IMAGENET_STD


def normalize_images(images: Tensor) -> Tensor:
    """(..., 3, H, W) uint8 (0-255) or float (0-1) -> float32 ImageNet-normalised, on the
    images' device. uint8 frames are scaled inside the statistics, one rounding fewer."""
    scale = 255.0 if images.dtype == torch.uint8 else 1.0
    mean = torch.tensor(IMAGENET_MEAN, device=images.device)[:, None, None] * scale
    std = torch.tensor(IMAGENET_STD, device=images.device)[:, None, None] * scale
    return (images.float() - mean) / std


def denormalize_images(images: Tensor) -> Tensor:
    """Normalised (..., 3, H, W) -> float pixels in [0, 1]."""
    mean = torch.tensor(IMAGENET_MEAN, device=images.device)[:, None, None]
    std = torch.tensor(IMAGENET_STD, device=images.device)[:, None, None]
    return (images.float() * std + mean).clamp(0, 1)
