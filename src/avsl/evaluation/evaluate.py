"""Evaluation over a dataset: predict, upsample, score per clip, summarise, report skips."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from avsl.constants import EVAL_SIZE
from avsl.errors import AvslError
from avsl.metrics.protocol import (
    GtRule,
    Threshold,
    area_above,
    average_precision,
    box_maps,
    confidence,
    map_quantiles,
    max_f1,
    mean_box_area,
    score_maps,
    summarize,
)
from avsl.ops.maps import minmax_normalize, upsample_maps
from avsl.progress import progress as progress_display
from avsl.types import AVBatch, BadSample


@dataclass
class EvalResult:
    """Per-clip results of an evaluation run, and what it had to skip."""

    ids: list[str] = field(default_factory=list)
    cious: dict[str, list[Tensor]] = field(default_factory=lambda: {"median": [], "fixed": [], "adaptive": []})
    cap_cious: dict[str, list[Tensor]] = field(default_factory=lambda: {"median": [], "fixed": [], "adaptive": []})
    areas: list[Tensor] = field(default_factory=list)
    confidences: list[Tensor] = field(default_factory=list)
    confidence_ids: list[str] = field(default_factory=list)  # the clips of `confidences`, in order
    sounding: list[Tensor] = field(default_factory=list)
    silent_quantiles: list[Tensor] = field(default_factory=list)  # raw maps of silent clips, as quantiles
    maps: list[np.ndarray] = field(default_factory=list)
    native_maps: list[np.ndarray] = field(default_factory=list)  # the predictor's own resolution, raw
    map_ids: list[str] = field(default_factory=list)
    skipped: list[BadSample] = field(default_factory=list)
    unannotated: list[str] = field(default_factory=list)

    @property
    def scored(self) -> int:
        """Clips read and scored: sounding ones by cIoU, negatives by confidence."""
        return sum(len(s) for s in self.sounding)

    def metrics(self, threshold: Threshold) -> dict:
        """metrics.json content: the chosen threshold's numbers on top, both rules below."""
        areas = torch.cat(self.areas) if self.areas else torch.zeros(0)
        by_threshold = {rule: summarize(torch.cat(c) if c else torch.zeros(0), areas) for rule, c in self.cious.items()}
        result = dict(by_threshold[threshold])
        result["threshold"] = threshold
        # the newer works' adaptive threshold beside the papers' rule: unlike the median rule, the
        # object's size does not cap it (README, "the protocol")
        result["ap50_adaptive"] = by_threshold["adaptive"]["ap50"]
        result["ciou_adaptive"] = by_threshold["adaptive"]["ciou_mean"]
        result["by_threshold"] = by_threshold
        # each rule's cap on this test list: the score of the ground-truth boxes' own map
        result["cap"] = {rule: _cap(c) for rule, c in self.cap_cious.items()}
        result["false_positive"] = self._false_positive()
        result["skipped"] = {
            "count": len(self.skipped),
            "items": [{"id": s.id, "reason": s.reason} for s in self.skipped],
        }
        result["unannotated"] = {"count": len(self.unannotated), "ids": self.unannotated}
        return result

    def silent_clips(self) -> list[tuple[str, float]]:
        """The silent (or off-screen) clips with their confidence, the most confident first."""
        if not self.confidences:
            return []
        scores = torch.cat(self.confidences).tolist()
        sounding = torch.cat(self.sounding).tolist()
        silent = [(i, s) for i, s, loud in zip(self.confidence_ids, scores, sounding, strict=True) if not loud]
        return sorted(silent, key=lambda item: -item[1])

    def per_clip_csv(self) -> str:
        """One line per scored clip: id, cIoU under the median and fixed thresholds, mean box area
        (224 px), then cIoU under the adaptive one (last, so older readers' columns stay put)."""
        areas = torch.cat(self.areas).tolist() if self.areas else []
        columns = {k: torch.cat(v).tolist() if v else [] for k, v in self.cious.items()}
        lines = ["id,ciou_median,ciou_fixed,box_area,ciou_adaptive"]
        rows = zip(self.ids, columns["median"], columns["fixed"], areas, columns["adaptive"], strict=True)
        for clip_id, m, f, area, a in rows:
            lines.append(f"{clip_id},{m:.6f},{f:.6f},{area:.1f},{a:.6f}")
        return "\n".join(lines) + "\n"

    def _false_positive(self) -> dict | None:
        """Ranking sounding clips above silent/off-screen ones by map confidence (SLAVC)."""
        if not self.confidences:
            return None
        scores = torch.cat(self.confidences)
        sounding = torch.cat(self.sounding)
        negatives = int((~sounding).sum())
        if negatives == 0:
            return None
        f1, threshold = max_f1(scores, sounding)
        highlighted = area_above(torch.cat(self.silent_quantiles), threshold) if math.isfinite(threshold) else None
        return {
            "n_sounding": int(sounding.sum()),
            "n_silent": negatives,
            "ap": average_precision(scores, sounding),
            "max_f1": f1,
            "max_f1_threshold": threshold,
            # pIA: the share of a silent clip's image over the one threshold that best separates
            # sounding from silent clips (max-F1's), averaged (lower is better)
            "pia": float(highlighted.mean()) if highlighted is not None else None,
            "confidence_sounding": float(scores[sounding].mean()) if sounding.any() else None,
            "confidence_silent": float(scores[~sounding].mean()),
        }


