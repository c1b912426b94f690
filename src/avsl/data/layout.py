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

import gzip
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from avsl.errors import AvslError, first_line
from avsl.ops.boxes import box_problem
from avsl.types import BadSample

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
    """Parsed annotations plus what was wrong with them.

    `problems` maps a clip id to what is wrong with its entry (the clip is skipped); `rejected`
    lists entries that name no usable clip (no 'file', an unsafe id); `duplicates` lists ids
    given more than once (the first entry is used, so each clip is scored once).
    """

    entries: dict[str, Entry]
    problems: dict[str, str] = field(default_factory=dict)
    clipped: list[str] = field(default_factory=list)
    rejected: list[BadSample] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)


@dataclass
class IdList:
    """A split list's usable ids (first occurrence order), and the lines it could not use.

    A pair list (SLAVC's `video,audio,label` CSV) names a frame and an audio file per row;
    its rows become clips with their own id, `frame_of`/`audio_of` give their files, and the
    `non-sounding` ones are in `negatives` (scored as clips with no sounding object).
    """

    ids: list[str]
    rejected: list[BadSample] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    frame_of: dict[str, str] = field(default_factory=dict)
    audio_of: dict[str, str] = field(default_factory=dict)
    negatives: set[str] = field(default_factory=set)

    def extend(self, other: IdList) -> None:
        """Append another list's ids (those not already here), files and problems."""
        seen = set(self.ids)
        for clip_id in other.ids:
            if clip_id in seen:
                self.duplicates.append(clip_id)
            else:
                seen.add(clip_id)
                self.ids.append(clip_id)
        self.rejected += other.rejected
        self.duplicates += other.duplicates
        self.frame_of.update(other.frame_of)
        self.audio_of.update(other.audio_of)
        self.negatives |= other.negatives


def id_problem(clip_id: object) -> str | None:
    """Why `clip_id` cannot name files inside a layout, or None when it can."""
    if not isinstance(clip_id, str) or not _SAFE_ID.match(clip_id):
        return f"clip id {clip_id!r} is not a plain file stem (no path separators, '..' or NUL)"
    return None


def read_annotations(path: Path, box_policy: BoxPolicy = "skip") -> Annotations:
    """Read and validate an annotations.json in the VGG-SS format.

    Only a file that is not such a list raises AvslError (naming the file); one bad entry never
    costs the others: it is listed in `rejected` or `problems` (see `Annotations`), and a bad box
    marks its clip (skip policy) or is clipped and listed in `clipped` (clip policy).
    """
    raw = _read_json(path, "annotation file")
    if not isinstance(raw, list):
        raise AvslError(f"{path}: expected a JSON list of {{'file', 'class', 'bbox'}} objects")
    result = Annotations(entries={})
    for index, item in enumerate(raw):
        if not isinstance(item, dict) or "file" not in item:
            result.rejected.append(
                BadSample(f"item {index}", f"{path}: item {index} is not an object with a 'file' key")
            )
            continue
        clip_id = item["file"]
        if problem := id_problem(clip_id):
            result.rejected.append(BadSample(f"item {index}", f"{path}: item {index}: {problem}"))
            continue
        if clip_id in result.entries or clip_id in result.problems:
            result.duplicates.append(clip_id)
            continue
        entry, problem = _parse_entry(clip_id, item, box_policy)
        if problem is not None:
            result.problems[clip_id] = problem
            continue
        if entry.boxes is not None and _needed_clipping(item["bbox"]):
            result.clipped.append(clip_id)
        result.entries[clip_id] = entry
    return result


def _parse_entry(clip_id: str, item: dict, box_policy: BoxPolicy) -> tuple[Entry, str | None]:
    label = item.get("class")
    label = label if isinstance(label, str) else None
    boxes = item.get("bbox")
    if boxes is None:
        return Entry(clip_id, None, label), None
    if not isinstance(boxes, list) or not all(isinstance(b, list) for b in boxes):
        return Entry(clip_id, None, label), "'bbox' is not a list of [x1, y1, x2, y2] lists"
    problems = [f"box {k} {p}" for k, b in enumerate(boxes) if (p := box_problem(b))]
    # Clipping mends coordinates; a box that is not four finite numbers has none to mend, and
    # dropping it could turn the clip into a negative.
    if problems and (box_policy == "skip" or not all(_clippable(b) for b in boxes)):
        return Entry(clip_id, None, label), "; ".join(problems)
    return Entry(clip_id, tuple(_clip_box(b) for b in boxes), label), None


