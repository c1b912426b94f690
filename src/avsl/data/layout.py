"""The native dataset layout (the public VGG-SS one) and its annotation file.

    DIR/frames/<id>.jpg
    DIR/audio/<id>.wav          (or .flac)
    DIR/annotations.json        [{"file": <id>, "class": <str>, "bbox": [[x1, y1, x2, y2], ...]}]
    DIR/<split>.txt             optional list of ids, one per line

Boxes are normalised to [0, 1] with (x1, y1) the top-left corner. An entry whose "bbox" list
is empty marks a clip with no visible sounding object (silent or off-screen audio), used for
false-positive evaluation. Invalid boxes (outside [0, 1], inverted, not four numbers; the
VGG-SS file has 12 with x2/y2 = -2.88e16) are reported per clip; `BoxPolicy` decides whether
the clip is skipped (default) or the boxes are clipped to [0, 1] as the peers' code does.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from avsl.errors import AvslError
from avsl.ops.boxes import box_problem

BoxPolicy = Literal["skip", "clip"]
AUDIO_SUFFIXES = (".wav", ".flac")
LAYOUT_DEFAULTS_FILE = "avsl.json"
# Ids are file stems; anything that could leave DIR (separators, "..") is refused.
_SAFE_ID = re.compile(r"^(?!\.{1,2}$)[^/\\\x00]+$")


@dataclass(frozen=True)
class Entry:
    """One annotated clip: id, normalised boxes (None when unknown) and class."""

    id: str
    boxes: tuple[tuple[float, float, float, float], ...] | None
    label: str | None = None


@dataclass
class Annotations:
    """Parsed annotations plus what was wrong with them (clip id -> problem)."""

    entries: dict[str, Entry]
    problems: dict[str, str] = field(default_factory=dict)
    clipped: list[str] = field(default_factory=list)


def check_id(clip_id: str, source: Path) -> str:
    if not isinstance(clip_id, str) or not _SAFE_ID.match(clip_id):
        raise AvslError(f"{source}: clip id {clip_id!r} is not a plain file stem")
    return clip_id


def read_annotations(path: Path, box_policy: BoxPolicy = "skip") -> Annotations:
    """Read and validate an annotations.json in the VGG-SS format.

    A file that is not such a list raises AvslError naming the file; a bad box only marks its
    clip in `problems` (skip policy) or is clipped and listed in `clipped` (clip policy).
    """
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise AvslError(f"{path}: annotation file not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise AvslError(f"{path}: not readable JSON ({err})") from None
    if not isinstance(raw, list):
        raise AvslError(f"{path}: expected a JSON list of {{'file', 'class', 'bbox'}} objects")
    result = Annotations(entries={})
    for index, item in enumerate(raw):
        if not isinstance(item, dict) or "file" not in item:
            raise AvslError(f"{path}: item {index} is not an object with a 'file' key")
        clip_id = check_id(item["file"], path)
        label = item.get("class")
        if "bbox" not in item or item["bbox"] is None:
            result.entries[clip_id] = Entry(clip_id, None, label)
            continue
        boxes = item["bbox"]
        if not isinstance(boxes, list) or not all(isinstance(b, list) for b in boxes):
            result.problems[clip_id] = "'bbox' is not a list of [x1, y1, x2, y2] lists"
            continue
        problems = [f"box {k} {p}" for k, b in enumerate(boxes) if (p := box_problem(b))]
        if problems and box_policy == "skip":
            result.problems[clip_id] = "; ".join(problems)
            continue
        if problems:
            result.clipped.append(clip_id)
        result.entries[clip_id] = Entry(clip_id, tuple(_clip_box(b) for b in boxes if _clippable(b)), label)
    return result


def _clippable(box: list) -> bool:
    return len(box) == 4 and all(isinstance(v, (int, float)) for v in box)


def _clip_box(box: list[float]) -> tuple[float, float, float, float]:
    """The peers' np.clip(box, 0, 1); an inverted result stays and scores as an empty box."""
    x1, y1, x2, y2 = (min(max(float(v), 0.0), 1.0) for v in box)
    return (x1, y1, x2, y2)


def read_id_list(path: Path) -> list[str]:
    """A split file: one id per line (first CSV column; a 'video' header line is skipped)."""
    try:
        lines = path.read_text().splitlines()
    except OSError as err:
        raise AvslError(f"{path}: cannot read split list ({err.strerror or err})") from None
    ids = [line.split(",")[0].strip() for line in lines if line.strip()]
    if ids and ids[0] == "video":
        ids = ids[1:]
    return [check_id(i, path) for i in ids]


def find_audio(directory: Path, clip_id: str) -> Path:
    """The audio file of a clip, whichever supported suffix it has (the .wav path if none)."""
    for suffix in AUDIO_SUFFIXES:
        candidate = directory / "audio" / f"{clip_id}{suffix}"
        if candidate.exists():
            return candidate
    return directory / "audio" / f"{clip_id}.wav"


def read_layout_defaults(directory: Path) -> dict:
    """Optional DIR/avsl.json: the layout's native frame size and audio window, if it says so.

    The synthetic benchmark writes it so that readers default to its small frames and short
    audio; real datasets need no such file (224 px and 3 s are the protocol's defaults).
    """
    path = directory / LAYOUT_DEFAULTS_FILE
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise AvslError(f"{path}: not readable JSON ({err})") from None
    known = {"image_size": int, "audio_seconds": float, "sample_rate": int}
    if not isinstance(data, dict):
        raise AvslError(f"{path}: expected an object with {', '.join(known)}")
    return {k: known[k](v) for k, v in data.items() if k in known}


def list_clips(directory: Path, split: Path | None = None) -> list[str]:
    """Clip ids of a layout: the split list if given, else every frame in DIR/frames."""
    if not directory.is_dir():
        raise AvslError(f"{directory}: data directory not found")
    if split is not None:
        return read_id_list(split)
    frames = directory / "frames"
    if not frames.is_dir():
        raise AvslError(f"{directory}: no frames/ folder (expected frames/<id>.jpg, audio/<id>.wav)")
    return sorted(p.stem for p in frames.glob("*.jpg"))
