"""Dataset layouts on disk, detected or chosen by name, behind one interface: where a clip's
frame and audio are, its boxes, and the ground-truth rule its benchmark scores with.

    native   frames/<id>.jpg, audio/<id>.wav|flac, annotations.json or vggss.json (VGG-SS's
             list format; see `avsl.data.layout`). Also the EZ-VSL / SLAVC training layout: the
             same folders with a split list such as vggss_144k.txt (clips without boxes are
             unlabelled). Ground truth: the union of boxes.
    flickr   Flickr-SoundNet: Annotations/<id>.xml (see `avsl.data.flickr`) with frames/ +
             audio/ or the public download's Data/<any>/<id>.jpg|.wav. Ground truth: the
             annotators' consensus.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from avsl.data.flickr import ANNOTATION_DIR, DATA_DIR, index_data_folder, read_flickr_annotations
from avsl.data.layout import AUDIO_SUFFIXES, Annotations, BoxPolicy, read_annotations
from avsl.errors import AvslError

FORMATS = ("auto", "native", "flickr")
GtRule = Literal["union", "consensus"]
ANNOTATION_FILES = ("annotations.json", "vggss.json")  # the first one present is read


@dataclass
class Layout:
    """A dataset folder in one of the FORMATS: file locations, annotations and the gt rule."""

    root: Path
    format: str
    annotations: Annotations
    gt_rule: GtRule
    annotation_source: Path | None = None
    frames: dict[str, Path] = field(default_factory=dict)  # stem -> file, for Data/<any>/ folders
    audio: dict[str, Path] = field(default_factory=dict)

    def frame_path(self, stem: str) -> Path:
        return self.frames.get(stem) or self.root / "frames" / f"{stem}.jpg"

    def audio_path(self, stem: str) -> Path:
        if stem in self.audio:
            return self.audio[stem]
        for suffix in AUDIO_SUFFIXES:
            candidate = self.root / "audio" / f"{stem}{suffix}"
            if candidate.exists():
                return candidate
        return self.root / "audio" / f"{stem}.wav"

    def frame_ids(self) -> list[str]:
        """Every frame on disk, sorted: the clip list when no split list is given."""
        on_disk = {p.stem for p in (self.root / "frames").glob("*.jpg")} | set(self.frames)
        return sorted(on_disk)


def detect_format(root: Path) -> str:
    """`flickr` when root holds Annotations/ (Flickr-SoundNet), else `native`."""
    return "flickr" if (root / ANNOTATION_DIR).is_dir() else "native"


def open_layout(
    root: Path,
    format: str = "auto",
    box_policy: BoxPolicy = "skip",
    annotation_file: Path | None = None,
) -> Layout:
    """The layout at `root`; `annotation_file` replaces the folder's own (e.g. the packaged
    vggss.json for a download that has none)."""
    if not root.is_dir():
        raise AvslError(f"{root}: data directory not found")
    if format not in FORMATS:
        raise AvslError(f"unknown layout format {format!r}; choose one of {', '.join(FORMATS)}")
    chosen = detect_format(root) if format == "auto" else format
    if chosen == "flickr":
        return _flickr(root, annotation_file, box_policy)
    return _native(root, annotation_file, box_policy)


def _native(root: Path, annotation_file: Path | None, box_policy: BoxPolicy) -> Layout:
    if not (root / "frames").is_dir():
        raise AvslError(f"{root}: no frames/ folder (expected frames/<id>.jpg, audio/<id>.wav)")
    source = annotation_file or next((root / n for n in ANNOTATION_FILES if (root / n).exists()), None)
    annotations = read_annotations(source, box_policy) if source is not None else Annotations({})
    return Layout(root, "native", annotations, "union", source)


def _flickr(root: Path, annotation_file: Path | None, box_policy: BoxPolicy) -> Layout:
    folder = annotation_file or root / ANNOTATION_DIR
    annotations = read_annotations(folder, box_policy) if folder.is_file() else read_flickr_annotations(folder)
    layout = Layout(root, "flickr", annotations, "consensus", folder)
    if not (root / "frames").is_dir():
        if not (root / DATA_DIR).is_dir():
            raise AvslError(f"{root}: no frames/ or Data/ folder beside {ANNOTATION_DIR}/")
        layout.frames = index_data_folder(root / DATA_DIR, (".jpg", ".jpeg", ".png"))
        layout.audio = index_data_folder(root / DATA_DIR, AUDIO_SUFFIXES)
    return layout