def _needed_clipping(boxes: list) -> bool:
    return any(box_problem(b) for b in boxes)


def _read_json(path: Path, what: str):
    """Parsed JSON; a UTF-8 byte-order mark (as Windows tools write) is ignored."""
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise AvslError(f"{path}: {what} not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise AvslError(f"{path}: not readable JSON ({first_line(err)})") from None


def _clippable(box: list) -> bool:
    """Four finite numbers (NaN cannot be clipped into [0, 1]: min/max keep it)."""
    return len(box) == 4 and all(isinstance(v, (int, float)) and math.isfinite(v) for v in box)


def _clip_box(box: list[float]) -> tuple[float, float, float, float]:
    """The peers' np.clip(box, 0, 1); an inverted result stays and scores as an empty box."""
    x1, y1, x2, y2 = (min(max(float(v), 0.0), 1.0) for v in box)
    return (x1, y1, x2, y2)


PAIR_HEADER = ("video", "audio", "label")
NON_SOUNDING = "non-sounding"


def read_id_list(path: Path) -> IdList:
    """A split file (optionally .gz): one id per line, or the first CSV column (a 'video' header is skipped); a
    `video,audio,label` header makes it a pair list (see `IdList`).

    An unsafe id is listed in `rejected` with its line number and a repeated one in `duplicates`;
    neither stops the others from being read.
    """
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        lines = raw.decode("utf-8-sig").splitlines()
    except FileNotFoundError:
        raise AvslError(f"{path}: split list not found") from None
    except (OSError, UnicodeDecodeError, EOFError) as err:
        raise AvslError(f"{path}: cannot read split list ({first_line(err)})") from None
    rows = [[cell.strip() for cell in line.split(",")] for line in lines]
    pairs = bool(rows) and tuple(rows[0][:3]) == PAIR_HEADER
    result = IdList(ids=[])
    seen: set[str] = set()
    for number, row in enumerate(rows, start=1):
        if not row[0] or (number == 1 and row[0] == "video"):
            continue
        clip_id, frame, audio = row[0], row[0], row[0]
        if pairs:
            if len(row) < 3:
                result.rejected.append(
                    BadSample(f"line {number}", f"{path}: line {number}: expected video,audio,label")
                )
                continue
            frame, audio = row[0], row[1]
            if row[2] == NON_SOUNDING or frame != audio:
                clip_id = f"{frame}+{audio}"  # its own id: the frame's clip may also be listed, sounding
        if problem := id_problem(frame) or id_problem(audio):
            result.rejected.append(BadSample(f"line {number}", f"{path}: line {number}: {problem}"))
        elif clip_id in seen:
            result.duplicates.append(clip_id)
        else:
            seen.add(clip_id)
            result.ids.append(clip_id)
            if clip_id != frame:
                result.frame_of[clip_id], result.audio_of[clip_id] = frame, audio
            if pairs and row[2] == NON_SOUNDING:
                result.negatives.add(clip_id)
    return result


def read_layout_defaults(directory: Path) -> dict:
    """Optional DIR/avsl.json: the layout's native frame size and audio window, if it says so.

    The synthetic benchmark writes it so that readers default to its small frames and short
    audio; real datasets need no such file (224 px and 3 s are the protocol's defaults).
    """
    path = directory / LAYOUT_DEFAULTS_FILE
    if not path.exists():
        return {}
    data = _read_json(path, "layout defaults file")
    known = {"image_size": int, "audio_seconds": float, "sample_rate": int}
    if not isinstance(data, dict):
        raise AvslError(f"{path}: expected an object with {', '.join(known)}")
    values = {}
    for key, kind in known.items():
        if key not in data:
            continue
        value = data[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
            raise AvslError(f"{path}: {key} must be a number above 0, got {value!r}")
        values[key] = kind(value)
    return values
