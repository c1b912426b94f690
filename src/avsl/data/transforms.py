"""Frame transforms (torchvision transforms.v2) that carry the boxes along.

Evaluation squashes the frame to size x size (bicubic), as EZ-VSL, SLAVC and FNAC do, so boxes
relative to the full frame stay valid (docs/protocol.md); boxes are `tv_tensors.BoundingBoxes` so
they move with every geometric change. Training stores frames with EZ-VSL's crop margin and
crops them on the device (`avsl.data.augment`).
"""

from __future__ import annotations

import torch
from PIL import Image
from torch import Tensor
from torchvision import tv_tensors
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


def apply_to_frame(transform: v2.Transform, image: Image.Image, boxes: Tensor) -> tuple[Tensor, Tensor]:
    """Run `transform` on a PIL frame and its normalised boxes.

    Returns:
        image (3, S, S) float and boxes (K, 4) normalised to the transformed frame.
    """
    width, height = image.size
    scale = torch.tensor([width, height, width, height], dtype=torch.float32)
    pixel_boxes = tv_tensors.BoundingBoxes(boxes * scale, format="XYXY", canvas_size=(height, width))
    out_image, out_boxes = transform(image, pixel_boxes)
    out_h, out_w = out_image.shape[-2:]
    out_scale = torch.tensor([out_w, out_h, out_w, out_h], dtype=torch.float32)
    return out_image, out_boxes.as_subclass(Tensor) / out_scale
