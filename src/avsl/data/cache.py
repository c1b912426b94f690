"""A prepared split on disk, memory-mapped: the training source for data larger than memory.

Layout of a cache folder:
    cache.json    format, counts, sizes, ids, boxes, has_box and the clips that were skipped
    frames.u8     (N, 3, C, C) uint8 frames at the stored size (C = 1.1 x the input size)
    audio.f16     (N, L) float16 audio windows at the sample rate

The frames are kept as decoded bytes and the audio as float16 (11 significant bits, enough for a
log spectrogram well below any clip's level), so 144k clips at 224 px take about 27 GB. Every
process (each DDP rank, each loader) maps the same files read-only: the OS page cache holds the
pages once, and a process's own memory does not grow with the number of clips. A cache is
written into a temporary folder and renamed into place when complete, so a folder named as a
cache is always whole.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from avsl.data.dataset import AVDataset
from avsl.data.memory import decoded_batches
from avsl.errors import AvslError
from avsl.types import AVBatch, BadSample

CACHE_FORMAT = "avsl-cache-1"
INDEX_FILE = "cache.json"
FRAMES_FILE = "frames.u8"
AUDIO_FILE = "audio.f16"


def is_cache(path: Path) -> bool:
    return (Path(path) / INDEX_FILE).is_file()


def write_cache(
    dataset: AVDataset,
    out: Path,
    input_size: int,
    workers: int = 2,
    batch_size: int = 64,
    progress: Callable[[int], object] | None = None,
) -> dict:
    """Decode every clip of `dataset` (uint8 frames) into a cache at `out`; returns its index.

    Args:
        input_size: the model input side the cache serves (training frames are stored larger,
            with the crop margin; validation frames at this size).
        progress: called with the number of clips done after each batch (a progress bar).
    """
    out = Path(out)
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    count = len(dataset)
    samples = round(dataset.audio_seconds * dataset.sample_rate)
    side = dataset.image_size
    frames = np.memmap(partial / FRAMES_FILE, dtype=np.uint8, mode="w+", shape=(max(count, 1), 3, side, side))
    audio = np.memmap(partial / AUDIO_FILE, dtype=np.float16, mode="w+", shape=(max(count, 1), samples))
    ids: list[str] = []
    boxes: list[list[list[float]]] = []
    has_box: list[bool] = []
    skipped: list[BadSample] = list(dataset.rejected)  # list or annotation entries naming no clip
    seen = 0
    for batch in decoded_batches(dataset, workers, batch_size):
        skipped += batch.skipped
        seen += len(batch) + len(batch.skipped)
        rows = slice(len(ids), len(ids) + len(batch))
        if len(batch):
            frames[rows] = batch.image.numpy()
            audio[rows] = batch.audio.numpy().astype(np.float16)
            ids += batch.ids
            boxes += [b.tolist() for b in batch.boxes]
            has_box += batch.has_box.tolist()
        if progress is not None:
            progress(seen)
    frames.flush()
    audio.flush()
    del frames, audio
    # drop the rows of skipped clips at the end of the files
    os.truncate(partial / FRAMES_FILE, len(ids) * 3 * side * side)
    os.truncate(partial / AUDIO_FILE, len(ids) * samples * 2)
    index = write_index(partial, side, input_size, dataset.sample_rate, dataset.audio_seconds, ids, boxes, has_box,
                        skipped)  # fmt: skip
    if out.exists():
        shutil.rmtree(out)
    partial.rename(out)
    return index


def write_index(
    folder: Path,
    side: int,
    input_size: int,
    sample_rate: int,
    audio_seconds: float,
    ids: list[str],
    boxes: list[list[list[float]]],
    has_box: list[bool],
    skipped: Sequence[BadSample] = (),
) -> dict:
    """cache.json for the frames and audio files already in `folder` (one row per id)."""
    index = {
        "format": CACHE_FORMAT,
        "count": len(ids),
        "side": side,
        "input_size": input_size,
        "samples": round(audio_seconds * sample_rate),
        "sample_rate": sample_rate,
        "audio_seconds": audio_seconds,
        "ids": ids,
        "boxes": boxes,
        "has_box": has_box,
        "skipped": [{"id": s.id, "reason": s.reason} for s in skipped],
    }
    (folder / INDEX_FILE).write_text(json.dumps(index))
    return index


def holds_clips(cache: Path, ids: list[str], input_size: int, sample_rate: int, audio_seconds: float) -> bool:
    """Whether `cache` was written for these clips with these settings (its kept and skipped
    clips together are exactly `ids`): a rerun can keep it."""
    if not is_cache(cache):
        return False
    try:
        index = json.loads((cache / INDEX_FILE).read_text())
        covered = [*index["ids"], *(item["id"] for item in index["skipped"])]
        settings = (index["input_size"], index["sample_rate"], index["audio_seconds"])
    except (OSError, ValueError, KeyError, TypeError):
        return False  # a damaged index: the cache is written again
    return sorted(covered) == sorted(ids) and settings == (input_size, sample_rate, audio_seconds)


@dataclass
class ClipCache:
    """A cache folder opened for reading (a `ClipSource`)."""

    path: Path
    ids: list[str]
    boxes: list[Tensor]
    has_box: Tensor
    input_size: int  # the model input side this cache serves
    sample_rate: int
    audio_seconds: float
    frames: Tensor  # (N, 3, C, C) uint8, memory-mapped
    audio: Tensor  # (N, L) float16, memory-mapped
    skipped: list[BadSample] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def side(self) -> int:
        return self.frames.shape[-1]

    def batch(self, indices: Tensor) -> AVBatch:
        """Gather the clips at `indices` from the mapped files (torch releases the GIL here,
        so a loader thread gathers while the training step runs)."""
        chosen = indices.tolist()
        return AVBatch(
            image=self.frames.index_select(0, indices),
            audio=self.audio.index_select(0, indices),  # float16: half the bytes to the device
            boxes=[self.boxes[i] for i in chosen],
            has_box=self.has_box[indices],
            ids=[self.ids[i] for i in chosen],
        )


def open_cache(path: Path) -> ClipCache:
    """Map the cache at `path`; a missing, partial or inconsistent cache is an AvslError."""
    path = Path(path)
    try:
        index = json.loads((path / INDEX_FILE).read_text())
    except FileNotFoundError:
        raise AvslError(f"{path}: not a cache ({INDEX_FILE} missing); write one with `avsl cache`") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise AvslError(f"{path / INDEX_FILE}: not valid JSON ({err})") from None
    if not isinstance(index, dict) or index.get("format") != CACHE_FORMAT:
        raise AvslError(f"{path / INDEX_FILE}: not a cache of this avsl version (format {CACHE_FORMAT})")
    try:
        count, side, samples, _ = (int(index[k]) for k in ("count", "side", "samples", "input_size"))
    except (KeyError, TypeError, ValueError) as err:
        raise AvslError(f"{path / INDEX_FILE}: a size field is missing or not a number ({err})") from None
    lists = [index[k] for k in ("ids", "boxes", "has_box")]
    if any(not isinstance(v, list) or len(v) != count for v in lists) or count <= 0 or side <= 0 or samples <= 0:
        raise AvslError(f"{path / INDEX_FILE}: counts disagree or are empty; rewrite the cache")
    frames = _mapped(path / FRAMES_FILE, np.uint8, (count, 3, side, side))
    audio = _mapped(path / AUDIO_FILE, np.float16, (count, samples))
    return ClipCache(
        path=path,
        ids=[str(i) for i in index["ids"]],
        boxes=[torch.tensor(b, dtype=torch.float32).reshape(-1, 4) for b in index["boxes"]],
        has_box=torch.tensor([bool(b) for b in index["has_box"]], dtype=torch.bool),
        input_size=int(index["input_size"]),
        sample_rate=int(index["sample_rate"]),
        audio_seconds=float(index["audio_seconds"]),
        frames=frames,
        audio=audio,
        skipped=[BadSample(s["id"], s["reason"]) for s in index.get("skipped", [])],
    )


def _mapped(path: Path, dtype: type, shape: tuple[int, ...]) -> Tensor:
    """A tensor over the file's pages (copy-on-write mapping: shared with every other reader,
    and torch gets a writable array without copying; nothing is ever written back)."""
    expected = int(np.prod(shape)) * np.dtype(dtype).itemsize
    if not path.is_file() or path.stat().st_size != expected:
        raise AvslError(f"{path}: missing or of the wrong size (expected {expected} bytes); rewrite the cache")
    return torch.from_numpy(np.memmap(path, dtype=dtype, mode="c", shape=shape))
