"""Training data: a clip source for the train and val splits (a layout decoded into memory, or a
cache written by `avsl cache`), and the labelled subset."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from avsl.constants import AUDIO_SECONDS, EVAL_SIZE, MAX_FRAME_PIXELS
from avsl.data.augment import stored_size
from avsl.data.benchmarks import dmt_split_ids, has_own_boxes, resolve_split
from avsl.data.cache import is_cache, open_cache
from avsl.data.dataset import AVDataset
from avsl.data.formats import detect_format
from avsl.data.layout import read_id_list, read_layout_defaults
from avsl.data.memory import load_clip_bank
from avsl.data.reference import REFERENCE_DIR
from avsl.data.source import ClipSource
from avsl.errors import AvslError


@dataclass
class TrainData:
    train: ClipSource  # frames stored with the crop margin
    val: ClipSource | None  # frames at the model's input size
    labeled: Tensor  # indices into train of the labelled subset
    unlabeled: Tensor  # indices of the rest
    image_size: int
    audio_seconds: float


def resolve_sizes(
    data_dir: Path, image_size: int | None, audio_seconds: float | None, model: object | None = None
) -> tuple[int, float]:
    """The input side and audio window, the one rule every command follows: the value given
    (config or option; 0 or None: not given), else the model's (a checkpoint was trained at
    one), else the folder's (a cache's, or a layout's avsl.json), else the protocol's 224 px / 3 s."""
    if is_cache(data_dir):
        cache = open_cache(data_dir)
        folder = {"image_size": cache.input_size, "audio_seconds": cache.audio_seconds}
    else:
        folder = read_layout_defaults(data_dir)
    return (
        image_size or getattr(model, "image_size", None) or folder.get("image_size", EVAL_SIZE),
        audio_seconds or getattr(model, "audio_seconds", None) or folder.get("audio_seconds", AUDIO_SECONDS),
    )


def split_dirs(data: Path, val: Path | None) -> tuple[Path, Path | None]:
    """`--data ROOT` holding train/ (and val/) as `avsl synth` writes it, or a train layout."""
    if not data.is_dir():
        raise AvslError(f"{data}: data directory not found")
    if (data / "train").is_dir():
        return data / "train", val if val is not None else (data / "val" if (data / "val").is_dir() else None)
    return data, val


@dataclass(frozen=True)
class Selection:
    """Which clips of a folder a run reads, and where their boxes are (config `data.*`).

    `splits` are list files or packaged names (union, in order); `labeled` names the list whose
    clips are the labelled ones (all of them, instead of a fraction): with a DMT split
    (`dmt-train`), the same dataset's dmt-val and dmt-test clips are held out of training, as
    VGG-SS's annotated clips are also in the 144k training list.
    """

    format: str = "auto"
    splits: tuple[str, ...] = ()
    labeled: str = ""
    annotations: str = ""

    def dataset_name(self, root: Path) -> str:
        """Whose DMT splits apply: Flickr-SoundNet for a Flickr layout, else VGG-SS."""
        chosen = detect_format(root) if self.format == "auto" else self.format
        return "flickr" if chosen == "flickr" else "vggss"

    def lists(self, root: Path) -> list[Path]:
        names = [*self.splits, *([self.labeled] if self.labeled and self.splits else [])]
        return [resolve_split(name, self.dataset_name(root)) for name in names]

    def labeled_ids(self, root: Path) -> set[str] | None:
        if not self.labeled:
            return None
        return set(read_id_list(resolve_split(self.labeled, self.dataset_name(root))).ids)

    def held_out(self, root: Path) -> list[str]:
        if not self.labeled.startswith("dmt-"):
            return []
        dataset = self.dataset_name(root)
        return [i for part in ("val", "test") if f"dmt-{part}" != self.labeled for i in dmt_split_ids(dataset, part)]

    def box_file(self, root: Path) -> Path | None:
        """The configured box file; VGG-SS's packaged one for DMT lists on a folder without boxes."""
        if self.annotations:
            return REFERENCE_DIR / "vggss.json" if self.annotations == "vggss" else Path(self.annotations)
        uses_dmt = any(name.startswith("dmt-") for name in (self.labeled, *self.splits))
        if uses_dmt and self.dataset_name(root) == "vggss" and not has_own_boxes(root):
            return REFERENCE_DIR / "vggss.json"
        return None


def choose_labeled(source: ClipSource, fraction: float, seed: int, listed: set[str] | None = None) -> Tensor:
    """The labelled clips: those of `listed` (every one must have boxes), else a seeded subset of
    round(fraction x clips) (at least 1) among clips with a known box."""
    known = source.has_box.tolist()
    boxed = [i for i in range(len(source)) if known[i] and len(source.boxes[i])]
    if listed is not None:
        chosen = [i for i in range(len(source)) if source.ids[i] in listed]
        has_boxes = set(boxed)
        unboxed = [source.ids[i] for i in chosen if i not in has_boxes]
        if not chosen or unboxed:
            raise AvslError(
                f"the labelled list names {len(listed)} clips: {len(chosen)} are among the training clips, "
                f"{len(unboxed)} of those without boxes{f' (e.g. {unboxed[0]})' if unboxed else ''}"
            )
        return torch.tensor(chosen, dtype=torch.long)
    wanted = max(1, round(fraction * len(source)))
    if len(boxed) == 0:
        raise AvslError("no training clip has boxes in its annotations; this method needs some")
    if len(boxed) < wanted:
        raise AvslError(f"labelled fraction {fraction} asks for {wanted} boxed clips but only {len(boxed)} have boxes")
    order = torch.randperm(len(boxed), generator=torch.Generator().manual_seed(seed))
    return torch.tensor(boxed, dtype=torch.long)[order[:wanted]].sort().values


