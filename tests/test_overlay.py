"""Heatmaps over frames (avsl.ops.overlay): the hot region stands out on any frame and nothing
else changes; the box is the largest hot region's; one colour for the truth, one for the prediction."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import avsl
from avsl.ops.maps import map_levels, minmax_normalize, upsample_maps
from avsl.ops.overlay import GROUND_TRUTH_COLOUR, HOT_THRESHOLD, PREDICTION_COLOUR, hot_box, hot_level, overlay

SIDE = 128


def radial_map(side: int = SIDE, centre=(40, 80), radius: float = 24.0) -> np.ndarray:
    """A smooth map, 1 at `centre` (y, x), falling to 0 at twice `radius`: hot within `radius`."""
    y, x = np.mgrid[:side, :side]
    distance = np.hypot(y - centre[0], x - centre[1])
    return np.clip(1 - distance / (2 * radius), 0, 1).astype(np.float32)


FRAMES = {
    "white": np.full((SIDE, SIDE, 3), 255, np.uint8),
    "black": np.zeros((SIDE, SIDE, 3), np.uint8),
    "mid-grey": np.full((SIDE, SIDE, 3), 128, np.uint8),
    "noise": np.random.default_rng(0).integers(0, 256, (SIDE, SIDE, 3), dtype=np.uint8),
}


@pytest.mark.parametrize("name", list(FRAMES))
def test_the_hot_region_stands_out_on_any_frame_and_nothing_else_changes(name):
    frame, heatmap = FRAMES[name], radial_map()
    shown = overlay(frame, heatmap, legend=False)
    change = np.abs(shown.astype(float) - frame).mean(axis=-1)  # (H, W) mean over the channels
    hot = heatmap >= 0.5
    assert change[hot].mean() > 40, f"{name}: the hot region barely changes ({change[hot].mean():.1f})"
    assert change[~hot].max() == 0, f"{name}: pixels outside the hot region changed"


def test_the_legend_sits_in_the_top_right_corner_and_the_layouts():
    big, corner_map = np.full((256, 256, 3), 128, np.uint8), radial_map(256, centre=(200, 60), radius=20)
    with_legend = overlay(big, corner_map, confidence=0.83)
    changed = np.abs(with_legend.astype(int) - overlay(big, corner_map, legend=False)).sum(-1) > 0
    rows, cols = np.nonzero(changed)
    assert len(rows) and rows.max() < 128 and cols.min() > 128  # the corner only
    frame, heatmap = FRAMES["mid-grey"], radial_map(centre=(100, 30), radius=10)
    small = np.zeros((48, 48, 3), np.uint8)
    assert np.array_equal(overlay(small, None), small)  # small frames and no map: untouched
    panels = overlay(frame, heatmap, layout="side-by-side", legend=False)
    assert panels.shape == (SIDE, 3 * SIDE, 3) and np.array_equal(panels[:, :SIDE], frame)
    assert np.array_equal(avsl.overlay(frame, heatmap, legend=False), panels[:, 2 * SIDE :])


def test_boxes_follow_the_largest_hot_region_and_colours_keep_their_meaning():
    heatmap = np.maximum(radial_map(centre=(40, 40), radius=20), 0.6 * radial_map(centre=(100, 100), radius=6))
    x1, y1, x2, y2 = hot_box(heatmap)
    assert abs(x1 - 20) <= 2 and abs(y1 - 20) <= 2 and abs(x2 - 60) <= 2 and abs(y2 - 60) <= 2
    assert hot_box(np.zeros((8, 8))) is None
    shown = overlay(FRAMES["black"], heatmap, boxes=True, ground_truth=[(90, 90, 110, 110)], legend=False)
    assert tuple(shown[90, 100]) == GROUND_TRUTH_COLOUR  # the truth's top edge
    assert tuple(shown[y1, (x1 + x2) // 2]) == PREDICTION_COLOUR  # the prediction's box


@pytest.mark.parametrize("size", [(720, 1280), (360, 640), (20, 30)])
def test_map_levels_are_the_protocols_map_in_256_levels(size):
    """What localize draws (built small, enlarged in 8 bits) against the protocol's full-size
    float map: the same map within a few levels, and the same hot region but for a rim pixel."""
    logits = torch.randn(3, 7, 7, generator=torch.Generator().manual_seed(0)) * 4
    exact = minmax_normalize(upsample_maps(logits, size)).numpy()
    levels = map_levels(logits, size).numpy()
    assert levels.dtype == np.uint8 and levels.shape == (3, *size)
    difference = np.abs(levels.astype(int) - np.rint(exact * 255))
    assert difference.max() <= 6 and difference.mean() < 1
    assert levels.max() == 255 and levels.min() == 0
    assert np.mean((levels >= hot_level()) != (exact >= HOT_THRESHOLD)) < 0.01
