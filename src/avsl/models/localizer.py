"""The audio-visual localizer: two encoders, projections, and the similarity map.

S(x, y) = cos(F(x, y), e) between the projected visual feature map and the projected audio
embedding; the map logit is (S - eps) / tau (docs/method.md), so a pixel-wise loss applies and
sigmoid(logit) is a probability map. EZ-VSL and LVS share this network and differ in their
unsupervised objective, which the localizer names (`objective`) and `avsl.losses` implements.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from avsl.models.registry import create_audio_encoder, create_visual_encoder, register_localizer
from avsl.ops.spectrogram import create_frontend
from avsl.types import LocalizerOutput

# LVS's soft-positive threshold and temperature (Chen et al. 2021), used for the map logit.
DEFAULT_EPS = 0.65
DEFAULT_TAU = 0.03


class AVLocalizer(nn.Module):
    """forward(image, waveform) -> LocalizerOutput; see the module docstring."""

    def __init__(
        self,
        objective: str | None,
        visual: str = "tiny",
        audio: str = "tiny",
        visual_weights: str = "none",
        width: int = 32,
        norm: str = "batch",
        dim: int = 128,
        frontend: str = "logmel",
        sample_rate: int = 16_000,
        eps: float = DEFAULT_EPS,
        tau: float = DEFAULT_TAU,
    ) -> None:
        super().__init__()
        self.objective = objective
        self.eps = eps
        self.tau = tau
        self.visual = create_visual_encoder(visual, weights=visual_weights, width=width, norm=norm)
        self.audio = create_audio_encoder(audio, width=width, norm=norm)
        self.frontend = None if self.audio.takes_waveform else create_frontend(frontend, sample_rate)
        self.visual_proj = nn.Conv2d(self.visual.out_channels, dim, kernel_size=1)
        self.audio_proj = nn.Linear(self.audio.out_channels, dim)

    def embed(self, image: Tensor, waveform: Tensor) -> tuple[Tensor, Tensor]:
        """L2-normalised visual map (B, D, h, w) and audio embedding (B, D)."""
        return self.embed_visual(image), self.embed_audio(waveform)

    def embed_visual(self, image: Tensor) -> Tensor:
        return F.normalize(self.visual_proj(self.visual(image)), dim=1)  # (B, D, h, w)

    def embed_audio(self, waveform: Tensor) -> Tensor:
        """Apart from the frames, so a video's audio can be embedded once per hop, not per frame."""
        audio_in = waveform if self.frontend is None else self.frontend(waveform)
        return F.normalize(self.audio_proj(self.audio(audio_in)), dim=1)  # (B, D)

    def map_logits(self, visual: Tensor, audio: Tensor) -> Tensor:
        return (own_similarity(visual, audio) - self.eps) / self.tau  # (B, h, w)

    def forward(self, image: Tensor, waveform: Tensor) -> LocalizerOutput:
        visual, audio = self.embed(image, waveform)
        return LocalizerOutput(map_logits=self.map_logits(visual, audio), visual=visual, audio=audio)


def own_similarity(visual: Tensor, audio: Tensor) -> Tensor:
    """cos similarity of each clip's visual map with its own audio: (B, D, h, w), (B, D) -> (B, h, w)."""
    return (visual * audio[:, :, None, None].to(visual.dtype)).sum(1)


@register_localizer("ezvsl", objective="ezvsl")  # EZ-VSL's multiple-instance InfoNCE
def _ezvsl(**kwargs) -> AVLocalizer:
    return AVLocalizer(**kwargs)


@register_localizer("lvs", objective="lvs")  # LVS's tri-map contrast with hard negatives
def _lvs(**kwargs) -> AVLocalizer:
    return AVLocalizer(**kwargs)


class TwoHeadLocalizer(AVLocalizer):
    """SLAVC's localizer: two projection heads on the same encoders, the map the mean of the two
    heads' similarity maps (Mo & Morgado 2022). Only for SLAVC's released checkpoints: its own
    training objective is not part of this project."""

    def __init__(self, objective: str | None, dim: int = 128, **kwargs) -> None:
        super().__init__(objective, dim=dim, **kwargs)
        self.visual_proj2 = nn.Conv2d(self.visual.out_channels, dim, kernel_size=1)
        self.audio_proj2 = nn.Linear(self.audio.out_channels, dim)

    def embed_visual(self, image: Tensor) -> Tensor:
        features = self.visual(image)
        heads = [F.normalize(proj(features), dim=1) for proj in (self.visual_proj, self.visual_proj2)]
        return torch.stack(heads, dim=1)  # (B, 2, D, h, w)

    def embed_audio(self, waveform: Tensor) -> Tensor:
        sound = self.audio(waveform if self.frontend is None else self.frontend(waveform))
        return torch.stack([F.normalize(proj(sound), dim=1) for proj in (self.audio_proj, self.audio_proj2)], dim=1)

    def map_logits(self, visual: Tensor, audio: Tensor) -> Tensor:
        similarity = (own_similarity(visual[:, 0], audio[:, 0]) + own_similarity(visual[:, 1], audio[:, 1])) / 2
        return (similarity - self.eps) / self.tau

    def forward(self, image: Tensor, waveform: Tensor) -> LocalizerOutput:
        visual, audio = self.embed(image, waveform)
        return LocalizerOutput(map_logits=self.map_logits(visual, audio), visual=visual[:, 0], audio=audio[:, 0])


@register_localizer("slavc", objective=None)  # released checkpoints only: its objective is not here
def _slavc(**kwargs) -> AVLocalizer:
    return TwoHeadLocalizer(**kwargs)