def load_train_data(
    train_dir: Path,
    val_dir: Path | None,
    image_size: int,
    audio_seconds: float,
    sample_rate: int,
    labeled_fraction: float,
    needs_boxes: bool,
    seed: int,
    workers: int,
    max_pixels: int = MAX_FRAME_PIXELS,
    strict: bool = False,
    selection: Selection = Selection(),
    val_selection: Selection = Selection(),
    needs_unlabeled: bool = False,
) -> TrainData:
    """Both splits' sources and the labelled subset.

    Unreadable clips and bad entries are left out and listed in each source's `skipped`; with
    `strict` the first one stops the run instead.
    """
    size, seconds = resolve_sizes(train_dir, image_size, audio_seconds)
    train = load_source(train_dir, stored_size(size), sample_rate, seconds, workers, max_pixels, selection)
    _check_skipped(train, strict)
    if len(train) == 0:
        first = f"; first: {train.skipped[0].reason}" if train.skipped else ""
        raise AvslError(f"{train_dir}: no readable training clips{first}")
    val = None
    if val_dir is not None:
        val = load_source(val_dir, size, sample_rate, seconds, workers, max_pixels, val_selection)
        _check_skipped(val, strict)
    if needs_boxes:
        labeled = choose_labeled(train, labeled_fraction, seed, selection.labeled_ids(train_dir))
    else:
        labeled = torch.zeros(0, dtype=torch.long)
    is_labeled = torch.zeros(len(train), dtype=torch.bool)
    is_labeled[labeled] = True
    unlabeled = (~is_labeled).nonzero().flatten()
    if needs_unlabeled and len(unlabeled) == 0:
        raise AvslError(
            f"{train_dir}: every one of the {len(train)} training clips is labelled, so a semi-supervised method "
            "has no unlabelled clip to learn from; label a fraction (e.g. --labeled-fraction 0.03) or add clips"
        )
    if needs_boxes and len(unlabeled) == 0:
        unlabeled = labeled  # every clip is labelled: the unlabelled stream reuses them
    return TrainData(train, val, labeled, unlabeled, size, seconds)


def _check_skipped(source: ClipSource, strict: bool) -> None:
    if strict and source.skipped:
        raise AvslError(f"{source.skipped[0].reason} (data.strict stops at bad clips)")


def selected_dataset(
    path: Path, side: int, sample_rate: int, audio_seconds: float, max_pixels: int, selection: Selection
) -> AVDataset:
    """The selected clips of the layout at `path`, as uint8 frames for a training source."""
    return AVDataset(
        path, side, sample_rate, audio_seconds, split=selection.lists(path) or None, frames="uint8",
        max_pixels=max_pixels, format=selection.format, annotation_file=selection.box_file(path),
        exclude=selection.held_out(path),
    )  # fmt: skip


@dataclass(frozen=True)
class CacheJob:
    """One cache to write: the clips (uint8 frames at the stored size), where, for which input."""

    name: str  # "train" or "val"
    dataset: AVDataset
    target: Path
    input_size: int


def cache_jobs(
    data: Path,
    out: Path,
    image_size: int | None,
    audio_seconds: float | None,
    sample_rate: int,
    max_pixels: int,
    selection: Selection = Selection(),
) -> list[CacheJob]:
    """The caches `avsl cache` and `prepare --cache` write for `data`: a layout gives one cache
    at `out`; a folder with train/ (and val/) gives out/train (frames with the crop margin) and
    out/val (frames at the input size). The selection picks the training clips."""
    train_dir, val_dir = split_dirs(data, None)
    size, seconds = resolve_sizes(train_dir, image_size, audio_seconds)
    nested = train_dir != data
    jobs = [CacheJob("train", selected_dataset(train_dir, stored_size(size), sample_rate, seconds, max_pixels,
                                               selection), out / "train" if nested else out, size)]  # fmt: skip
    if val_dir is not None:
        every = Selection(selection.format, (), "", selection.annotations)
        jobs.append(CacheJob("val", selected_dataset(val_dir, size, sample_rate, seconds, max_pixels, every),
                             out / "val", size))  # fmt: skip
    return jobs


def load_source(
    path: Path,
    side: int,
    sample_rate: int,
    audio_seconds: float,
    workers: int,
    max_pixels: int = MAX_FRAME_PIXELS,
    selection: Selection = Selection(),
) -> ClipSource:
    """A cache at `path` (checked against the run's sizes), else the selected clips of the
    layout decoded into memory."""
    if not is_cache(path):
        return load_clip_bank(selected_dataset(path, side, sample_rate, audio_seconds, max_pixels, selection), workers)
    if selection.splits or selection.annotations or selection.format != "auto":
        raise AvslError(f"{path}: a cache holds its clips already; choose lists and boxes when writing it (avsl cache)")
    cache = open_cache(path)
    found = (cache.side, cache.sample_rate, cache.audio_seconds)
    if found != (side, sample_rate, audio_seconds):
        raise AvslError(
            f"{path}: cache holds {cache.side} px frames and {cache.audio_seconds} s at {cache.sample_rate} Hz, "
            f"but this run needs {side} px, {audio_seconds} s at {sample_rate} Hz; write a cache with those sizes"
        )
    return cache
