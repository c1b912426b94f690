"""Example clips for a report: a few clips re-predicted (no map is kept for every clip) and drawn
with avsl's overlay, in a grid. A clip that cannot be read, predicted or drawn is a warning
naming it, never a failed evaluation."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from avsl.constants import EVAL_SIZE
from avsl.data.dataset import AVDataset, collate_samples
from avsl.errors import first_line
from avsl.evaluation.report_html import pyplot
from avsl.metrics.protocol import confidence
from avsl.ops.images import denormalize_images
from avsl.ops.maps import minmax_normalize, upsample_maps
from avsl.ops.overlay import Layout, overlay
from avsl.types import BadSample


@dataclass
class ClipView:
    """What a report draws of one clip, at the protocol's 224 x 224."""

    frame: np.ndarray  # (224, 224, 3) uint8
    heatmap: np.ndarray  # (224, 224) min-max normalised
    truth: list[list[int]]  # ground-truth boxes in pixels
    confidence: float


def view_clips(dataset: AVDataset, predictor, device: torch.device | str, ids: Sequence[str]) -> dict[str, ClipView]:
    """The clips `ids` of `dataset` with `predictor`'s maps; those that fail are warned about."""
    position = {clip_id: index for index, clip_id in enumerate(dataset.ids)}
    samples = []
    for clip_id in ids:
        try:
            item = dataset[position[clip_id]]
        except Exception as err:  # a picture never fails a run: any reader error is the clip's
            warnings.warn(f"report: clip {clip_id}: not shown ({first_line(err)})", stacklevel=2)
            continue
        if isinstance(item, BadSample):
            warnings.warn(f"report: clip {clip_id}: not shown ({item.reason})", stacklevel=2)
            continue
        samples.append(item)
    if not samples:
        return {}
    batch = collate_samples(samples).to(device)
    try:
        with torch.inference_mode():
            raw = upsample_maps(predictor(batch).float(), EVAL_SIZE).cpu()
    except Exception as err:
        warnings.warn(f"report: clips {', '.join(batch.ids)}: not shown ({first_line(err)})", stacklevel=2)
        return {}
    maps, scores = minmax_normalize(raw).numpy(), confidence(raw).tolist()
    views = {}
    for index, clip_id in enumerate(batch.ids):
        truth = (batch.boxes[index].cpu().numpy() * EVAL_SIZE).round().astype(int).tolist()
        views[clip_id] = ClipView(_display_frame(batch.image[index].cpu()), maps[index], truth, scores[index])
    return views


def clip_grid(rows: Sequence[Sequence[tuple[str, ClipView | None]]], layout: Layout = "overlay"):
    """A matplotlib figure: one panel per (title, view), row by row; None leaves a panel blank."""
    columns = max(len(row) for row in rows)
    wide = 3 if layout == "side-by-side" else 1
    figure, axes = pyplot().subplots(len(rows), columns, figsize=(3.2 * wide * columns, 3.3 * len(rows)), squeeze=False)
    for axis_row, row in zip(axes, rows, strict=False):
        for axis, (title, view) in zip(axis_row, [*row, *[("", None)] * (columns - len(row))], strict=True):
            axis.axis("off")
            picture = _draw(title, view, layout)
            if picture is not None:
                axis.imshow(picture)
                axis.set_title(title, fontsize=8)
    figure.tight_layout()
    return figure


def _draw(title: str, view: ClipView | None, layout: Layout) -> np.ndarray | None:
    if view is None:
        return None
    try:
        return overlay(view.frame, view.heatmap, ground_truth=view.truth, layout=layout, legend=False)
    except Exception as err:  # a drawing error is the clip's, never the run's
        warnings.warn(f"report: {title.splitlines()[0]}: not drawn ({first_line(err)})", stacklevel=3)
        return None


def _display_frame(image: torch.Tensor) -> np.ndarray:
    """A normalised (3, S, S) model input back to (224, 224, 3) uint8 for display."""
    pixels = (denormalize_images(image) * 255).round()[None]
    pixels = torch.nn.functional.interpolate(pixels, size=(EVAL_SIZE, EVAL_SIZE), mode="bilinear", align_corners=False)
    return pixels[0].clamp(0, 255).permute(1, 2, 0).to(torch.uint8).numpy()