def _cap(cious: list[Tensor]) -> dict:
    joined = torch.cat(cious).double() if cious else torch.zeros(0, dtype=torch.float64)
    if not len(joined):
        return {"ap50": None, "ciou_mean": None}
    return {"ap50": float((joined >= 0.5).double().mean()), "ciou_mean": float(joined.mean())}


def evaluate(
    predict: Callable[[AVBatch], Tensor],
    batches: Iterable[AVBatch],
    rule: GtRule = "union",
    keep_maps: bool = False,
    strict: bool = False,
    device: torch.device | str = "cpu",
    progress: bool | None = None,
) -> EvalResult:
    """Score every clip of `batches` with both thresholds.

    Args:
        predict: batch -> raw maps (B, h, w); upsampled here to 224 x 224.
        batches: collated AVBatches (bad clips already moved to `skipped`).
        rule: gt map rule ("union" for VGG-SS-style boxes, "consensus" for Flickr).
        keep_maps: also keep the min-max normalised 224 x 224 maps (float32), and the raw maps
            at the predictor's own resolution (scoring those again gives the same numbers).
        strict: raise on the first bad clip instead of skipping it.
        progress: None: a bar on a terminal, plain lines in a log (avsl.progress); False: none.
    """
    result = EvalResult()
    total = len(batches) if hasattr(batches, "__len__") else None
    with progress_display(total, "eval", "batch", progress) as bar:
        for batch in batches:
            if batch.skipped and strict:
                first = batch.skipped[0]
                raise AvslError(f"{first.reason} (clip {first.id}; --strict stops at bad clips)")
            result.skipped.extend(batch.skipped)
            if len(batch):
                batch = batch.to(device)
                with torch.inference_mode():
                    native = predict(batch).float()  # (B, h, w)
                    raw = upsample_maps(native, EVAL_SIZE)  # (B, 224, 224)
                _score_batch(result, batch, raw.cpu(), rule, keep_maps)
                if keep_maps:
                    result.native_maps.append(native.cpu().numpy())
            bar.update(1)
    return result


def _score_batch(result: EvalResult, batch: AVBatch, raw: Tensor, rule: GtRule, keep_maps: bool) -> None:
    sounding = batch.sounding.cpu()
    known = batch.has_box.cpu()
    result.unannotated.extend(i for i, k in zip(batch.ids, known.tolist(), strict=True) if not k)
    result.confidences.append(confidence(raw[known]))
    result.confidence_ids.extend(i for i, k in zip(batch.ids, known.tolist(), strict=True) if k)
    result.sounding.append(sounding[known])
    silent = known & ~sounding
    if silent.any():
        result.silent_quantiles.append(map_quantiles(raw[silent]))
    chosen = sounding.nonzero().flatten().tolist()
    if chosen:
        boxes = [batch.boxes[i].cpu() for i in chosen]
        maps = raw[chosen]
        result.ids.extend(batch.ids[i] for i in chosen)
        result.areas.append(mean_box_area(boxes))
        caps = box_maps(boxes)
        for threshold in ("median", "fixed", "adaptive"):
            result.cious[threshold].append(score_maps(maps, boxes, threshold, rule))
            result.cap_cious[threshold].append(score_maps(caps, boxes, threshold, rule))
    if keep_maps:
        result.maps.append(minmax_normalize(raw).numpy().astype(np.float32))
        result.map_ids.extend(batch.ids)
