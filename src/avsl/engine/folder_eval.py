"""A predictor scored on a dataset folder: the clips, boxes and rule chosen, the protocol run,
and metrics.json's content. `avsl eval` and `avsl.evaluate` both call this."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from avsl.constants import AUDIO_SECONDS, EVAL_SIZE, MAX_FRAME_PIXELS, SAMPLE_RATE
from avsl.data.benchmarks import choose_test_set
from avsl.data.dataset import AVDataset, collate_samples
from avsl.data.layout import read_layout_defaults
from avsl.engine.evaluate import EvalResult, evaluate
from avsl.errors import AvslError

MEDIAN_RULE = "pixels >= the map's value at sorted position S*S//2 (EZ-VSL)"


@dataclass(frozen=True)
class FolderEval:
    """What to score and how (the options of `avsl eval`; None: the folder's or model's own)."""

    split: str | None = None
    benchmark: str | None = None
    annotations: Path | None = None
    format: str = "auto"
    gt_rule: str | None = None
    bad_boxes: str = "skip"
    threshold: str = "median"
    strict: bool = False
    batch_size: int = 32
    workers: int = 2
    image_size: int | None = None
    audio_seconds: float | None = None
    max_pixels: int = MAX_FRAME_PIXELS
    keep_maps: bool = False


@dataclass
class FolderOutcome:
    """metrics.json's content, the per-clip result, and the dataset they came from."""

    metrics: dict
    result: EvalResult
    dataset: AVDataset


def evaluate_folder(predictor, data: Path, options: FolderEval, device: torch.device) -> FolderOutcome:
    """Score `predictor` on the folder; AvslError when nothing can be scored."""
    if not data.is_dir():
        raise AvslError(f"{data}: data directory not found")
    layout = read_layout_defaults(data)
    test_set = choose_test_set(data, options.benchmark, options.split, options.annotations, options.format)
    dataset = AVDataset(
        data,
        options.image_size or getattr(predictor, "image_size", None) or layout.get("image_size", EVAL_SIZE),
        getattr(predictor, "sample_rate", None) or layout.get("sample_rate", SAMPLE_RATE),
        options.audio_seconds
        or getattr(predictor, "audio_seconds", None)
        or layout.get("audio_seconds", AUDIO_SECONDS),
        split=test_set.lists or None,
        box_policy=options.bad_boxes,
        max_pixels=options.max_pixels,
        format=options.format,
        annotation_file=test_set.annotation_file,
    )
    gt_rule = options.gt_rule or test_set.gt_rule or dataset.layout.gt_rule
    _check_entries(dataset, options.strict)
    if not dataset.labeled_ids:
        raise AvslError(f"{data}: no listed clip has boxes ({dataset.layout.annotation_source}); nothing to score")
    loader = DataLoader(dataset, batch_size=options.batch_size, num_workers=options.workers, collate_fn=collate_samples)
    result = evaluate(
        predictor, loader, rule=gt_rule, keep_maps=options.keep_maps, strict=options.strict, device=device
    )
    result.skipped[:0] = dataset.rejected
    if not result.scored:
        first = result.skipped[0].reason if result.skipped else "none was annotated"
        raise AvslError(f"{data}: no clip could be scored ({len(result.skipped)} skipped; first: {first})")
    if result.unannotated:
        listed = "listed " if test_set.lists else ""
        warnings.warn(
            f"{len(result.unannotated)} {listed}clip(s) have no annotation ({dataset.layout.annotation_source}) and "
            f"were not scored: {', '.join(result.unannotated[:5])}{', ...' if len(result.unannotated) > 5 else ''} "
            "(all in metrics.json 'unannotated')",
            stacklevel=2,
        )
    metrics = result.metrics(options.threshold)
    metrics.update(
        data=str(data),
        format=dataset.layout.format,
        test_list=test_set.describe(len(dataset.listed.ids)),
        annotations=str(dataset.layout.annotation_source),
        predictor=predictor.name,
        gt_rule=gt_rule,
        bad_boxes=options.bad_boxes,
        clipped_boxes=dataset.annotations.clipped,
        duplicate_ids=dataset.duplicates,
        median_rule=MEDIAN_RULE,
    )
    return FolderOutcome(metrics, result, dataset)


def _check_entries(dataset: AVDataset, strict: bool) -> None:
    """Bad list or annotation entries: --strict stops at the first; duplicates are warned about
    (each clip is scored once, from its first entry)."""
    if strict and dataset.rejected:
        raise AvslError(f"{dataset.rejected[0].reason} (--strict stops at bad entries)")
    if strict and dataset.annotations.problems:
        clip_id, problem = next(iter(dataset.annotations.problems.items()))
        raise AvslError(
            f"{dataset.layout.annotation_source}: clip {clip_id}: {problem} (--strict stops at bad entries)"
        )
    if dataset.duplicates:
        warnings.warn(
            f"{len(dataset.duplicates)} clip id(s) listed more than once, scored once "
            f"(first: {dataset.duplicates[0]}; all in metrics.json 'duplicate_ids')",
            stacklevel=2,
        )
