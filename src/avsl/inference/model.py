"""A trained localizer for people's own pictures and sounds: images and waveforms in, heatmaps
out. What `avsl.load` returns; `avsl localize` is built on it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor, nn

from avsl.data.audio import pcm_to_float, window_of
from avsl.data.frames import to_rgb
from avsl.data.transforms import eval_transform
from avsl.errors import AvslError
from avsl.inference.checkpoint_predictor import CheckpointPredictor
from avsl.metrics.protocol import confidence
from avsl.ops.maps import map_levels, minmax_normalize, upsample_maps

ImageLike = np.ndarray | Image.Image | Tensor


@dataclass
class Localization:
    """Where the sound is in one image.

    heatmap: (H, W) float32 in [0, 1] at the image's own size, min-max normalised as the
        evaluation protocol normalises maps (so it always has a hot spot: see `confidence`);
        uint8 levels 0-255 instead where `levels` was asked for (what drawing takes).
    logits: (h, w) the network's raw map (its own resolution).
    confidence: the raw map's maximum (SLAVC's score): low when no sounding object is visible.
    """

    heatmap: np.ndarray
    logits: np.ndarray
    confidence: float


class LocalizationModel(nn.Module):
    """A checkpoint's localizer, with the input handling of the evaluation protocol: images
    squashed to the model's size (bicubic) and ImageNet-normalised, audio down-mixed, resampled
    and cut to the model's window centred on the frame's time.

    It is an `nn.Module` (in eval mode once loaded): `model(images, waveforms)` maps a prepared
    batch, `.to(device)` moves it."""

    def __init__(self, predictor: CheckpointPredictor) -> None:
        super().__init__()
        self.predictor = predictor
        self.network = predictor.model
        self.image_size = predictor.image_size
        self.sample_rate = predictor.sample_rate
        self.audio_seconds = predictor.audio_seconds
        self.transform = eval_transform(self.image_size)
        self.eval()

    @property
    def device(self) -> torch.device:
        return next(self.network.parameters()).device

    def forward(self, images: Tensor, waveforms: Tensor) -> Tensor:
        """Raw maps (B, h, w) of prepared images (B, 3, S, S) and windows (B, L) (`prepare_image`,
        `prepare_audio`); `localize_batch` gives heatmaps at the images' own size instead."""
        return self.predictor.maps(images, waveforms)

    def extra_repr(self) -> str:
        spec = self.predictor.spec
        return (f"checkpoint={self.predictor.path}, network={self.predictor.network}, localizer={spec['name']}, "
                f"encoders={spec['visual']}/{spec['audio']}, image_size={self.image_size}, "
                f"sample_rate={self.sample_rate}, audio_seconds={self.audio_seconds}")  # fmt: skip

    @classmethod
    def from_checkpoint(
        cls, path: str | Path, device: str | torch.device = "cpu", network: str | None = None, precision: str = "auto"
    ) -> LocalizationModel:
        """`precision`: auto (bf16 where the hardware multiplies in it: heatmaps within 0.04 of
        fp32's, 0.004 on average, on the demo's model), fp32 or bf16."""
        return cls(CheckpointPredictor(Path(path), device, network, precision))

    def localize(
        self, image: ImageLike, waveform: np.ndarray | Tensor, sample_rate: int, centre: float | None = None
    ) -> Localization:
        """Localize the sound of `waveform` (samples, or samples x channels, at `sample_rate`)
        in `image` (H x W x 3 uint8 array, PIL image, or 3 x H x W tensor); `centre` is the
        frame's time in the waveform (s; default its middle)."""
        frame = self.prepare_image(image)
        window = self.prepare_audio(waveform, sample_rate, centre)
        size = _image_size(image)
        return self.localize_batch(frame[None], window[None], [size])[0]

    def prepare_image(self, image: ImageLike) -> Tensor:
        """(3, S, S) float, normalised, on the CPU (resized by PIL, as the evaluation's frames)."""
        return self.transform(to_rgb(_as_pil(image)))

    def prepare_frames(self, frames: Sequence[np.ndarray]) -> Tensor:
        """Decoded video frames (each H x W x 3 uint8, one size) as one prepared batch
        (B, 3, S, S) on the model's device: resized there, so a GPU gets 8-bit frames, not floats,
        by torch, whose antialiased bicubic matches PIL's within one grey level at a seventh of
        its time on a 720p frame."""
        batch = torch.from_numpy(np.stack(frames)).to(self.device).permute(0, 3, 1, 2)
        return self.transform(batch)

    def prepare_audio(self, waveform: np.ndarray | Tensor, sample_rate: int, centre: float | None = None) -> Tensor:
        """(L,) float32 at the model's rate and window length."""
        if isinstance(waveform, Tensor):
            waveform = waveform.detach().cpu().numpy()
        signal = pcm_to_float(np.asarray(waveform))
        if signal.ndim == 2 and signal.shape[0] < signal.shape[1] and signal.shape[0] <= 8:
            signal = signal.T  # (channels, samples), as torchaudio gives it
        return torch.from_numpy(window_of(signal, int(sample_rate), self.sample_rate, self.audio_seconds, centre))

    def localize_batch(self, frames: Tensor, windows: Tensor, sizes: Sequence[tuple[int, int]]) -> list[Localization]:
        """Prepared frames (B, 3, S, S) and windows (B, L) in one model call; `sizes` are the
        (height, width) each heatmap is returned at."""
        return self.localize_embedded(frames, self.embed_audio(windows), sizes)

    def embed_audio(self, windows: Tensor) -> Tensor:
        """The network's audio embeddings of prepared windows (B, L), for `localize_embedded`."""
        return self.predictor.embed_audio(windows)

    @torch.inference_mode()
    def localize_embedded(
        self, frames: Tensor, audio: Tensor, sizes: Sequence[tuple[int, int]], levels: bool = False
    ) -> list[Localization]:
        """As `localize_batch`, with each frame's audio already embedded (a video reuses one
        embedding for the frames of an audio hop); `levels`: heatmaps as uint8 levels
        (`avsl.ops.maps.map_levels`, 7x cheaper at 720p), for drawing."""
        logits = self.predictor.map_logits(self.predictor.embed_visual(frames), audio.to(self.device))  # (B, h, w)
        scores = confidence(logits).cpu()
        heatmaps = [None] * len(sizes)
        for size in set(sizes):  # one call per frame size: a video's frames all share one
            chosen = [index for index, own in enumerate(sizes) if own == size]
            raw = logits[chosen]
            maps = map_levels(raw, size) if levels else minmax_normalize(upsample_maps(raw, size))
            for index, heatmap in zip(chosen, maps.cpu().numpy(), strict=True):
                heatmaps[index] = heatmap
        return [
            Localization(heatmap, logits[index].cpu().numpy(), float(scores[index]))
            for index, heatmap in enumerate(heatmaps)
        ]


