"""A torch Dataset over a dataset layout (`avsl.data.formats`), and the collate function that
builds an AVBatch.

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
from avsl.data.formats import Layout, open_layout
from avsl.data.frames import load_frame
from avsl.data.layout import BoxPolicy, Entry, IdList, read_id_list
from avsl.data.transforms import eval_transform
from avsl.errors import AvslError
from avsl.types import AVBatch, BadSample, Sample


class AVDataset(Dataset):
    """The clips of one dataset folder.

    Args:
        root: the dataset's folder.
        image_size: frames come out as (3, image_size, image_size).
        sample_rate: audio is resampled to this rate.
        audio_seconds: length of the audio window.
        split: id list file(s), their clips in order (duplicates once); default every frame on disk.
        box_policy: what to do with invalid boxes (see `avsl.data.layout`).
        ids: restrict to these ids (instead of a split), in this order.
        frames: "normalized" float frames, or "uint8" (squashed to the size, unnormalised) for
            the training sources, which normalise on the training device.
        max_pixels: frames whose header claims more pixels are skipped before decoding.
        format: the layout (`avsl.data.formats.FORMATS`), detected by default.
        annotation_file: boxes from this file instead of the folder's own.
        exclude: ids left out (a protocol's held-out clips), reported as `excluded`.

    Entries of the split list or annotation file that name no usable clip are in `rejected`
    (BadSamples, reported with the skipped clips); ids given twice are in `duplicates`.
    """

    def __init__(
        self,
        root: Path,
        image_size: int,
        sample_rate: int,
        audio_seconds: float,
        split: Path | Sequence[Path] | None = None,
        box_policy: BoxPolicy = "skip",
        ids: Sequence[str] | None = None,
        frames: Literal["normalized", "uint8"] = "normalized",
        max_pixels: int = MAX_FRAME_PIXELS,
        format: str = "auto",
        annotation_file: Path | None = None,
        exclude: Sequence[str] = (),
    ) -> None:
        self.root = Path(root)
        self.image_size = image_size
        self.sample_rate = sample_rate
        self.audio_seconds = audio_seconds
        self.max_pixels = max_pixels
        self.layout: Layout = open_layout(self.root, format, box_policy, annotation_file)
        self.annotations = self.layout.annotations
        self.listed = self._listed(split, ids)
        held_out = set(exclude)
        self.excluded = [i for i in self.listed.ids if i in held_out]
        self.ids = [i for i in self.listed.ids if i not in held_out]
        self.rejected = self.listed.rejected + self.annotations.rejected
        if ids is None and split is None:  # ids are the frames on disk: report annotated clips without one
            self.rejected += self._annotated_without_frame()
        self.duplicates = self.listed.duplicates + self.annotations.duplicates
        self.frames = frames
        self.transform: Callable = eval_transform(image_size, normalize=frames == "normalized")

    def _listed(self, split: Path | Sequence[Path] | None, ids: Sequence[str] | None) -> IdList:
        if ids is not None:
            return IdList(list(ids))
        if split is None:
            return IdList(self.layout.frame_ids())
        lists = [split] if isinstance(split, (str, Path)) else list(split)
        combined = IdList([])
        for path in lists:
            combined.extend(read_id_list(Path(path)))
        return combined

    def _annotated_without_frame(self) -> list[BadSample]:
        present = set(self.ids)
        annotated = [*self.annotations.entries, *self.annotations.problems]
        return [
            BadSample(clip_id, f"{self.layout.frame_path(clip_id)}: annotated, but the frame is not there")
            for clip_id in annotated
            if clip_id not in present
        ]

    def __len__(self) -> int:
        return len(self.ids)

    def entry(self, clip_id: str) -> Entry | None:
        """The clip's boxes; a non-sounding pair of an extended set is a known negative."""
        if clip_id in self.listed.negatives:
            return Entry(clip_id, (), None)
        return self.annotations.entries.get(clip_id)

    @property
    def labeled_ids(self) -> list[str]:
        """Ids whose boxes are known (possibly an empty list: a negative)."""
        return [i for i in self.ids if (e := self.entry(i)) is not None and e.boxes is not None]

    def __getitem__(self, index: int) -> Sample | BadSample:
        found = self.boxes_only(index)
        if isinstance(found, BadSample):
            return found
        clip_id = found.id
        frame = self.layout.frame_path(self.listed.frame_of.get(clip_id, clip_id))
        audio = self.layout.audio_path(self.listed.audio_of.get(clip_id, clip_id))
        try:
            found.image = self.transform(load_frame(frame, self.max_pixels))  # squashed: normalised boxes hold
            found.waveform = torch.from_numpy(load_audio_window(audio, self.sample_rate, self.audio_seconds))
        except AvslError as err:
            return BadSample(clip_id, str(err))
        return found

    def boxes_only(self, index: int) -> Sample | BadSample:
        """The clip's boxes without reading its frame or sound (empty `image` and `waveform`):
        enough to score maps that were made elsewhere."""
        clip_id = self.ids[index]
        if clip_id in self.annotations.problems and clip_id not in self.listed.negatives:
            return BadSample(clip_id, f"{self.layout.annotation_source}: {self.annotations.problems[clip_id]}")
        entry = self.entry(clip_id)
        known = entry is not None and entry.boxes is not None
        boxes = torch.tensor(entry.boxes if known and entry.boxes else [], dtype=torch.float32).reshape(-1, 4)
        empty = torch.zeros(0)
        return Sample(clip_id, empty, empty, boxes, has_box=known, label=entry.label if entry else None)


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
