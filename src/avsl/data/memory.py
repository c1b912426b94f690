"""Clips decoded once into memory, and deterministic batch streams over them.

Training on two CPU cores cannot afford to decode JPEG and WAV files every epoch while the
model competes for the same cores: the clips are decoded once (in worker processes) into a
`ClipBank`, and every step then only indexes tensors and augments the batch in one go. The
order of every stream is a pure function of (seed, stream, step), so a resumed run sees exactly
the batches an uninterrupted one would, with no sampler state to save.
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
    """Decoded clips: images at the stored size, waveforms, boxes."""

    ids: list[str]
    images: Tensor  # (N, 3, C, C) float16, ImageNet-normalised
    audio: Tensor  # (N, L) float32
    boxes: list[Tensor]  # N tensors (K_i, 4) normalised
    has_box: Tensor  # (N,) bool
    skipped: list[BadSample] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ids)

    def batch(self, indices: Tensor) -> AVBatch:
        """The clips at `indices` as an AVBatch (images still at the stored size)."""
        chosen = indices.tolist()
        return AVBatch(
            image=self.images[indices].float(),
            audio=self.audio[indices],
            boxes=[self.boxes[i] for i in chosen],
            has_box=self.has_box[indices],
            ids=[self.ids[i] for i in chosen],
        )

    def batches(self, batch_size: int) -> Iterator[AVBatch]:
        """Every clip once, in order (for evaluation)."""
        for start in range(0, len(self), batch_size):
            yield self.batch(torch.arange(start, min(start + batch_size, len(self))))


def load_clip_bank(dataset: AVDataset, workers: int = 2, batch_size: int = 64) -> ClipBank:
    """Decode every clip of `dataset` once; unreadable clips are listed in `skipped`."""
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=workers, collate_fn=collate_samples)
    images, audio, boxes, has_box, ids, skipped = [], [], [], [], [], []
    for batch in loader:
        skipped += batch.skipped
        if not len(batch):
            continue
        images.append(batch.image.half())
        audio.append(batch.audio)
        boxes += batch.boxes
        has_box.append(batch.has_box)
        ids += batch.ids
    if not ids:
        return ClipBank(
            [],
            torch.zeros(0, 3, 1, 1).half(),
            torch.zeros(0, 1),
            [],
            torch.zeros(0, dtype=torch.bool),
            skipped,
        )
    return ClipBank(ids, torch.cat(images), torch.cat(audio), boxes, torch.cat(has_box), skipped)


class BatchStream:
    """An endless, seeded stream of batches of `pool` indices: a fresh permutation per pass.

    `indices(step)` depends only on (seed, stream id, step), so resuming at any step is exact.
    """

    def __init__(self, pool: Tensor, batch_size: int, seed: int, stream: int) -> None:
        if len(pool) == 0:
            raise ValueError("a batch stream needs a non-empty pool")
        self.pool = pool
        self.batch_size = batch_size
        self.seed = seed
        self.stream = stream

    def _permutation(self, epoch: int) -> Tensor:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.stream * 10_007 + epoch)
        return self.pool[torch.randperm(len(self.pool), generator=generator)]

    def indices(self, step: int) -> Tensor:
        start = step * self.batch_size
        positions = torch.arange(start, start + self.batch_size)
        epochs = positions // len(self.pool)
        chosen = torch.empty(self.batch_size, dtype=torch.long)
        for epoch in epochs.unique().tolist():
            mask = epochs == epoch
            chosen[mask] = self._permutation(epoch)[positions[mask] % len(self.pool)]
        return chosen