def _as_pil(image: ImageLike) -> Image.Image:
    if isinstance(image, Image.Image):
        return image
    if isinstance(image, Tensor):
        array = image.detach().cpu()
        if array.ndim != 3 or array.shape[0] not in (1, 3):
            raise AvslError(f"an image tensor must be (3, H, W), got {tuple(array.shape)}")
        if array.is_floating_point():
            array = (array.clamp(0, 1) * 255).round()
        return Image.fromarray(array.to(torch.uint8).permute(1, 2, 0).numpy().squeeze())
    array = np.asarray(image)
    if array.dtype != np.uint8:
        if not np.issubdtype(array.dtype, np.floating):
            raise AvslError(f"an image array must be uint8 or float in [0, 1], got {array.dtype}")
        array = (np.clip(array, 0, 1) * 255).round().astype(np.uint8)
    if array.ndim not in (2, 3):
        raise AvslError(f"an image array must be (H, W) or (H, W, 3), got {array.shape}")
    return Image.fromarray(array)


def _image_size(image: ImageLike) -> tuple[int, int]:
    """(height, width)."""
    if isinstance(image, Image.Image):
        return image.height, image.width
    if isinstance(image, Tensor):
        return int(image.shape[-2]), int(image.shape[-1])
    return int(np.asarray(image).shape[0]), int(np.asarray(image).shape[1])
