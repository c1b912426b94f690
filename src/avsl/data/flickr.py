"""Flickr-SoundNet's test annotations and its public download's file layout.

    DIR/Annotations/<id>.xml     one file per clip; each annotator's box is a `bbox` element (a
                                 grandchild of the root) holding one non-coordinate child, then
                                 xmin, ymin, xmax, ymax in pixels of a 256 x 256 frame
    DIR/Data/<any>/<id>.jpg      the public download keeps frame and audio side by side in
    DIR/Data/<any>/<id>.wav      sub-folders (a layout with frames/ + audio/ works as well)

The boxes of all annotators are kept; the protocol's consensus map (docs/protocol.md) is built from
them at scoring time. Boxes are stored normalised (pixel / 256).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from avsl.data.layout import Annotations, Entry, id_problem
from avsl.errors import AvslError
from avsl.types import BadSample

ANNOTATION_DIR = "Annotations"
DATA_DIR = "Data"
FRAME_SIDE = 256  # the annotators' frame size (docs/protocol.md)
_MAX_XML_BYTES = 1_000_000  # a real file is a few hundred bytes; a larger one is refused unread


def read_flickr_annotations(folder: Path) -> Annotations:
    """Every `<id>.xml` of `folder`; a file that does not parse marks its clip in `problems`."""
    if not folder.is_dir():
        raise AvslError(f"{folder}: annotation folder not found")
    result = Annotations(entries={})
    for path in sorted(folder.glob("*.xml")):
        clip_id = path.stem
        if problem := id_problem(clip_id):
            result.rejected.append(BadSample(path.name, f"{path}: {problem}"))
            continue
        try:
            boxes = parse_flickr_xml(path)
        except AvslError as err:
            result.problems[clip_id] = str(err)
            continue
        result.entries[clip_id] = Entry(clip_id, boxes, None)
    return result


def parse_flickr_xml(path: Path) -> tuple[tuple[float, float, float, float], ...]:
    """The annotators' boxes of one XML file, normalised; AvslError naming the file otherwise."""
    try:
        if path.stat().st_size > _MAX_XML_BYTES:
            raise AvslError(f"{path}: annotation file is larger than {_MAX_XML_BYTES:,} bytes")
        root = ET.parse(path).getroot()
    except ET.ParseError as err:
        raise AvslError(f"{path}: not readable XML ({err})") from None
    except OSError as err:
        raise AvslError(f"{path}: cannot read ({err.strerror or err})") from None
    boxes = []
    for element in (grandchild for child in root for grandchild in child if grandchild.tag == "bbox"):
        values = [child.text for child in list(element)[1:5]]
        try:
            x1, y1, x2, y2 = (float((v or "").strip()) / FRAME_SIDE for v in values)
        except ValueError:
            raise AvslError(f"{path}: bbox {len(boxes)} is not four pixel coordinates: {values}") from None
        if not (0 <= x1 < x2 <= 1 and 0 <= y1 < y2 <= 1):
            raise AvslError(f"{path}: bbox {len(boxes)} is outside the 256 x 256 frame or empty: {values}")
        boxes.append((x1, y1, x2, y2))
    if not boxes:
        raise AvslError(f"{path}: no bbox element")
    return tuple(boxes)


def index_data_folder(folder: Path, suffixes: tuple[str, ...]) -> dict[str, Path]:
    """{stem: path} of the files with `suffixes` in the sub-folders of `folder` (Data/<any>/)."""
    found: dict[str, Path] = {}
    for path in sorted(folder.glob("*/*")):
        if path.suffix.lower() in suffixes and path.is_file():
            found.setdefault(path.stem, path)
    return found
