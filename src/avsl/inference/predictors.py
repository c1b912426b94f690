"""Predictors: a batch in, raw (unnormalised) maps out, at any resolution."""

from __future__ import annotations

from typing import Protocol

import torch
from torch import Tensor

from avsl.constants import EVAL_SIZE
from avsl.metrics.protocol import box_maps
from avsl.ops.maps import minmax_normalize, upsample_maps
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


class FullPredictor:
    """The same value everywhere: the protocol turns the whole frame on (a constant map keeps its
    value under min-max normalisation and reaches both thresholds), the trivial map every table
    should show beside the centre one (it scores 60.8 % cIoU@0.5 on one public Flickr split)."""

    name = "full"

    def __call__(self, batch: AVBatch) -> Tensor:
        return torch.ones(len(batch), 7, 7, device=batch.image.device)


class BoxPredictor:
    """The clip's own ground-truth boxes as its map (`box_maps`): not a localizer but each
    score's cap. The median rule turns half of every map on, so on a split this row's
    median-rule AP50 is the most any map can reach there (metrics.json's `cap`)."""

    name = "box"

    def __call__(self, batch: AVBatch) -> Tensor:
        return box_maps([boxes.to(batch.image.device) for boxes in batch.boxes])


# EZ-VSL test.py: `--alpha 0.4`, the audio-visual map's weight in object-guided localization.
OGL_ALPHA = 0.4


class ObjectGuidedPredictor:
    """EZ-VSL's object-guided localization (OGL): the audio-visual map blended with the
    objectness map of an ImageNet ResNet-18 (the mean absolute activation of its last stage),
    each upsampled to 224 and min-max normalised first, `alpha` for the audio-visual one. EZ-VSL's
    published numbers use it; it looks at the image alone, so it cannot tell silent clips apart.

    Args:
        weights: "imagenet" (torchvision's weights API) or a local ResNet-18 state dict file.
    """

    def __init__(self, base: Predictor, weights: str, alpha: float = OGL_ALPHA, device: torch.device | str = "cpu"):
        from torchvision.models import resnet18

        from avsl.models.encoders import load_visual_weights

        network = resnet18(weights=None)
        network.load_state_dict(load_visual_weights(weights))
        self.objectness = torch.nn.Sequential(*list(network.children())[:-2]).to(device).eval()
        self.base = base
        self.alpha = alpha
        self.name = f"{base.name}+ogl({alpha})"
        self.about = {**getattr(base, "about", {"predictor": base.name}), "ogl": weights, "ogl_alpha": alpha}
        for setting in ("image_size", "sample_rate", "audio_seconds"):  # the inputs the base model wants
            if hasattr(base, setting):
                setattr(self, setting, getattr(base, setting))

    @torch.inference_mode()
    def __call__(self, batch: AVBatch) -> Tensor:
        audio_visual = minmax_normalize(upsample_maps(self.base(batch).float(), EVAL_SIZE))
        objects = minmax_normalize(upsample_maps(self.objectness(batch.image).abs().mean(1), EVAL_SIZE))
        return minmax_normalize(self.alpha * audio_visual + (1 - self.alpha) * objects)  # (B, 224, 224)
