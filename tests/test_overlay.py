"""Heatmaps over frames (avsl.ops.overlay): the hot region is drawn, the rest left, the box is the hot one."""

from __future__ import annotations

import numpy as np

from avsl.ops.overlay import hot_box, render


def square_map(side: int = 64) -> np.ndarray:
    heatmap = np.zeros((side, side), np.float32)
    heatmap[16:32, 24:48] = 1.0
    return heatmap


def test_the_hot_region_changes_colour_and_the_cold_one_does_not():
    for grey in (0, 128, 255):
        frame = np.full((64, 64, 3), grey, np.uint8)
        shown = render(frame, square_map(), alpha=0.6).astype(float)
        change = np.abs(shown - frame).sum(axis=-1)
        assert change[16:32, 24:48].mean() > 40
        assert change[40:, :].max() == 0


def test_no_heatmap_leaves_the_frame_and_the_box_surrounds_the_hot_region():
    frame = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    assert np.array_equal(render(frame, None), frame)
    assert hot_box(square_map()) == (24, 16, 48, 32)
    assert hot_box(np.zeros((8, 8))) is None
    boxed = render(frame, square_map(), boxes=True)
    assert not np.array_equal(boxed[16, 24:48], render(frame, square_map())[16, 24:48])  # the box's top edge
