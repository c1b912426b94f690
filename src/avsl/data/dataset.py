"""A torch Dataset over the native layout, and the collate function that builds an AVBatch.

Reading never raises for one bad clip: `__getitem__` returns a `BadSample` with the reason, the
collate function drops it from the batch and lists it in `AVBatch.skipped`, and the caller
decides (report at the end, or stop under --strict). Workers never die on a bad file.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

import torch
from torch.utils.data import Dataset

from avsl.constants import MAX_FRAME_PIXELS
from avsl.data.audio import load_audio_window
from avsl.data.frames import load_frame
from avsl.data.layout import Annotations, BoxPolicy, Entry, IdList, find_audio, list_clips, read_annotations
from avsl.data.transforms import apply_to_frame, eval_transform
from avsl.errors import AvslError
from avsl.types import AVBatch, BadSample, Sample

ANNOTATION_FILE = "annotations.json"


class AVDataset(Dataset):
    """Clips of one directory in the native layout.

    Args:
        root: the layout's directory.
        image_size: frames come out as (3, image_size, image_size).
        sample_rate: audio is resampled to this rate.
        audio_seconds: length of the audio window.
        split: optional id list file; default every frame in root/frames.
        box_policy: what to do with invalid boxes (see `avsl.data.layout`).
        ids: restrict to these ids (after the split), in this order.
        frames: "normalized" float frames, or "uint8" (squashed to the size, unnormalised) for
            the training sources, which normalise on the training device.
        max_pixels: frames whose header claims more pixels are skipped before decoding.

    Entries of the split list or annotation file that name no usable clip are in `rejected`
    (BadSamples, reported with the skipped clips); ids given twice are in `duplicates`.
    """

    def __init__(
        self,
        root: Path,
        image_size: int,
        sample_rate: int,
        audio_seconds: float,
        split: Path | None = None,
        box_policy: BoxPolicy = "skip",
        ids: Sequence[str] | None = None,
        frames: Literal["normalized", "uint8"] = "normalized",
        max_pixels: int = MAX_FRAME_PIXELS,
    ) -> None:
        self.root = Path(root)
        self.image_size = image_size
        self.sample_rate = sample_rate
        self.audio_seconds = audio_seconds
        self.max_pixels = max_pixels
        listed = IdList(list(ids)) if ids is not None else list_clips(self.root, split)
        self.ids = listed.ids
        annotation_path = self.root / ANNOTATION_FILE
        self.annotations = (
            read_annotations(annotation_path, box_policy) if annotation_path.exists() else Annotations({})
        )
        self.rejected = listed.rejected + self.annotations.rejected
        if ids is None and split is None:  # ids are the frames on disk: report annotated clips without one
            self.rejected += self._annotated_without_frame()
        self.duplicates = listed.duplicates + self.annotations.duplicates
        self.frames = frames
        self.transform: Callable = eval_transform(image_size, normalize=frames == "normalized")

    def _annotated_without_frame(self) -> list[BadSample]:
        present = set(self.ids)
        annotated = [*self.annotations.entries, *self.annotations.problems]
        return [
            BadSample(clip_id, f"{self.root / 'frames' / clip_id}.jpg: annotated, but the frame is not there")
            for clip_id in annotated
            if clip_id not in present
        ]

    def __len__(self) -> int:
        return len(self.ids)

    def entry(self, clip_id: str) -> Entry | None:
        return self.annotations.entries.get(clip_id)

    @property
    def labeled_ids(self) -> list[str]:
        """Ids whose boxes are known (possibly an empty list: a negative)."""
        return [i for i in self.ids if (e := self.entry(i)) is not None and e.boxes is not None]

    def __getitem__(self, index: int) -> Sample | BadSample:
        clip_id = self.ids[index]
        if clip_id in self.annotations.problems:
            return BadSample(clip_id, f"{self.root / ANNOTATION_FILE}: {self.annotations.problems[clip_id]}")
        try:
            return self._read(clip_id)
        except AvslError as err:
            return BadSample(clip_id, str(err))

    def _read(self, clip_id: str) -> Sample:
        entry = self.entry(clip_id)
        known = entry is not None and entry.boxes is not None
        boxes = torch.tensor(entry.boxes if known and entry.boxes else [], dtype=torch.float32).reshape(-1, 4)
        image, boxes = apply_to_frame(
            self.transform, load_frame(self.root / "frames" / f"{clip_id}.jpg", self.max_pixels), boxes
        )
        waveform = load_audio_window(find_audio(self.root, clip_id), self.sample_rate, self.audio_seconds)
        return Sample(
            id=clip_id,
            image=image,
            waveform=torch.from_numpy(waveform),
            boxes=boxes,
            has_box=known,
            label=entry.label if entry else None,
        )


def collate_samples(items: list[Sample | BadSample]) -> AVBatch:
    """Stack good samples into an AVBatch; bad ones go to `skipped`."""
    good = [s for s in items if isinstance(s, Sample)]
    bad = [s for s in items if isinstance(s, BadSample)]
    if not good:
        return AVBatch(
            image=torch.zeros(0, 3, 1, 1),
            audio=torch.zeros(0, 1),
            boxes=[],
            has_box=torch.zeros(0, dtype=torch.bool),
            ids=[],
            skipped=bad,
        )
    return AVBatch(
        image=torch.stack([s.image for s in good]),
        audio=torch.stack([s.waveform for s in good]),
        boxes=[s.boxes for s in good],
        has_box=torch.tensor([s.has_box for s in good]),
        ids=[s.id for s in good],
        labels=[s.label for s in good],
        skipped=bad,
    )
