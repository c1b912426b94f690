"""Clips decoded once into memory.

Training on two CPU cores cannot afford to decode JPEG and WAV files every epoch while the
model competes for the same cores: the clips are decoded once (in worker processes) into a
`ClipBank`, a `ClipSource` whose steps then only index tensors. It suits data that fits in
memory; larger sets use the memory-mapped cache (`avsl.data.cache`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
from torch import Tensor
from torch.utils.data import DataLoader

from avsl.data.dataset import AVDataset, collate_samples
from avsl.types import AVBatch, BadSample


@dataclass
class ClipBank:
    """Decoded clips: frames at the stored size, waveforms, boxes (a `ClipSource`)."""

    ids: list[str]
    images: Tensor  # (N, 3, C, C) uint8
    audio: Tensor  # (N, L) float32
    boxes: list[Tensor]  # N tensors (K_i, 4) normalised
    has_box: Tensor  # (N,) bool
    skipped: list[BadSample] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def side(self) -> int:
        return self.images.shape[-1]

    def batch(self, indices: Tensor) -> AVBatch:
        """The clips at `indices` as an AVBatch (uint8 frames still at the stored size)."""
        chosen = indices.tolist()
        return AVBatch(
            image=self.images[indices],
            audio=self.audio[indices],
            boxes=[self.boxes[i] for i in chosen],
            has_box=self.has_box[indices],
            ids=[self.ids[i] for i in chosen],
        )


def load_clip_bank(dataset: AVDataset, workers: int = 2, batch_size: int = 64) -> ClipBank:
    """Decode every clip of `dataset` (made with `frames="uint8"`) once; unreadable clips are
    listed in `skipped`."""
    images, audio, boxes, has_box, ids = [], [], [], [], []
    skipped = list(dataset.rejected)  # list or annotation entries naming no clip
    for batch in decoded_batches(dataset, workers, batch_size):
        skipped += batch.skipped
        if not len(batch):
            continue
        images.append(batch.image)
        audio.append(batch.audio)
        boxes += batch.boxes
        has_box.append(batch.has_box)
        ids += batch.ids
    if not ids:
        return ClipBank(
            [],
            torch.zeros(0, 3, 1, 1, dtype=torch.uint8),
            torch.zeros(0, 1),
            [],
            torch.zeros(0, dtype=torch.bool),
            skipped,
        )
    return ClipBank(ids, torch.cat(images), torch.cat(audio), boxes, torch.cat(has_box), skipped)


def decoded_batches(dataset: AVDataset, workers: int, batch_size: int) -> Iterator[AVBatch]:
    """The dataset's clips in order, decoded by `workers` processes (bad clips in `skipped`)."""
    if dataset.frames != "uint8":
        raise ValueError("training sources keep uint8 frames: build the dataset with frames='uint8'")
    yield from DataLoader(dataset, batch_size=batch_size, num_workers=workers, collate_fn=collate_samples)
