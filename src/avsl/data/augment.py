"""Batch augmentations for training from a ClipBank.

Weak view (every method): EZ-VSL's random crop of a 1.1x frame plus a horizontal flip, done
for the whole batch with tensor indexing. Strong view (the students of the semi-supervised
methods): torchvision transforms.v2 per clip on the weak view, with the pseudo-label as a
`tv_tensors.Mask`, so every geometric change moves the label with the pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision import tv_tensors
from torchvision.transforms import v2

from avsl.constants import IMAGENET_MEAN, IMAGENET_STD
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
    batch, _, side, _ = images.shape
    top, left, flip = crops.top, crops.left, crops.flip
    offsets = torch.arange(size)
    rows = (top[:, None] + offsets)[:, None, :, None]  # (B, 1, S, 1)
    cols = (left[:, None] + offsets)[:, None, None, :]  # (B, 1, 1, S)
    cols = torch.where(flip[:, None, None, None], cols.flip(-1), cols)
    picked = images[torch.arange(batch)[:, None, None, None], torch.arange(3)[None, :, None, None], rows, cols]
    moved = []
    for b, box in enumerate(boxes):
        shifted = (box * side - torch.stack([left[b], top[b], left[b], top[b]]).to(box)) / size
        shifted = shifted.clamp(0, 1)
        if flip[b]:
            shifted = torch.stack([1 - shifted[:, 2], shifted[:, 1], 1 - shifted[:, 0], shifted[:, 3]], dim=1)
        keep = (shifted[:, 2] > shifted[:, 0]) & (shifted[:, 3] > shifted[:, 1])
        moved.append(shifted[keep])
    return picked.contiguous(), moved


def centre_crop(images: Tensor, size: int) -> Tensor:
    """(B, 3, C, C) -> (B, 3, size, size) centre crop (deterministic views of training clips)."""
    margin = (images.shape[-1] - size) // 2
    return images[..., margin : margin + size, margin : margin + size]


class StrongAugment:
    """Photometric changes plus a random resized crop and flip, applied to a clip and its label.

    Args:
        crop_scale: the crop keeps between this fraction and all of the frame's area.
        colour: strength of brightness / contrast / saturation jitter.
        hue: hue jitter (a fraction of the colour wheel); 0 where hue tells classes apart.
        grayscale: probability of dropping colour altogether.
        blur: probability of a Gaussian blur.
    """

    def __init__(
        self, crop_scale: float = 0.6, colour: float = 0.4, hue: float = 0.1, grayscale: float = 0.2, blur: float = 0.5
    ) -> None:
        self.geometric = v2.Compose(
            [
                v2.RandomResizedCrop(1, scale=(crop_scale, 1.0), antialias=True),  # size set per call
                v2.RandomHorizontalFlip(),
            ]
        )
        self.photometric = v2.Compose(
            [
                v2.ColorJitter(brightness=colour, contrast=colour, saturation=colour, hue=hue),
                v2.RandomGrayscale(p=grayscale),
                v2.RandomApply([v2.GaussianBlur(kernel_size=5, sigma=(0.1, 1.5))], p=blur),
            ]
        )
        self.mean = torch.tensor(IMAGENET_MEAN)[:, None, None]
        self.std = torch.tensor(IMAGENET_STD)[:, None, None]

    def __call__(self, images: Tensor, masks: Tensor, seeds: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """(B, 3, S, S) normalised images, (B, h, w) float masks -> the strong views of both.

        Masks are moved at the image's resolution and area-averaged back to (h, w), so a
        geometric change moves the label exactly as it moves the pixels. With `seeds` (B,),
        each clip's view is drawn from its own seed, whatever else shares its batch.
        """
        size = images.shape[-1]
        height, width = masks.shape[-2:]
        self.geometric.transforms[0].size = [size, size]
        full_masks = F.interpolate(masks[:, None].float(), size=(size, size), mode="nearest")[:, 0]
        out_images, out_masks = [], []
        for index, (image, mask) in enumerate(zip(images, full_masks, strict=True)):
            with torch.random.fork_rng(devices=[], enabled=seeds is not None):
                if seeds is not None:
                    torch.manual_seed(int(seeds[index]))
                pixels = (image * self.std + self.mean).clamp(0, 1)
                pixels, moved = self.geometric(tv_tensors.Image(pixels), tv_tensors.Mask(mask))
                pixels = self.photometric(pixels)
            out_images.append((pixels.as_subclass(Tensor) - self.mean) / self.std)
            out_masks.append(moved.as_subclass(Tensor))
        stacked_masks = torch.stack(out_masks)[:, None]  # (B, 1, S, S)
        return torch.stack(out_images), F.adaptive_avg_pool2d(stacked_masks, (height, width))[:, 0]
