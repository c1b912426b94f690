"""Frame transforms (torchvision transforms.v2).

Evaluation squashes the frame to size x size (bicubic), as EZ-VSL, SLAVC and FNAC do, so boxes
normalised to the full frame stay exactly as the annotation gives them (docs/protocol.md): the
peers scale the file's numbers by 224, and so does avsl. Training stores frames with EZ-VSL's
crop margin and crops them, and moves their boxes, on the device (`avsl.data.augment`).
"""

from __future__ import annotations

import torch
from torchvision.transforms import v2

from avsl.constants import IMAGENET_MEAN, IMAGENET_STD

# EZ-VSL datasets.py: Resize(int(224 * 1.1)) before RandomCrop(224).
TRAIN_RESIZE_FACTOR = 1.1


def _to_tensor(normalize: bool) -> list[v2.Transform]:
    """uint8 (3, H, W) frames, or float ImageNet-normalised ones."""
    if not normalize:
        return [v2.ToImage()]
    return [
        v2.ToImage(),
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize(IMAGENET_MEAN, IMAGENET_STD),
    ]


def eval_transform(size: int, normalize: bool = True) -> v2.Compose:
    """Squash to size x size, bicubic, then (by default) ImageNet normalisation."""
    return v2.Compose(
        [v2.Resize((size, size), interpolation=v2.InterpolationMode.BICUBIC, antialias=True)] + _to_tensor(normalize)
    )
