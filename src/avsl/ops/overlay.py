"""Heatmaps drawn over frames: a perceptual colour map blended in, and the box of the hot region."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw

COLOUR_MAP = "inferno"  # perceptually uniform, and readable in greyscale print
BOX_THRESHOLD = 0.5  # of the min-max normalised map: the fixed threshold of the protocol (SSPL)


@lru_cache(maxsize=4)
def colour_table(name: str = COLOUR_MAP) -> np.ndarray:
    """(256, 3) uint8 RGB of a matplotlib colour map."""
    from matplotlib import colormaps  # matplotlib is slow to import: only when drawing

    return (colormaps[name](np.linspace(0, 1, 256))[:, :3] * 255).round().astype(np.uint8)


def blend(frame: np.ndarray, heatmap: np.ndarray, alpha: float = 0.5, name: str = COLOUR_MAP) -> np.ndarray:
    """(H, W, 3) uint8 frame with the (H, W) [0, 1] heatmap's colours over it at opacity `alpha`,
    weighted by the squared heat: the hot region stands out and lukewarm ones keep the picture."""
    colours = colour_table(name)[np.clip((heatmap * 255).round(), 0, 255).astype(np.uint8)]
    weight = (alpha * np.square(heatmap))[..., None]
    return (frame * (1 - weight) + colours * weight).round().astype(np.uint8)


def hot_box(heatmap: np.ndarray, threshold: float = BOX_THRESHOLD) -> tuple[int, int, int, int] | None:
    """(x1, y1, x2, y2) pixel box around the map's pixels at or above `threshold`, or None."""
    rows = np.flatnonzero((heatmap >= threshold).any(axis=1))
    cols = np.flatnonzero((heatmap >= threshold).any(axis=0))
    if not len(rows):
        return None
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def draw_box(frame: np.ndarray, box: tuple[int, int, int, int], colour=(0, 255, 0)) -> np.ndarray:
    image = Image.fromarray(frame)
    width = max(1, round(min(frame.shape[:2]) / 120))
    ImageDraw.Draw(image).rectangle((box[0], box[1], box[2] - 1, box[3] - 1), outline=colour, width=width)
    return np.asarray(image)


def render(
    frame: np.ndarray, heatmap: np.ndarray | None, alpha: float = 0.5, boxes: bool = False, name: str = COLOUR_MAP
) -> np.ndarray:
    """The frame as `avsl localize` shows it: the heatmap blended in (none when the model is not
    confident), and its box when asked."""
    if heatmap is None:
        return frame
    shown = blend(frame, heatmap, alpha, name)
    box = hot_box(heatmap) if boxes else None
    return draw_box(shown, box) if box is not None else shown
