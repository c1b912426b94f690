"""The batched strong view against torchvision's per-image functions, its seeding, and its label."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torchvision.transforms.v2 import functional as TF

from avsl.constants import IMAGENET_MEAN, IMAGENET_STD
from avsl.data.strong import StrongAugment, apply_strong_view

MEAN = torch.tensor(IMAGENET_MEAN)[:, None, None]
STD = torch.tensor(IMAGENET_STD)[:, None, None]


def reference_view(image: torch.Tensor, params, index: int) -> torch.Tensor:
    """One clip through torchvision.transforms.v2.functional, as the per-clip pipeline did it."""
    pixels = (image * STD + MEAN).clamp(0, 1)
    top, left = int(params.top[index]), int(params.left[index])
    height, width = int(params.height[index]), int(params.width[index])
    side = image.shape[-1]
    pixels = TF.resized_crop(pixels, top, left, height, width, [side, side], antialias=True)
    if params.flip[index]:
        pixels = TF.horizontal_flip(pixels)
    brightness, contrast, saturation, hue = params.factors[index].tolist()
    for op in params.order[index].tolist():
        if op == 0 and brightness != 1:
            pixels = TF.adjust_brightness(pixels, brightness)
        elif op == 1 and contrast != 1:
            pixels = TF.adjust_contrast(pixels, contrast)
        elif op == 2 and saturation != 1:
            pixels = TF.adjust_saturation(pixels, saturation)
        elif op == 3 and hue != 0:
            pixels = TF.adjust_hue(pixels, hue)
    if params.gray[index]:
        pixels = TF.rgb_to_grayscale(pixels, num_output_channels=3)
    sigma = float(params.sigma[index])
    if sigma > 0:
        pixels = TF.gaussian_blur(pixels, [5, 5], [sigma, sigma])
    return (pixels - MEAN) / STD


@pytest.mark.parametrize("hue", [0.0, 0.1])
def test_batched_view_matches_torchvision_per_clip(hue):
    torch.manual_seed(0)
    images = torch.randn(12, 3, 40, 40).clamp(-2, 2)
    masks = torch.rand(12, 5, 5)
    strong = StrongAugment(crop_scale=0.5, colour=0.4, hue=hue, grayscale=0.3, blur=0.5)
    params = strong.sample(12, 40, torch.arange(12) * 7919)
    # the draws cover every branch: flips, greys, blurs, crops smaller than the frame, orders
    assert params.flip.any() and (~params.flip).any() and params.gray.any() and (params.sigma > 0).any()
    assert (params.width < 40).any() and len({tuple(o) for o in params.order.tolist()}) > 3
    out, _ = apply_strong_view(images, masks, params)
    for index in range(12):
        expected = reference_view(images[index], params, index)
        assert torch.allclose(out[index], expected, atol=2e-4), index


def test_label_is_resampled_with_the_pixels_grid():
    torch.manual_seed(1)
    masks = (torch.rand(6, 8, 8) > 0.6).float()
    # frames that carry the mask itself (nearest-upsampled, as the view upsamples the label)
    pixels = F.interpolate(masks[:, None], size=(32, 32), mode="nearest").expand(-1, 3, -1, -1)
    images = (pixels - MEAN) / STD
    strong = StrongAugment(crop_scale=0.3, colour=0.0, hue=0.0, grayscale=0.0, blur=0.0)
    out, moved = strong(images, masks, torch.arange(6))
    seen = F.adaptive_avg_pool2d((out * STD + MEAN)[:, :1], (8, 8))[:, 0]
    assert torch.allclose(seen, moved, atol=1e-5)
    assert not torch.allclose(moved, masks)  # the crops did move the labels


def test_a_clips_view_depends_on_its_seed_not_its_batch():
    torch.manual_seed(2)
    images = torch.randn(5, 3, 24, 24)
    masks = torch.rand(5, 6, 6)
    seeds = torch.tensor([11, 22, 33, 44, 55])
    strong = StrongAugment()
    whole, whole_masks = strong(images, masks, seeds)
    part, part_masks = strong(images[[3, 1]], masks[[3, 1]], seeds[[3, 1]])
    assert torch.allclose(whole[[3, 1]], part, atol=1e-6) and torch.allclose(whole_masks[[3, 1]], part_masks, atol=1e-6)
    other, _ = strong(images, masks, seeds + 1)
    assert not torch.allclose(whole, other)


def test_strong_view_stays_on_the_inputs_device():
    strong = StrongAugment(hue=0.1, grayscale=0.5, blur=0.9)
    images = torch.empty(4, 3, 16, 16, device="meta")
    out, moved = strong(images, torch.empty(4, 4, 4, device="meta"), torch.arange(4))
    assert out.device.type == "meta" and moved.device.type == "meta"
    assert out.shape == images.shape and moved.shape == (4, 4, 4)
