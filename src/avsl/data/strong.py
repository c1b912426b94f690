"""The students' strong view, made for a whole batch at once on the batch's device.

The view is the torchvision recipe the semi-supervised methods use (a random resized crop and
flip, then colour jitter in a random order, random grayscale and a random Gaussian blur), but
applied with batched tensor operations: a per-clip loop of `transforms.v2` pipelines cost DMT's
unbiased step most of its time on a GPU. Each clip's random numbers come from its
own seed in one draw, so a clip's view does not depend on its batch or its rank, and the
pseudo-label is resampled with exactly the pixels' sampling grid, so it moves with them.
`tests/test_strong.py` checks every operation against `torchvision.transforms.v2.functional`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from avsl.ops.images import denormalize_images, normalize_images

# torchvision's RandomResizedCrop defaults: aspect ratios 3/4 to 4/3, ten tries before the
# central-crop fallback.
CROP_RATIO = (3 / 4, 4 / 3)
CROP_TRIES = 10
# ITU-R 601 luma weights, as torchvision's rgb_to_grayscale.
LUMA = (0.2989, 0.587, 0.114)
BLUR_KERNEL = 5
BLUR_SIGMA = (0.1, 1.5)
JITTER_OPS = 4  # brightness, contrast, saturation, hue
NEUTRAL_FACTORS = torch.tensor([1.0, 1.0, 1.0, 0.0])  # the factors that change nothing

# Columns of the per-clip uniform draws.
_AREA = slice(0, CROP_TRIES)
_RATIO = slice(CROP_TRIES, 2 * CROP_TRIES)
_TOP, _LEFT, _FLIP = 2 * CROP_TRIES, 2 * CROP_TRIES + 1, 2 * CROP_TRIES + 2
_ORDER = slice(_FLIP + 1, _FLIP + 1 + JITTER_OPS)
_FACTORS = slice(_ORDER.stop, _ORDER.stop + JITTER_OPS)
_GRAY, _BLUR, _SIGMA = _FACTORS.stop, _FACTORS.stop + 1, _FACTORS.stop + 2
DRAWS = _SIGMA + 1


@dataclass(frozen=True)
class StrongParams:
    """Every clip's view, drawn on the CPU: (B,) each unless noted."""

    top: Tensor  # crop's first row
    left: Tensor
    height: Tensor  # crop size in pixels
    width: Tensor
    flip: Tensor  # bool
    order: Tensor  # (B, 4) long: the colour operations' order (0 brightness .. 3 hue)
    factors: Tensor  # (B, 4): brightness, contrast, saturation factors and the hue shift
    gray: Tensor  # bool
    sigma: Tensor  # blur sigma; 0 = no blur


