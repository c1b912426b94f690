"""Heatmaps drawn over frames, one look for every output (`localize`, the report, the demo reel).

The hot region (the min-max normalised map at or above the protocol's fixed threshold, 0.5)
is painted with the turbo colour map at a fixed opacity and outlined in the prediction colour
(with a dark line inside it, so the outline shows on bright frames as on dark ones);
the rest of the frame is left as it is, so the picture stays readable on bright, dark, grey or
busy frames. Ground truth is always GROUND_TRUTH_COLOUR, the prediction always
PREDICTION_COLOUR; a small colour bar, the clip's confidence and the legend sit in a corner.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from functools import lru_cache
from typing import Literal

import numpy as np
from PIL import Image, ImageDraw, ImageFont

COLOUR_MAP = "turbo"  # bright and varied where the map is hot; Google's improved jet
HOT_THRESHOLD = 0.5  # of the min-max normalised map: the protocol's fixed threshold (SSPL)
OPACITY = 0.6
PREDICTION_COLOUR = (255, 255, 255)  # white: the hot region's outline and box
GROUND_TRUTH_COLOUR = (255, 0, 255)  # magenta: in no part of the turbo map
EDGE_SHADE = (0, 0, 0)  # a dark line inside each outline and box: white alone vanishes on bright frames
BOX_GRID = 96  # connected regions are found on the map resized to at most this side
LEGEND_MIN_SIDE = 160  # below this the legend would cover the picture
Layout = Literal["overlay", "side-by-side"]


@lru_cache(maxsize=4)
def colour_table(name: str = COLOUR_MAP) -> np.ndarray:
    """(256, 3) uint8 RGB of a matplotlib colour map."""
    from matplotlib import colormaps  # matplotlib is slow to import: only when drawing

    return (colormaps[name](np.linspace(0, 1, 256))[:, :3] * 255).round().astype(np.uint8)


def colourize(heatmap: np.ndarray, name: str = COLOUR_MAP) -> np.ndarray:
    """(H, W) map ([0, 1] float, or `heat_levels` uint8) -> (H, W, 3) uint8 colours (through a
    palette image: PIL's C lookup is 3x faster than numpy's fancy indexing on a 720p map)."""
    return np.asarray(_paletted(Image.fromarray(heat_levels(heatmap)), name).convert("RGB"))


def heat_levels(heatmap: np.ndarray) -> np.ndarray:
    """A [0, 1] map as 256 levels (uint8, rounded); a uint8 map is taken as already in levels."""
    if heatmap.dtype == np.uint8:
        return heatmap
    return np.clip(np.rint(heatmap * 255), 0, 255).astype(np.uint8)


def _paletted(levels: Image.Image, name: str) -> Image.Image:
    """`levels` (a fresh "L" image) turned in place into a palette image of the colour map."""
    levels.putpalette(_palette(name))
    return levels


@lru_cache(maxsize=4)
def _palette(name: str) -> list[int]:
    return colour_table(name).reshape(-1).tolist()


def hot_level(threshold: float = HOT_THRESHOLD) -> int:
    """The first of `heat_levels`' levels at or above `threshold`: rint(255 x map) >= 128
    exactly where map >= 0.5."""
    return int(threshold * 255 + 0.5)


_HOT_TABLE = [0] * hot_level() + [255] * (256 - hot_level())


def blend(frame: np.ndarray, heatmap: np.ndarray, alpha: float = OPACITY, name: str = COLOUR_MAP) -> np.ndarray:
    """The hot region painted at opacity `alpha` and outlined; every other pixel unchanged.
    `heatmap` is a [0, 1] float map or its `heat_levels` (uint8, what `localize` passes: a
    720p map in levels costs a quarter of its float's memory traffic).

    Only the hot region's bounding box (and a pixel around it, for the outline) is touched, by
    PIL's C routines where they exist: a 1280 x 720 frame is drawn in a few milliseconds."""
    shown = frame.copy()
    levels = heat_levels(heatmap)
    found = Image.fromarray(levels).point(_HOT_TABLE).getbbox()
    if found is None:
        return shown
    left, top = max(found[0] - 1, 0), max(found[1] - 1, 0)
    right, bottom = min(found[2] + 1, levels.shape[1]), min(found[3] + 1, levels.shape[0])
    region_levels, region = levels[top:bottom, left:right], shown[top:bottom, left:right]
    mask = region_levels >= hot_level()
    painted = Image.fromarray(region)  # PIL's C blend and masked paste: no full-size temporaries
    colours = _paletted(Image.fromarray(region_levels), name).convert("RGB")
    painted.paste(Image.blend(painted, colours, alpha), mask=Image.fromarray(mask))
    region[...] = np.asarray(painted)
    inner = _eroded(mask)
    region[mask & ~inner] = PREDICTION_COLOUR
    region[inner & ~_eroded(inner)] = EDGE_SHADE  # the line shows on bright frames too
    return shown


def _eroded(mask: np.ndarray) -> np.ndarray:
    """The pixels of `mask` whose 4 neighbours are all in it (one pixel peeled off the edge)."""
    inner = mask.copy()
    inner[1:] &= mask[:-1]
    inner[:-1] &= mask[1:]
    inner[:, 1:] &= mask[:, :-1]
    inner[:, :-1] &= mask[:, 1:]
    return inner


def hot_box(heatmap: np.ndarray, threshold: float = HOT_THRESHOLD) -> tuple[int, int, int, int] | None:
    """(x1, y1, x2, y2) pixel box of the largest connected (4-neighbour) region at or above
    `threshold`, found on the map (float, or `heat_levels`) resized to at most BOX_GRID a side;
    None when nothing is hot."""
    height, width = heatmap.shape
    scale = min(1.0, BOX_GRID / max(height, width))
    small = Image.fromarray(heat_levels(heatmap))
    if scale < 1.0:
        small = small.resize((max(1, round(width * scale)), max(1, round(height * scale))), Image.BILINEAR)
    small = np.asarray(small)
    region = _largest_region(small >= hot_level(threshold))
    if region is None:
        return None
    rows, cols = region
    fy, fx = height / small.shape[0], width / small.shape[1]
    return (int(cols.min() * fx), int(rows.min() * fy), round((cols.max() + 1) * fx), round((rows.max() + 1) * fy))


def _largest_region(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(rows, cols) of the largest 4-connected region of a small bool map (breadth-first)."""
    seen = np.zeros_like(mask)
    best: list[tuple[int, int]] = []
    for start in zip(*np.nonzero(mask), strict=True):
        if seen[start]:
            continue
        seen[start] = True
        region, queue = [], deque([start])
        while queue:
            y, x = queue.popleft()
            region.append((y, x))
            for ny, nx in ((y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)):
                if 0 <= ny < mask.shape[0] and 0 <= nx < mask.shape[1] and mask[ny, nx] and not seen[ny, nx]:
                    seen[ny, nx] = True
                    queue.append((ny, nx))
        if len(region) > len(best):
            best = region
    if not best:
        return None
    cells = np.array(best)
    return cells[:, 0], cells[:, 1]


def draw_box(frame: np.ndarray, box: Sequence[int], colour=PREDICTION_COLOUR) -> np.ndarray:
    """A box in `colour` lined inside with EDGE_SHADE, so that it shows on any frame."""
    image = Image.fromarray(frame)
    width = max(1, round(min(frame.shape[:2]) / 120))
    draw = ImageDraw.Draw(image)
    x1, y1, x2, y2 = box[0], box[1], box[2] - 1, box[3] - 1
    draw.rectangle((x1 + width, y1 + width, x2 - width, y2 - width), outline=EDGE_SHADE, width=1)
    draw.rectangle((x1, y1, x2, y2), outline=tuple(colour), width=width)
    return np.asarray(image)


def overlay(
    frame: np.ndarray,
    heatmap: np.ndarray | None,
    alpha: float = OPACITY,
    boxes: bool = False,
    ground_truth: Sequence[Sequence[int]] = (),
    confidence: float | None = None,
    layout: Layout = "overlay",
    legend: bool = True,
) -> np.ndarray:
    """The frame as avsl shows it, (H, W, 3) uint8 (or (H, 3W, 3) side by side: frame | map |
    overlay).

    Args:
        heatmap: (H, W) min-max normalised map; None draws no heat (a map below the confidence
            bar), only the ground truth and the legend.
        boxes: also the box of the hot region's largest connected part.
        ground_truth: pixel boxes (x1, y1, x2, y2), drawn in GROUND_TRUTH_COLOUR.
        confidence: the clip's confidence, printed in the corner.
        legend: the colour bar, confidence and legend in the top-right corner (frames of at
            least LEGEND_MIN_SIDE px; smaller ones stay clean).
    """
    shown = frame if heatmap is None else blend(frame, heatmap, alpha)
    if boxes and heatmap is not None and (box := hot_box(heatmap)) is not None:
        shown = draw_box(shown, box, PREDICTION_COLOUR)
    for box in ground_truth:
        shown = draw_box(shown, box, GROUND_TRUTH_COLOUR)
    if legend and min(frame.shape[:2]) >= LEGEND_MIN_SIDE:
        shown = _draw_legend(shown, confidence, bool(ground_truth))
    if layout == "side-by-side":
        heat = colourize(heatmap) if heatmap is not None else np.zeros_like(frame)
        shown = np.concatenate([frame, heat, shown], axis=1)
    return shown


def _draw_legend(frame: np.ndarray, confidence: float | None, with_truth: bool) -> np.ndarray:
    """A colour bar (0 at the bottom, 1 at the top), the confidence and the two colours' names,
    on a dark panel in the top-right corner, sized to the frame."""
    height, width = frame.shape[:2]
    unit = max(9, min(height, width) // 28)  # text and bar scale with the frame
    text = None if confidence is None else f"conf {confidence:.2f}"
    panel = _legend_panel(unit, text, with_truth)  # the same few panels, frame after frame: drawn once
    top, left = unit // 2, width - panel.shape[1] - unit // 2
    if left < 0 or top + panel.shape[0] > height:
        return frame
    shown = frame.copy()
    shown[top : top + panel.shape[0], left : left + panel.shape[1]] = panel
    return shown


@lru_cache(maxsize=512)
def _legend_panel(unit: int, confidence: str | None, with_truth: bool) -> np.ndarray:
    lines = [("prediction", PREDICTION_COLOUR)] + ([("ground truth", GROUND_TRUTH_COLOUR)] if with_truth else [])
    if confidence is not None:
        lines.insert(0, (confidence, (255, 255, 255)))
    font = ImageFont.load_default(size=unit)
    text_width = max(ImageDraw.Draw(Image.new("RGB", (1, 1))).textlength(t, font=font) for t, _ in lines)
    panel_w, panel_h = int(text_width + 2.5 * unit) + 1, int(max(len(lines) * 1.4 * unit, 4 * unit) + unit) + 1
    image = Image.new("RGB", (panel_w, panel_h), (20, 20, 20))
    draw = ImageDraw.Draw(image)
    bar = colour_table()[np.linspace(255, 0, panel_h - 1 - unit).astype(int)]  # (h, 3), hot at the top
    image.paste(Image.fromarray(np.repeat(bar[:, None], unit // 2 + 2, axis=1)), (unit // 2, unit // 2))
    for index, (text, colour) in enumerate(lines):
        draw.text((1.5 * unit, unit // 2 + index * 1.4 * unit), text, fill=colour, font=font)
    panel = np.asarray(image)
    panel.flags.writeable = False  # shared by every frame that shows it
    return panel
