"""Ground-truth maps, binarisation, cIoU, AP50, AUC, by-size cIoU and false-positive scores.

Every function takes a batch of maps as one tensor: scoring is a handful of tensor ops per
batch, never a Python loop over pixels or clips.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from torch import Tensor

from avsl.constants import AUC_THRESHOLDS, EVAL_SIZE, SIZE_BUCKETS
from avsl.ops.boxes import coverage_masks, protocol_pixel_boxes
from avsl.ops.maps import minmax_normalize

GtRule = Literal["union", "consensus"]
Threshold = Literal["median", "fixed", "adaptive"]
# SSPL binarises the min-max normalised map at 0.5.
FIXED_THRESHOLD = 0.5
# Maps are scored this many at a time, so intermediates stay in cache: 2-3x faster than
# whole-batch tensors on the 2-core machine (measured by `avsl bench --suite metrics`).
_CHUNK = 16


def gt_maps(boxes: list[Tensor], size: int = EVAL_SIZE, rule: GtRule = "union") -> Tensor:
    """Ground-truth maps from normalised boxes, as the peers build them (EZ-VSL bbox2gtmap).

    `union` (VGG-SS): 1 inside any box. `consensus` (Flickr-SoundNet, one box per annotator):
    the box masks summed, halved and clipped to 1, so one annotator's box alone counts 0.5.

    Args:
        boxes: N tensors (K_i, 4), normalised xyxy.

    Returns:
        (N, size, size) float.
    """
    n = len(boxes)
    device = boxes[0].device if n else torch.device("cpu")
    counts = torch.tensor([len(b) for b in boxes], device=device)
    if int(counts.sum()) == 0:
        return torch.zeros(n, size, size, device=device)
    pixels = protocol_pixel_boxes(torch.cat([b.reshape(-1, 4) for b in boxes]), size)  # (M, 4)
    grid = torch.arange(size, device=device)
    inside_x = ((grid >= pixels[:, 0:1]) & (grid < pixels[:, 2:3])).float()  # (M, size)
    inside_y = ((grid >= pixels[:, 1:2]) & (grid < pixels[:, 3:4])).float()  # (M, size)
    per_box = inside_y[:, :, None] * inside_x[:, None, :]  # (M, size, size)
    if rule == "union" and bool((counts == 1).all()):
        return per_box  # one box per clip: the union is the box itself
    total = torch.zeros(n, size, size, device=device)
    total.index_add_(0, torch.repeat_interleave(torch.arange(n, device=device), counts), per_box)
    if rule == "union":
        return (total > 0).float()
    return (total / 2).clamp(max=1)


def box_maps(boxes: list[Tensor], size: int = EVAL_SIZE) -> Tensor:
    """Each clip's own boxes as its map: the best map a rule can score, so each score's cap.

    1 inside a box; outside, a value that falls with the distance to the nearest box and stays
    below the fixed threshold, so what the median rule turns on beyond a box is its nearest
    pixels. A clip without a box gets a constant map.

    Args:
        boxes: N tensors (K_i, 4), normalised xyxy.

    Returns:
        (N, size, size) float.
    """
    device = boxes[0].device if boxes else torch.device("cpu")
    centres = (torch.arange(size, device=device, dtype=torch.float32) + 0.5) / size
    maps = torch.zeros(len(boxes), size, size, device=device)
    for index, clip_boxes in enumerate(boxes):
        if len(clip_boxes) == 0:
            continue
        clip_boxes = clip_boxes.float()
        dx = (clip_boxes[:, :1] - centres).clamp(min=0) + (centres - clip_boxes[:, 2:3]).clamp(min=0)  # (K, S)
        dy = (clip_boxes[:, 1:2] - centres).clamp(min=0) + (centres - clip_boxes[:, 3:4]).clamp(min=0)
        distance = (dx[:, None, :] ** 2 + dy[:, :, None] ** 2).sqrt().amin(0)  # (S, S) to the nearest box
        inside = coverage_masks([clip_boxes], size, size)[0] >= 0.5
        maps[index] = torch.where(inside, 1.0, 0.45 * (1 - distance / 2**0.5))
    return maps


def binarize(maps: Tensor, threshold: Threshold = "median", top_k: Tensor | None = None) -> Tensor:
    """(N, S, S) min-max normalised maps -> bool maps of the pixels that are "on".

    `median`: each map's own value at sorted position S*S // 2 and every pixel >= it, EZ-VSL's
    rule (`np.sort(x)[int(S * S * 0.5)]`, then `infer >= thres`); on continuous maps this is
    the top half of the pixels, and a map with more than half its pixels tied at its minimum
    turns wholly on. `fixed`: >= 0.5 on the normalised map (SSPL). `adaptive`: each map's
    `top_k` highest pixels (ties included), k = its ground truth's area, the threshold of the
    field's newer work (Senocak et al., "Sound source localization is all about cross-modal
    alignment", ICCV 2023), which the size of the object cannot cap as it caps the median rule.
    """
    flat = maps.flatten(1)  # (N, S*S)
    if threshold == "median":
        cut = _sorted_value(flat, flat.shape[1] // 2)  # (N, 1)
    elif threshold == "adaptive":
        if top_k is None:
            raise ValueError("the adaptive threshold needs each map's top_k (its gt area in pixels)")
        cut = _kth_largest(flat, top_k.clamp(min=1, max=flat.shape[1]).long())  # (N, 1)
    else:
        cut = torch.full_like(flat[:, :1], FIXED_THRESHOLD)
    return (flat >= cut).view_as(maps)


def _sorted_value(flat: Tensor, position: int) -> Tensor:
    """(N, L) -> (N, 1): each row's value at `position` of its ascending sort.

    On the CPU numpy's introselect is about 8x faster than torch.kthvalue here.
    """
    if flat.device.type == "cpu":
        part = np.partition(flat.detach().float().numpy(), position, axis=1)
        return torch.from_numpy(part[:, position : position + 1].copy())
    return flat.kthvalue(position + 1, dim=1, keepdim=True).values


def _kth_largest(flat: Tensor, k: Tensor) -> Tensor:
    """(N, L), (N,) -> (N, 1): each row's k-th largest value (a selection per row on the CPU:
    4x faster than sorting every map)."""
    if flat.device.type == "cpu":
        rows = flat.detach().float().numpy()
        length = rows.shape[1]
        picked = [
            np.partition(row, length - int(kk))[length - int(kk)] for row, kk in zip(rows, k.tolist(), strict=True)
        ]
        return torch.tensor(picked, dtype=flat.dtype)[:, None]
    return flat.sort(dim=1, descending=True).values.gather(1, (k - 1)[:, None])


def ciou(pred: Tensor, gt: Tensor) -> Tensor:
    """Per-clip cIoU = sum(P * G) / (sum(G) + sum(P * (G == 0))) for binary P and gt map G.

    A clip with an empty gt map and an empty prediction scores 0. Returns (N,) float.
    """
    pred = pred.float().flatten(1)
    gt = gt.float().flatten(1)
    inter = (pred * gt).sum(1)
    false_positive = pred.sum(1) - (pred * (gt > 0)).sum(1)  # sum(P * (G == 0)) for binary P
    denom = gt.sum(1) + false_positive
    return torch.where(denom > 0, inter / denom.clamp(min=1e-12), torch.zeros_like(inter))


def score_maps(maps: Tensor, boxes: list[Tensor], threshold: Threshold = "median", rule: GtRule = "union") -> Tensor:
    """Per-clip cIoU of (N, S, S) maps at the evaluation size against their boxes.

    Every rule thresholds the min-max normalised map, as the public code does (EZ-VSL's
    test.py normalises, then binarises). In exact arithmetic the median rule would not care, but
    in float32 the normalisation rounds distinct values near the median onto one, and a tie at
    the cut turns on every tied pixel: skipping it changed per-clip cIoU by up to 0.006.
    """
    scores = []
    for start in range(0, len(maps), _CHUNK):
        chunk = minmax_normalize(maps[start : start + _CHUNK])
        gt = gt_maps(boxes[start : start + _CHUNK], maps.shape[-1], rule)
        top_k = (gt > 0).flatten(1).sum(1) if threshold == "adaptive" else None
        scores.append(ciou(binarize(chunk, threshold, top_k), gt))
    return torch.cat(scores) if scores else torch.zeros(0)


def mean_box_area(boxes: list[Tensor], size: int = EVAL_SIZE) -> Tensor:
    """(N,) mean box area in size x size pixels per clip (0 for a clip without boxes)."""
    areas = []
    for b in boxes:
        clipped = b.reshape(-1, 4).clamp(0, 1) * size
        side = (clipped[:, 2:] - clipped[:, :2]).clamp(min=0)
        areas.append((side[:, 0] * side[:, 1]).mean() if len(b) else torch.tensor(0.0))
    return torch.stack(areas).cpu() if areas else torch.zeros(0)


def size_bucket_index(area: Tensor) -> Tensor:
    """(N,) long index into SIZE_BUCKETS (small, medium, large, huge) for mean box areas."""
    bounds = torch.tensor([upper for _, upper in SIZE_BUCKETS[:-1]], dtype=area.dtype)
    return torch.bucketize(area, bounds, right=True)


def auc(cious: Tensor) -> float:
    """Area under the success curve over t = 0, 0.05, ..., 1 by the trapezoid rule."""
    thresholds = torch.tensor(AUC_THRESHOLDS, dtype=torch.float64)
    success = (cious.double()[None, :] >= thresholds[:, None]).double().mean(1)  # (21,)
    return float(torch.trapezoid(success, thresholds))


def confidence(raw_maps: Tensor) -> Tensor:
    """Per-clip confidence that a sounding object is visible: the max of the raw map (SLAVC)."""
    return raw_maps.flatten(1).amax(1)


def average_precision(scores: Tensor, positive: Tensor) -> float:
    """AP of ranking `positive` clips above the others by `scores`: the sum over distinct
    score thresholds of precision times the recall gained there (tied clips count together,
    so a constant score gives the positive rate, as scikit-learn's average_precision_score)."""
    order = torch.argsort(scores, descending=True, stable=True)
    ranked = scores[order]
    hits = positive[order].double()
    if hits.sum() == 0:
        return float("nan")
    last_of_tie = torch.ones_like(ranked, dtype=torch.bool)
    last_of_tie[:-1] = ranked[1:] != ranked[:-1]
    true_pos = hits.cumsum(0)[last_of_tie]
    seen = (torch.arange(1, len(hits) + 1, dtype=torch.float64))[last_of_tie]
    recall = true_pos / hits.sum()
    gained = torch.diff(recall, prepend=torch.zeros(1, dtype=torch.float64))
    return float((gained * true_pos / seen).sum())


def max_f1(scores: Tensor, positive: Tensor) -> tuple[float, float]:
    """The best F1 of calling clips positive when their score reaches a threshold, over every
    distinct score, and that threshold (ties decided together, as in `average_precision`)."""
    order = torch.argsort(scores, descending=True, stable=True)
    ranked = scores[order]
    hits = positive[order].double()
    if hits.sum() == 0:
        return float("nan"), float("nan")
    last_of_tie = torch.ones_like(ranked, dtype=torch.bool)
    last_of_tie[:-1] = ranked[1:] != ranked[:-1]
    true_pos = hits.cumsum(0)[last_of_tie]
    called = torch.arange(1, len(hits) + 1, dtype=torch.float64)[last_of_tie]
    f1 = 2 * true_pos / (called + hits.sum())
    best = int(f1.argmax())
    return float(f1[best]), float(ranked[last_of_tie][best])


# Quantiles kept per silent clip: the fraction of its map over any threshold, to 1/1024.
AREA_QUANTILES = 1025


def map_quantiles(raw_maps: Tensor) -> Tensor:
    """(N, S, S) -> (N, AREA_QUANTILES): each map's sorted values at evenly spaced ranks, enough to
    tell later which fraction of it lies above a threshold chosen at the end."""
    ordered = raw_maps.flatten(1).float().sort(dim=1).values
    positions = torch.linspace(0, ordered.shape[1] - 1, AREA_QUANTILES).round().long()
    return ordered[:, positions]


def area_above(quantiles: Tensor, threshold: float) -> Tensor:
    """(N,) fraction of each map at or above `threshold`, from its `map_quantiles`."""
    return (quantiles >= threshold).double().mean(1)


def summarize(cious: Tensor, areas: Tensor) -> dict:
    """The protocol's numbers from per-clip cIoU and mean box areas (both (N,))."""
    cious = cious.double()
    result: dict = {
        "n": int(len(cious)),
        "ap50": float((cious >= 0.5).double().mean()) if len(cious) else float("nan"),
        "ciou_mean": float(cious.mean()) if len(cious) else float("nan"),
        "auc": auc(cious) if len(cious) else float("nan"),
    }
    buckets = size_bucket_index(areas.double())
    by_size = {}
    for index, (name, _) in enumerate(SIZE_BUCKETS):
        chosen = cious[buckets == index]
        by_size[name] = {
            "n": int(len(chosen)),
            "ap50": float((chosen >= 0.5).double().mean()) if len(chosen) else None,
            "ciou_mean": float(chosen.mean()) if len(chosen) else None,
        }
    result["ciou_by_size"] = by_size
    return result