def uniform_draws(count: int, seeds: Tensor | None) -> Tensor:
    """(count, DRAWS) uniforms in [0, 1): one draw from each clip's seed, else from torch's RNG."""
    if seeds is None:
        return torch.rand(count, DRAWS, dtype=torch.float64)
    rows = []
    for seed in seeds.tolist():  # seeds live on the host; one generator call per clip
        rows.append(torch.rand(DRAWS, dtype=torch.float64, generator=torch.Generator().manual_seed(seed)))
    return torch.stack(rows)


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
        self.crop_scale = crop_scale
        self.colour = colour
        self.hue = hue
        self.grayscale = grayscale
        self.blur = blur

    def sample(self, count: int, side: int, seeds: Tensor | None = None) -> StrongParams:
        """Each clip's crop, flip, colour order and factors, grayscale and blur for side x side frames."""
        u = uniform_draws(count, seeds)  # (B, DRAWS) float64
        area = side * side * (self.crop_scale + (1 - self.crop_scale) * u[:, _AREA])  # (B, tries)
        log_lo, log_hi = math.log(CROP_RATIO[0]), math.log(CROP_RATIO[1])
        ratio = torch.exp(log_lo + (log_hi - log_lo) * u[:, _RATIO])
        widths = torch.round(torch.sqrt(area * ratio))
        heights = torch.round(torch.sqrt(area / ratio))
        fits = (widths > 0) & (widths <= side) & (heights > 0) & (heights <= side)
        first = fits.to(torch.uint8).argmax(1, keepdim=True)  # the first try that fits
        found = fits.any(1)
        # a square frame's fallback is the whole frame (its ratio 1 lies in CROP_RATIO)
        width = torch.where(found, widths.gather(1, first)[:, 0], torch.full_like(found, side, dtype=u.dtype))
        height = torch.where(found, heights.gather(1, first)[:, 0], torch.full_like(width, side))
        top = torch.floor(u[:, _TOP] * (side - height + 1))
        left = torch.floor(u[:, _LEFT] * (side - width + 1))
        spread = torch.tensor([self.colour, self.colour, self.colour, self.hue], dtype=u.dtype)
        low = torch.tensor([max(0.0, 1 - self.colour)] * 3 + [-self.hue], dtype=u.dtype)
        high = torch.tensor([1 + self.colour] * 3 + [self.hue], dtype=u.dtype)
        factors = torch.where(spread > 0, low + (high - low) * u[:, _FACTORS], NEUTRAL_FACTORS.to(u.dtype))
        blurred = u[:, _BLUR] < self.blur
        sigma = BLUR_SIGMA[0] + (BLUR_SIGMA[1] - BLUR_SIGMA[0]) * u[:, _SIGMA]
        return StrongParams(
            top=top.long(),
            left=left.long(),
            height=height.long(),
            width=width.long(),
            flip=u[:, _FLIP] < 0.5,
            order=u[:, _ORDER].argsort(1),
            factors=factors.float(),
            gray=u[:, _GRAY] < self.grayscale,
            sigma=torch.where(blurred, sigma, torch.zeros_like(sigma)).float(),
        )

    def __call__(self, images: Tensor, masks: Tensor, seeds: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """(B, 3, S, S) normalised images, (B, h, w) float masks -> the strong views of both.

        With `seeds` (B,) on the host, each clip's view is drawn from its own seed, whatever
        else shares its batch; without, from torch's global RNG.
        """
        params = self.sample(len(images), images.shape[-1], seeds)
        return apply_strong_view(images, masks, params)


def apply_strong_view(images: Tensor, masks: Tensor, params: StrongParams) -> tuple[Tensor, Tensor]:
    """The views `params` describe, on the images' device; see `StrongAugment`.

    Operations no clip of the batch uses are skipped; that is decided from `params`, which
    live on the host, so it costs the device nothing.
    """
    device = images.device
    height, width = masks.shape[-2:]
    pixels = denormalize_images(images)  # (B, 3, S, S)
    side = images.shape[-1]
    full_masks = F.interpolate(masks[:, None].float(), size=(side, side), mode="nearest")  # (B, 1, S, S)
    moved = resized_crop(torch.cat([pixels, full_masks], 1), params)
    pixels, moved_masks = moved[:, :3], moved[:, 3:]
    pixels = colour_jitter(pixels, params.order, params.factors)
    if bool(params.gray.any()):
        pixels = torch.where(params.gray.to(device)[:, None, None, None], grayscale(pixels).expand_as(pixels), pixels)
    if bool((params.sigma > 0).any()):
        pixels = gaussian_blur(pixels, params.sigma.to(device))
    return normalize_images(pixels), F.adaptive_avg_pool2d(moved_masks, (height, width))[:, 0]


def resized_crop(images: Tensor, params: StrongParams) -> Tensor:
    """Crop each (B, C, S, S) image and resize the crop back to S x S (bilinear), then flip.

    The crop is never larger than the frame, so the resize only enlarges, where bilinear
    interpolation with or without antialiasing is the same. Source positions are clamped to the
    crop, as interpolating the cropped tensor would clamp them.
    """
    side = images.shape[-1]
    device = images.device
    steps = torch.arange(side, device=device, dtype=torch.float32) + 0.5  # (S,)

    def source(start: Tensor, length: Tensor) -> Tensor:  # (B,) -> (B, S) grid coordinates
        length = length.to(device, torch.float32)[:, None]
        inside = (steps[None] * length / side - 0.5).clamp(min=0)
        inside = torch.minimum(inside, length - 1)
        return (2 * (start.to(device, torch.float32)[:, None] + inside) + 1) / side - 1

    cols = source(params.left, params.width)  # (B, S)
    rows = source(params.top, params.height)  # (B, S)
    cols = torch.where(params.flip.to(device)[:, None], cols.flip(1), cols)
    grid = torch.stack([cols[:, None, :].expand(-1, side, -1), rows[:, :, None].expand(-1, -1, side)], dim=-1)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


def grayscale(pixels: Tensor) -> Tensor:
    """(B, 3, H, W) in [0, 1] -> (B, 1, H, W) luma."""
    r, g, b = pixels.unbind(1)
    return (LUMA[0] * r + LUMA[1] * g + LUMA[2] * b)[:, None]


def colour_jitter(pixels: Tensor, order: Tensor, factors: Tensor) -> Tensor:
    """Brightness, contrast, saturation and hue changes in each clip's own order.

    `order` and `factors` live on the host, so which clips take which operation at each of the
    four rounds is known without asking the device; each operation then runs once per clip that
    needs it (a clip with a neutral factor skips it), on the rows it selects.
    """
    needs = factors != NEUTRAL_FACTORS  # (B, 4)
    operations = (_brightness, _contrast, _saturation, _hue)
    for position in range(JITTER_OPS):
        for op, apply in enumerate(operations):
            rows = ((order[:, position] == op) & needs[:, op]).nonzero().flatten()  # host indices
            if len(rows) == 0:
                continue
            chosen = rows.to(pixels.device, non_blocking=True)
            factor = factors[rows, op].to(pixels.device, non_blocking=True)[:, None, None, None]  # (b, 1, 1, 1)
            pixels = pixels.index_copy(0, chosen, apply(pixels.index_select(0, chosen), factor))
    return pixels


def _brightness(pixels: Tensor, factor: Tensor) -> Tensor:
    return (pixels * factor).clamp(0, 1)


def _contrast(pixels: Tensor, factor: Tensor) -> Tensor:
    mean = grayscale(pixels).mean(dim=(-3, -2, -1), keepdim=True)  # (B, 1, 1, 1)
    return (factor * pixels + (1 - factor) * mean).clamp(0, 1)


def _saturation(pixels: Tensor, factor: Tensor) -> Tensor:
    return (factor * pixels + (1 - factor) * grayscale(pixels)).clamp(0, 1)


def _hue(pixels: Tensor, shift: Tensor) -> Tensor:
    """Rotate the hue by `shift` turns (HSV)."""
    hue, saturation, value = _rgb_to_hsv(pixels)
    return _hsv_to_rgb(torch.remainder(hue + shift[:, 0], 1.0), saturation, value)


def _rgb_to_hsv(pixels: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(B, 3, H, W) -> hue in [0, 1), saturation, value: (B, H, W) each."""
    r, g, b = pixels.unbind(1)
    value = pixels.amax(1)
    spread = value - pixels.amin(1)
    grey = spread == 0
    saturation = spread / torch.where(grey, torch.ones_like(value), value)
    safe = torch.where(grey, torch.ones_like(spread), spread)
    rc, gc, bc = (value - r) / safe, (value - g) / safe, (value - b) / safe
    hue = torch.where(value == r, bc - gc, torch.where(value == g, 2.0 + rc - bc, 4.0 + gc - rc))
    hue = torch.remainder(hue / 6.0, 1.0)
    return torch.where(grey, torch.zeros_like(hue), hue), saturation, value


def _hsv_to_rgb(hue: Tensor, saturation: Tensor, value: Tensor) -> Tensor:
    """Inverse of `_rgb_to_hsv`: (B, H, W) each -> (B, 3, H, W)."""
    sector = torch.floor(hue * 6.0)
    fraction = hue * 6.0 - sector
    sector = sector.long() % 6
    p = (value * (1 - saturation)).clamp(0, 1)
    q = (value * (1 - saturation * fraction)).clamp(0, 1)
    t = (value * (1 - saturation * (1 - fraction))).clamp(0, 1)
    # (r, g, b) per sector of the colour wheel
    table = [(value, t, p), (q, value, p), (p, value, t), (p, q, value), (t, p, value), (value, p, q)]
    out = torch.zeros(3, *hue.shape, device=hue.device, dtype=hue.dtype)
    for index, channels in enumerate(table):
        out = torch.where(sector[None] == index, torch.stack(channels), out)
    return out.transpose(0, 1)


def gaussian_blur(pixels: Tensor, sigma: Tensor) -> Tensor:
    """A 5 x 5 Gaussian blur (reflected borders) per clip; sigma 0 leaves a clip as it is."""
    batch, channels, height, width = pixels.shape
    offsets = torch.arange(BLUR_KERNEL, device=pixels.device, dtype=torch.float32) - BLUR_KERNEL // 2  # (5,)
    safe = torch.where(sigma > 0, sigma, torch.ones_like(sigma))[:, None]
    weights = torch.exp(-0.5 * (offsets[None] / safe) ** 2)
    weights = weights / weights.sum(1, keepdim=True)  # (B, 5)
    identity = (offsets == 0).float()[None].expand_as(weights)
    kernel = torch.where(sigma[:, None] > 0, weights, identity)
    kernel = kernel.repeat_interleave(channels, 0)  # (B * C, 5)
    pad = BLUR_KERNEL // 2
    flat = F.pad(pixels.reshape(1, batch * channels, height, width), (pad, pad, pad, pad), mode="reflect")
    flat = F.conv2d(flat, kernel[:, None, :, None], groups=batch * channels)  # along rows
    flat = F.conv2d(flat, kernel[:, None, None, :], groups=batch * channels)  # along columns
    return flat.reshape(batch, channels, height, width)
