"""Typed records passed between modules; shapes in the field comments."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch
from torch import Tensor


@dataclass
class Sample:
    """One clip as the dataset reader returns it.

    `boxes` are normalised [x1, y1, x2, y2] in [0, 1]; an empty (0, 4) tensor means the clip has
    no visible sounding object (a negative), while `has_box=False` means the boxes are unknown.
    """

    id: str
    image: Tensor  # (3, H, W) float, ImageNet-normalised
    waveform: Tensor  # (L,) float32 mono at the configured rate, in [-1, 1]
    boxes: Tensor  # (K, 4) float32 normalised xyxy
    has_box: bool = True
    label: str | None = None


@dataclass
class BadSample:
    """A clip that could not be read; datasets return it instead of raising so runs go on."""

    id: str
    reason: str


@dataclass
class AVBatch:
    """A collated batch; bad samples are dropped and listed in `skipped`."""

    image: Tensor  # (B, 3, H, W)
    audio: Tensor  # (B, L) waveform; localizers turn it into a spectrogram on the device
    boxes: list[Tensor]  # B tensors of shape (K_i, 4), normalised xyxy
    has_box: Tensor  # (B,) bool: boxes are known for this clip
    ids: list[str]
    labels: list[str | None] = field(default_factory=list)
    skipped: list[BadSample] = field(default_factory=list)
    # (B,) int64 seeds of each clip's random views, drawn for the global batch, so a clip's
    # augmentation does not depend on how the batch is split over ranks
    seeds: Tensor | None = None

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def sounding(self) -> Tensor:
        """(B,) bool: a box is known and non-empty, so the clip has a visible sound source."""
        counts = torch.tensor([len(b) for b in self.boxes], dtype=torch.long).to(self.has_box.device)
        return self.has_box & (counts > 0)

    def to(self, device: torch.device | str) -> AVBatch:
        """The batch on `device`; the boxes travel as one tensor (one copy, not one per clip)."""
        counts = [len(b) for b in self.boxes]
        packed = torch.cat([b.reshape(-1, 4) for b in self.boxes]) if self.boxes else torch.zeros(0, 4)
        return replace(
            self,
            image=self.image.to(device, non_blocking=True),
            audio=self.audio.to(device, non_blocking=True),
            boxes=list(packed.to(device, non_blocking=True).split(counts)),
            has_box=self.has_box.to(device, non_blocking=True),
        )


@dataclass
class LocalizerOutput:
    """What every localizer's forward returns."""

    map_logits: Tensor  # (B, h, w) at feature resolution
    visual: Tensor  # (B, D, h, w) L2-normalised along D
    audio: Tensor  # (B, D) L2-normalised


@dataclass
class PseudoLabels:
    """Teachers' consensus on an unlabelled batch."""

    mask: Tensor  # (B, h, w) bool
    keep: Tensor  # (B,) bool
    agreement: Tensor  # (B,) float: IoU between the teachers' binary maps


@dataclass
class StepOutput:
    """A training step's loss and flat, slash-named scalars for the logs.

    Log values are 0-d tensors on the step's device (NaN: not measured this step), so that a
    step never waits for the device; the loop averages them when it writes its log.
    """

    loss: Tensor  # scalar
    logs: dict[str, Tensor] = field(default_factory=dict)
